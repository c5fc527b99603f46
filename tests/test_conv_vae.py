"""The convolutional VAE (models.ConvVAE): its shapes and size; its ELBO terms against a
computation by hand from its layers; the objectives, the trainer and the diagnostics written
for the MLP VAE, unchanged; what locality and weight sharing mean for its first layer (an
output is a function of one 4 x 4 patch, and a 2-pixel shift of the image is a 1-position
shift of the feature map, exactly, away from the border); and bad input."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal

from vae_lessons import data
from vae_lessons.diagnostics import active_units, kl_per_dimension
from vae_lessons.models import VAE, ConvVAE, VAEOutput
from vae_lessons.objectives import elbo, elbo_parts, iwae_bound, vae_loss
from vae_lessons.training import train


@pytest.fixture(scope="module")
def digits():
    """The first 500 training images of the bundled subset (every digit), binarized once."""
    x, _ = data.load_mnist("train")
    return data.binarize_static(x[:500].reshape(500, 784), seed=0)


def test_shapes_dims_and_modules():
    model, x = ConvVAE(5), torch.rand(4, 784).round()
    assert model.dims == (784, 5) and model.latent_dim == 5 and model.n_classes == 0
    assert isinstance(model, VAE) and model.likelihood == "bernoulli"
    for images in (x, x.reshape(4, 28, 28), x.reshape(4, 1, 28, 28)):
        mu, logvar = model.encode(images)
        assert mu.shape == logvar.shape == (4, 5)
    out = model(x)
    assert isinstance(out, VAEOutput) and [t.shape for t in out] == [(4, 784), (4, 5), (4, 5), (4, 5)]
    assert model.decode(torch.randn(3, 5)).shape == (3, 784)
    assert model.decoder(torch.randn(3, 5)).shape == (3, 784)  # the decoder alone, as sampling uses it
    assert model.encoder(x).shape == (4, 10)                     # mu and logvar, from flat images

    # the feature maps: 28 -> 14 -> 7 on the way in, 7 -> 14 -> 28 on the way out
    assert model.encoder[:3](x).shape == (4, 32, 14, 14) and model.encoder[:5](x).shape == (4, 64, 7, 7)
    assert model.decoder[:5](torch.randn(4, 5)).shape == (4, 32, 14, 14)
    assert model.encoder[1].weight.shape == (32, 1, 4, 4)


def test_log_likelihood_of_k_codes_per_image():
    for likelihood in ("bernoulli", "gaussian"):
        model, x, z = ConvVAE(3, likelihood=likelihood), torch.rand(4, 28, 28).round(), torch.randn(6, 4, 3)
        each = torch.stack([model.log_likelihood(x, z[k]) for k in range(6)])
        torch.testing.assert_close(model.log_likelihood(x, z), each)
        assert each.shape == (6, 4)


def test_gaussian_likelihood_is_the_vaes():
    model, x, z = ConvVAE(3, likelihood="gaussian"), torch.rand(4, 784), torch.randn(4, 3)
    with torch.no_grad():
        model.log_sigma2.fill_(-1.5)
    mean = model.decode(z)
    reference = Normal(mean, math.exp(-0.75)).log_prob(x).sum(-1)
    torch.testing.assert_close(model.log_likelihood(x, z), reference)
    torch.testing.assert_close(model.sample(2, generator=torch.Generator().manual_seed(0)),
                               model.decode(torch.randn(2, 3, generator=torch.Generator().manual_seed(0))))


def test_size_matches_the_parameters_and_the_docstring():
    for latent_dim in (1, 2, 20, 64):
        for likelihood in ("bernoulli", "gaussian"):
            model = ConvVAE(latent_dim, likelihood=likelihood)
            assert ConvVAE.size(latent_dim, likelihood) == sum(p.numel() for p in model.parameters())
            assert ConvVAE.size(latent_dim, likelihood) == 69_825 + 9_410 * latent_dim + (likelihood == "gaussian")
    assert ConvVAE.size(20) == 258_025 and "258,025" in ConvVAE.__doc__
    assert VAE.size((784, 256, 20)) == 418_104 and "418,104" in ConvVAE.__doc__
    first = ConvVAE(20).encoder[1]
    assert sum(p.numel() for p in first.parameters()) == 544 and "544" in ConvVAE.__doc__


def test_elbo_terms_equal_a_hand_computation():
    """log p(x | z) and KL(q(z | x) || N(0, I)) recomputed from the layers' weights with the
    functional convolutions, the reshapes written out, and the same eps."""
    model, x, L = ConvVAE(3), torch.rand(6, 784).round(), 3
    torch.manual_seed(11)
    log_px_z, kl = elbo_parts(model, x)
    enc, dec = model.encoder, model.decoder
    h = F.relu(F.conv2d(x.reshape(6, 1, 28, 28), enc[1].weight, enc[1].bias, stride=2, padding=1))
    h = F.relu(F.conv2d(h, enc[3].weight, enc[3].bias, stride=2, padding=1))         # (6, 64, 7, 7)
    out = h.reshape(6, 64 * 7 * 7) @ enc[6].weight.T + enc[6].bias
    mu, logvar = out[:, :L], out[:, L:]
    torch.manual_seed(11)  # the same eps, by hand
    z = mu + torch.exp(logvar / 2) * torch.randn(6, L)
    g = F.relu(z @ dec[0].weight.T + dec[0].bias).reshape(6, 64, 7, 7)
    g = F.relu(F.conv_transpose2d(g, dec[3].weight, dec[3].bias, stride=2, padding=1))  # (6, 32, 14, 14)
    p = torch.sigmoid(F.conv_transpose2d(g, dec[5].weight, dec[5].bias, stride=2, padding=1).reshape(6, 784))
    by_hand = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(1)
    torch.testing.assert_close(log_px_z, by_hand, atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(kl, -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1))
    torch.manual_seed(11)
    out = model(x)  # forward: the same z, logits and posterior
    torch.testing.assert_close(out.z, z)
    torch.testing.assert_close(torch.sigmoid(out.logits), p)
    torch.manual_seed(11)
    loss, parts = vae_loss(model, x)
    torch.testing.assert_close(loss, -(by_hand - kl).mean(), atol=1e-3, rtol=1e-5)
    assert set(parts) == {"recon", "kl"}


def test_iwae_bound_works_and_lies_above_the_elbo(digits):
    model, x = ConvVAE(4), digits[:100]
    torch.manual_seed(3)
    one = iwae_bound(model, x, 1)  # L_1 with eps drawn as elbo draws it: the ELBO with the KL sampled
    torch.manual_seed(3)
    with torch.no_grad():
        torch.testing.assert_close(one, elbo(model, x, kl="mc"))
    torch.manual_seed(4)
    with torch.no_grad():
        gap = iwae_bound(model, x, 50) - elbo(model, x)  # E[L_50] >= E[L_1] (Burda et al. 2015)
    se = gap.std().item() / math.sqrt(len(gap))
    assert gap.mean().item() > 3 * se


def test_train_lowers_the_loss_and_the_diagnostics_run(digits):
    torch.manual_seed(0)
    model, held_out = ConvVAE(8), digits[400:]
    torch.manual_seed(1)
    with torch.no_grad():
        before = elbo(model, held_out).mean().item()
    history = train(model, digits[:400], vae_loss, epochs=2, batch_size=50, lr=2e-3, progress=False)
    assert len(history) == 2 and history["loss"][1] < history["loss"][0]
    torch.manual_seed(1)
    with torch.no_grad():
        after = elbo(model, held_out).mean().item()
    assert after > before + 50  # nats per image: about -490 untrained, -260 after two epochs

    count, variances = active_units(model, held_out)
    with torch.no_grad():
        mu, logvar = (t.double() for t in model.encode(held_out))
    torch.testing.assert_close(variances, mu.var(0, correction=0))
    assert count == int((variances > 0.01).sum()) and variances.shape == (8,)
    torch.testing.assert_close(kl_per_dimension(model, held_out).sum(), elbo_parts(model, held_out)[1].double().mean(),
                               rtol=1e-5, atol=1e-5)


def test_samples():
    model = ConvVAE(3)
    images = model.sample(5, generator=torch.Generator().manual_seed(2))
    assert images.shape == (5, 784) and 0 < images.min() and images.max() < 1 and not images.requires_grad
    again = model.sample(5, generator=torch.Generator().manual_seed(2))
    assert torch.equal(images, again) and model.sample(0).shape == (0, 784)
    z = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(images, torch.sigmoid(model.decoder(z)))  # through the decoder alone


# ------------------------------------------------------------------------------ locality and weight sharing

def shifted(images, rows, cols):
    """images (N, 28, 28) moved down by rows and right by cols pixels, zeros coming in."""
    out = torch.zeros_like(images)
    out[:, rows:, cols:] = images[:, :28 - rows, :28 - cols]
    return out


def test_an_output_of_the_first_layer_reads_one_patch_with_the_shared_kernel():
    model, x = ConvVAE(2).double(), torch.rand(2, 28, 28, dtype=torch.float64)
    conv = model.encoder[1]
    maps = model.encoder[:2](x.reshape(2, 784))  # before the ReLU: (2, 32, 14, 14)
    padded = F.pad(x, (1, 1, 1, 1))  # padding 1 on each side: (2, 30, 30)
    for i, j in ((0, 0), (3, 9), (13, 13)):
        patch = padded[:, 2 * i:2 * i + 4, 2 * j:2 * j + 4]  # rows 2i-1 .. 2i+2 of the image
        by_hand = (conv.weight[:, 0] * patch[:, None]).sum((-2, -1)) + conv.bias  # the same kernel everywhere
        torch.testing.assert_close(maps[:, :, i, j], by_hand, atol=1e-12, rtol=0)
    far = x.clone()
    far[:, 10:, :] += 1.0  # change every pixel from row 10 down: outputs of rows i with 2i + 2 < 10 keep
    changed = model.encoder[:2](far.reshape(2, 784))
    assert torch.equal(changed[:, :, :4], maps[:, :, :4]) and not torch.equal(changed[:, :, 4:], maps[:, :, 4:])


@pytest.mark.parametrize("which", ["random", "digits"])
def test_a_shift_by_the_stride_is_a_shift_of_the_feature_map(which, digits):
    """y = relu(conv(x)), stride 2, kernel 4, padding 1: y[i, j] reads image rows 2i-1 .. 2i+2.
    Moving the image down and right by 2 pixels moves y by one position: y'[i, j] = y[i-1, j-1]
    for 1 <= i, j <= 12 (row 0 reads the zeros that came in, which equal the padding y[-1] reads
    nowhere; rows 13 read the padding where y[12] read image rows 23..26). Two layers: a 4-pixel
    shift moves the 7 x 7 map by one, for 2 <= i, j <= 5. A 1-pixel shift is no shift of either."""
    images = torch.rand(3, 28, 28, dtype=torch.float64) if which == "random" else digits[:3].double().reshape(3, 28, 28)
    model = ConvVAE(2).double()
    first, both = model.encoder[:3], model.encoder[:5]  # to the first ReLU, to the second

    def run(layers, rows, cols):
        return layers(shifted(images, rows, cols).reshape(3, 784))

    y, y2 = run(first, 0, 0), run(first, 2, 2)
    torch.testing.assert_close(y2[..., 1:13, 1:13], y[..., 0:12, 0:12], atol=1e-12, rtol=0)
    z, z4 = run(both, 0, 0), run(both, 4, 4)
    torch.testing.assert_close(z4[..., 2:6, 2:6], z[..., 1:5, 1:5], atol=1e-12, rtol=0)

    y1 = run(first, 1, 1)
    for moved in (y[..., 1:13, 1:13], y[..., 0:12, 0:12]):  # neither the map itself nor it moved by one
        assert (y1[..., 1:13, 1:13] - moved).abs().max() > 0.05


# ------------------------------------------------------------------------------ bad input

def test_bad_input_names_the_argument_and_the_fix():
    model = ConvVAE(2)
    with pytest.raises(ValueError, match=r"x: expected a batch of shape \(N, 784\).*add a batch dimension"):
        model(torch.rand(28, 28))
    with pytest.raises(ValueError, match=r"x: expected a batch.*got \(4, 3, 28, 28\)"):
        model.encode(torch.rand(4, 3, 28, 28))  # three channels
    with pytest.raises(ValueError, match=r"x: an empty batch, shape \(0, 784\)"):
        model(torch.zeros(0, 784))
    with pytest.raises(TypeError, match="x: expected a floating-point tensor, got torch.uint8 .*divide by 255"):
        model(torch.zeros(2, 784, dtype=torch.uint8))
    with pytest.raises(TypeError, match=r"x: float64 but the model's weights are float32: pass x\.float\(\)"):
        model(torch.rand(3, 784, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"x: on meta but the model's weights are on cpu: pass x\.to\('cpu'\)"):
        model.encode(torch.zeros(3, 784, device="meta"))
    with pytest.raises(ValueError, match=r"z: expected codes of shape \(N, 2\), got \(3, 5\)"):
        model.decode(torch.zeros(3, 5))
    with pytest.raises(TypeError, match=r"z: float64 but the model's weights are float32"):
        model.decode(torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"x: values must lie in \[0, 1\].*divide by 255"):
        model.log_likelihood(torch.rand(3, 784) * 255, torch.zeros(3, 2))
    assert ConvVAE(2).double()(torch.rand(3, 784, dtype=torch.float64)).mu.dtype == torch.float64
    for bad in (0, 2.5, "20", None):
        with pytest.raises((TypeError, ValueError), match="latent_dim must be a positive int"):
            ConvVAE(bad)
    with pytest.raises(ValueError, match="likelihood must be 'bernoulli' or 'gaussian', got 'poisson'"):
        ConvVAE(2, likelihood="poisson")
    with pytest.raises(ValueError, match="activation must be one of"):
        ConvVAE(2, activation="gelu")
    with pytest.raises(TypeError, match="n must be an int >= 0, got 2.5"):
        model.sample(2.5)
    with pytest.raises(TypeError, match="y: labels given, but a ConvVAE takes none"):
        elbo(model, torch.rand(2, 784).round(), y=torch.tensor([0, 1]))
