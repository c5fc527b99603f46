"""Active units and KL per dimension against answers known in advance: an encoder whose means
read chosen pixels (their variance over the data is the pixels' Bernoulli variance p(1 - p)),
NumPy's variance, and torch.distributions' KL."""
import numpy as np
import pytest
import torch
from torch.distributions import Normal, kl_divergence

from vae_lessons.data import binarize_static, load_mnist
from vae_lessons.diagnostics import active_units, kl_per_dimension
from vae_lessons.distributions import gaussian_kl
from vae_lessons.models import VAE, ConditionalVAE


@pytest.fixture(scope="module")
def images():
    """The bundled test images, binarized once: 2,000 x 784."""
    x, _ = load_mnist("test")
    return binarize_static(x.reshape(len(x), -1), seed=0)


def pixel_reader(readers, latent_dim, constant=0.7):
    """A one-layer VAE (784 -> L) whose mean unit u is sum of readers[u][pixel] * x[pixel],
    plus `constant` for units that read nothing; every log-variance 0."""
    vae = VAE((784, latent_dim))
    layer = vae.encoder[0]  # one Linear(784, 2 L): the means, then the log-variances
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.zero_()
        for u in range(latent_dim):
            for pixel, w in readers.get(u, {}).items():
                layer.weight[u, pixel] = w
            if u not in readers:
                layer.bias[u] = constant
    return vae


def test_active_units_of_an_encoder_with_known_mean_variances(images):
    x = images.double().numpy()
    centre, corner = 14 * 28 + 14, 0  # a pixel that varies; one that is 0 in every MNIST image
    assert x[:, corner].max() == 0 and 0.2 < x[:, centre].mean() < 0.8
    readers = {0: {centre: 1.0},                       # Var = p (1 - p), about 0.25: active
               1: {corner: 5.0},                       # reads a constant pixel: Var = 0
               2: {centre: 0.1},                       # Var = 0.01 p (1 - p) < 0.01: inactive at 0.01
               3: {centre: 1.0, centre + 1: -2.0}}     # a difference of two pixels: active
    # unit 4 reads nothing (a constant mean)
    vae = pixel_reader(readers, 5)
    p = x[:, centre].mean()
    expected = np.array([p * (1 - p), 0.0, 0.01 * p * (1 - p), np.var(x[:, centre] - 2 * x[:, centre + 1]), 0.0])

    count, variances = active_units(vae, images)
    assert count == 2 and isinstance(count, int)
    assert variances.dtype == torch.float64 and variances.shape == (5,) and variances.device.type == "cpu"
    np.testing.assert_allclose(variances.numpy(), expected, rtol=1e-6, atol=0)
    assert variances[1] == 0 and variances[4] == 0  # exactly: the mean is the same number for every image
    assert active_units(vae, images, threshold=0.001)[0] == 3  # unit 2 is active at a lower threshold
    assert active_units(vae, images, threshold=1.0)[0] == 0


def test_variances_equal_numpy_whatever_the_batching_and_image_shape(images):
    torch.manual_seed(3)
    vae = VAE((784, 64, 8), activation="tanh")
    with torch.no_grad():
        mu = vae.encode(images)[0].double().numpy()
    reference = np.var(mu, axis=0)  # population variance (ddof=0), as Burda et al.'s code
    assert np.abs(reference / 0.01 - 1).min() > 1e-3  # no unit so near the threshold that rounding could flip it
    for batch_size, x in ((2000, images), (7, images), (333, images.reshape(-1, 28, 28))):
        count, variances = active_units(vae, x, batch_size=batch_size)
        # the encoder computes in float32, and a batch of another size may round its products differently
        np.testing.assert_allclose(variances.numpy(), reference, rtol=1e-6 if batch_size == 2000 else 1e-5)
        assert count == int((reference > 0.01).sum())


