"""The anomaly scores and repairs of lesson 10, against hand computations and closed forms."""
import math
import zlib

import pytest
import torch

import vae_lessons as V
from vae_lessons.anomaly import (check_binary, compressed_nats, flip_pixels, input_complexity, negative_elbo,
                                 negative_iwae, reconstruction_error, typicality_auroc, typicality_scores)
from vae_lessons.objectives import elbo, iwae_bound


@pytest.fixture(scope="module")
def model_and_images():
    torch.manual_seed(0)
    model = V.VAE((784, 32, 3))
    x = (torch.rand(50, 784, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    return model, x


def test_negative_elbo_is_minus_the_elbo_in_batches(model_and_images):
    model, x = model_and_images
    torch.manual_seed(5)
    reference = -elbo(model, x).detach()
    torch.manual_seed(5)
    assert torch.allclose(negative_elbo(model, x, batch_size=1000), reference)
    # smaller batches: still one score per image
    assert negative_elbo(model, x, batch_size=7).shape == (50,)


def test_negative_iwae_matches_iwae_bound_and_is_tighter_on_average(model_and_images):
    model, x = model_and_images
    g = torch.Generator().manual_seed(3)
    reference = -iwae_bound(model, x, 20, generator=g)
    g = torch.Generator().manual_seed(3)
    assert torch.allclose(negative_iwae(model, x, 20, batch_size=50, generator=g), reference)
    torch.manual_seed(0)
    assert negative_iwae(model, x, 200).mean() <= negative_elbo(model, x).mean()


def test_reconstruction_error_by_hand(model_and_images):
    model, x = model_and_images
    with torch.no_grad():
        h = model.encoder(x)
        mu = h[:, :3]
        p = torch.sigmoid(model.decoder(mu))
    expected = ((x - p) ** 2).sum(1)
    assert torch.allclose(reconstruction_error(model, x, batch_size=8), expected, atol=1e-5)


def test_compressed_nats_is_zlib_bytes_times_8_ln2():
    x = torch.zeros(3, 28, 28)
    x[1, 10:18, 14] = 1                      # a short vertical stroke
    x[2] = (torch.rand(28, 28, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    lengths = compressed_nats(x)
    for image, length in zip(x, lengths):
        expected = len(zlib.compress(bytes(image.to(torch.uint8).flatten().tolist()), 9)) * 8 * math.log(2)
        assert length.item() == pytest.approx(expected)
    assert lengths[0] < lengths[1] < lengths[2]   # blank < one stroke < noise


def test_input_complexity_subtracts_the_code_length():
    x = (torch.rand(4, 784, generator=torch.Generator().manual_seed(2)) < 0.2).float()
    nll = torch.tensor([100.0, 200.0, 300.0, 400.0])
    assert torch.allclose(input_complexity(nll, x), nll.double() - compressed_nats(x))
    with pytest.raises(ValueError, match="one score per image"):
        input_complexity(nll[:3], x)


def test_flip_pixels_rate_and_edge_cases():
    x = (torch.rand(200, 784, generator=torch.Generator().manual_seed(4)) < 0.3).float()
    assert torch.equal(flip_pixels(x, 0.0), x)
    assert torch.equal(flip_pixels(x, 1.0), 1 - x)
    flipped = flip_pixels(x, 0.2, generator=torch.Generator().manual_seed(0))
    rate = (flipped != x).double().mean().item()
    n = x.numel()
    assert abs(rate - 0.2) < 4 * math.sqrt(0.2 * 0.8 / n)   # binomial standard error
    assert ((flipped == 0) | (flipped == 1)).all()


def test_typicality_scores_by_hand():
    nll = torch.tensor([1.0, 2.0, 3.0, 10.0])
    g = torch.Generator().manual_seed(0)
    scores = typicality_scores(nll, 2.0, 3, 5, generator=g)
    idx = torch.randint(4, (5, 3), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(scores, (nll[idx].mean(1) - 2.0).abs())
    assert (scores >= 0).all()


@pytest.mark.parametrize("call, match", [
    (lambda: check_binary(torch.full((2, 784), 0.5)), "binary"),
    (lambda: compressed_nats(torch.full((2, 784), 0.5)), "binarize first"),
    (lambda: flip_pixels(torch.zeros(2, 784), 1.5), "rate"),
    (lambda: typicality_scores(torch.zeros(0), 0.0, 2, 3), "non-empty"),
    (lambda: typicality_scores(torch.zeros(5), 0.0, 0, 3), "batch_size"),
])
def test_bad_input_gets_a_clear_error(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_negative_elbo_with_samples_is_the_mean_of_single_draws(model_and_images):
    model, x = model_and_images
    torch.manual_seed(9)
    singles = torch.stack([-elbo(model, x).detach() for _ in range(4)])
    torch.manual_seed(9)
    assert torch.allclose(negative_elbo(model, x, samples=4), singles.mean(0), atol=1e-4)
    with pytest.raises(ValueError, match="samples"):
        negative_elbo(model, x, samples=0)


def test_typicality_auroc_separates_shifted_sets_and_its_se_shrinks_with_more_images():
    g = torch.Generator().manual_seed(0)
    heldout, normal = torch.randn(500, generator=g), torch.randn(500, generator=g)
    anomalous = torch.randn(500, generator=g) - 1.0          # too likely: below the entropy
    value, se = typicality_auroc(heldout, normal, anomalous, 25, n_batches=300, n_boot=20,
                                 generator=torch.Generator().manual_seed(1))
    # batch means of M = 25 have sd 0.2: normal ones sit within about 0.4 of the entropy (~0),
    # anomalous ones near -1, so |mean - entropy| separates them almost always
    assert 0.95 < value <= 1.0 and 0 <= se < 0.05
    same, _ = typicality_auroc(heldout, normal, normal.flip(0), 10, n_batches=300, n_boot=5,
                               generator=torch.Generator().manual_seed(2))
    assert abs(same - 0.5) < 0.1                             # the same source: about chance
