import math

import pytest
import torch

from vae_lessons.models import VAE, Autoencoder, mlp


def test_shapes_for_the_seed_architecture():
    ae, vae = Autoencoder((784, 256, 2)), VAE((784, 256, 2))
    x = torch.rand(5, 28, 28)
    assert ae.encode(x).shape == (5, 2) and ae(x).shape == (5, 784)
    assert 0 < ae(x).min() and ae(x).max() < 1
    out = vae(x.reshape(5, 784))
    assert [t.shape for t in out] == [(5, 784), (5, 2), (5, 2), (5, 2)]
    assert vae.sample(3).shape == (3, 784)


def test_sizes_are_configurable_and_decoder_mirrors_encoder():
    vae = VAE((784, 512, 128, 20), activation="tanh")
    linears = [m for m in vae.decoder if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(20, 128), (128, 512), (512, 784)]
    assert vae.encoder[-1].out_features == 40  # mu and logvar


def test_linear_autoencoder_is_linear():
    ae = Autoencoder((784, 8), activation="linear", output="linear")
    a, b = torch.randn(2, 784), torch.randn(2, 784)
    torch.testing.assert_close(ae(a + b) - ae(b), ae(a) - ae(torch.zeros(2, 784)), atol=1e-4, rtol=0)
    assert len(Autoencoder((784, 64, 8), activation="linear").encoder) == 2  # no activation layers


def test_reparameterization_moments_and_gradients():
    mu, logvar = torch.tensor([1.0, -2.0]), torch.tensor([0.5, -1.0])
    z = VAE.reparameterize(mu.expand(100_000, 2), logvar.expand(100_000, 2))
    sigma = torch.exp(0.5 * logvar)
    se_mean = sigma / math.sqrt(len(z))
    assert ((z.mean(0) - mu).abs() < 4 * se_mean).all()
    se_var = sigma**2 * math.sqrt(2 / len(z))
    assert ((z.var(0) - sigma**2).abs() < 4 * se_var).all()
    # pathwise derivatives: dz/dmu = 1, dz/dlogvar = sigma * eps / 2
    mu_, lv_ = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    g = torch.Generator().manual_seed(3)
    z = VAE.reparameterize(mu_, lv_, generator=g)
    eps = torch.randn(2, generator=torch.Generator().manual_seed(3))
    z.sum().backward()
    torch.testing.assert_close(mu_.grad, torch.ones(2))
    torch.testing.assert_close(lv_.grad, 0.5 * sigma * eps)


def test_bad_input_names_the_argument():
    ae = Autoencoder((784, 32, 2))
    with pytest.raises(ValueError, match=r"x: expected a batch of shape \(N, 784\).*add a batch dimension"):
        ae(torch.rand(28, 28))
    with pytest.raises(ValueError, match=r"x: expected a batch.*got \(4, 30, 30\)"):
        ae(torch.rand(4, 30, 30))
    with pytest.raises(TypeError, match="x: expected a floating-point tensor, got torch.uint8 .*divide by 255"):
        VAE()(torch.zeros(2, 784, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"z: expected codes of shape \(N, 2\), got \(3, 5\)"):
        VAE().decode(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp((784, 2), activation="gelu")
    with pytest.raises(ValueError, match="dims must be at least two positive ints"):
        VAE((784,))
    with pytest.raises(ValueError, match="output must be"):
        Autoencoder(output="softmax")