def test_kl_per_dimension_sums_to_the_mean_kl_and_matches_torch_distributions(images):
    torch.manual_seed(4)
    vae = VAE((784, 32, 6))
    with torch.no_grad():
        vae.encoder[-1].bias[6:].uniform_(-2, 1)  # log-variances away from 0, so every term counts
        mu, logvar = (t.double() for t in vae.encode(images))
    per_dim = kl_per_dimension(vae, images, batch_size=300)
    assert per_dim.dtype == torch.float64 and per_dim.shape == (6,) and (per_dim > 0).all()
    reference = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(0)
    torch.testing.assert_close(per_dim, reference, rtol=1e-10, atol=1e-12)
    with torch.no_grad():
        mean_kl = gaussian_kl(*vae.encode(images)).mean()  # float32, as the ELBO computes it
    torch.testing.assert_close(per_dim.sum().float(), mean_kl, rtol=1e-5, atol=0)


def test_a_unit_at_the_prior_has_no_kl_and_is_inactive(images):
    vae = pixel_reader({0: {14 * 28 + 14: 1.0}}, 3, constant=0.0)  # units 1, 2: mu = 0, logvar = 0 = the prior
    count, _ = active_units(vae, images)
    per_dim = kl_per_dimension(vae, images)
    assert count == 1 and per_dim[1] == 0 and per_dim[2] == 0 and per_dim[0] > 0


def test_no_gradients_and_the_model_is_unchanged(images):
    vae = VAE((784, 16, 3))
    before = [p.detach().clone() for p in vae.parameters()]
    active_units(vae, images[:50])
    kl_per_dimension(vae, images[:50])
    assert all(p.grad is None for p in vae.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, vae.parameters()))


def test_bad_arguments_name_themselves(images):
    vae = VAE((784, 16, 3))
    for bad, error, message in ((-0.1, ValueError, "threshold must be a finite number >= 0, got -0.1"),
                                (float("nan"), ValueError, "threshold must be a finite number >= 0, got nan"),
                                ("0.01", TypeError, "threshold must be a finite number >= 0, got '0.01'")):
        with pytest.raises(error, match=message):
            active_units(vae, images, threshold=bad)
    for call in (active_units, kl_per_dimension):
        with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
            call(vae, images, batch_size=0)
        with pytest.raises(ValueError, match=r"x: no images, shape \(0, 784\)"):
            call(vae, images[:0])
        with pytest.raises(TypeError, match="x: expected a floating-point tensor"):
            call(vae, (images * 255).to(torch.uint8))
        with pytest.raises(TypeError, match=r"x: float64 but the model's weights are float32"):
            call(vae, images.double())
        with pytest.raises(ValueError, match=r"x: expected a batch of shape \(N, 784\)"):
            call(vae, images[:, :100])
        with pytest.raises(TypeError, match="model must be a VAE"):
            call(torch.nn.Linear(784, 3), images)


def test_a_conditional_model_is_diagnosed_given_the_labels(images):
    """q(z | x, y): the labels go to the encoder, batch by batch, and are required."""
    cvae, x, y = ConditionalVAE((784, 16, 3)), images[:300], torch.arange(300) % 10
    with torch.no_grad():
        mu, logvar = (t.double() for t in cvae.encode(x, y))
    count, variances = active_units(cvae, x, y=y, batch_size=64)
    torch.testing.assert_close(variances, mu.var(0, correction=0))
    kl = kl_divergence(Normal(mu, torch.exp(0.5 * logvar)), Normal(0.0, 1.0)).mean(0)
    torch.testing.assert_close(kl_per_dimension(cvae, x, batch_size=64, y=y), kl)
    assert not torch.equal(kl_per_dimension(cvae, x, y=(y + 1) % 10), kl_per_dimension(cvae, x, y=y))
    for call in (active_units, kl_per_dimension):
        with pytest.raises(TypeError, match="y: a ConditionalVAE models p"):
            call(cvae, x)
        with pytest.raises(TypeError, match="y: labels given, but a VAE takes none"):
            call(VAE((784, 16, 3)), x, y=y)
        with pytest.raises(ValueError, match=r"y: expected one label per image, shape \(300,\), got a tensor "
                                             r"of shape \(299,\)"):
            call(cvae, x, y=y[:299])
