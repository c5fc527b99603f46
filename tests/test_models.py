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


def test_bad_batches_name_the_argument_and_the_fix():
    vae, ae = VAE((784, 16, 2)), Autoencoder((784, 16, 2))
    for model in (vae, ae):
        with pytest.raises(ValueError, match=r"x: an empty batch, shape \(0, 784\): pass at least one image"):
            model(torch.zeros(0, 784))
    with pytest.raises(TypeError, match=r"x: float64 but the model's weights are float32: pass x\.float\(\)"):
        vae(torch.rand(3, 784, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"z: float64 but the model's weights are float32: pass z\.float\(\)"):
        vae.decode(torch.zeros(3, 2, dtype=torch.float64))
    vae64 = VAE((784, 16, 2)).double()  # a float64 model takes float64 input (lesson 08's pPCA VAE)
    assert vae64(torch.rand(3, 784, dtype=torch.float64)).mu.dtype == torch.float64
    with pytest.raises(TypeError, match=r"x: float32 but the model's weights are float64: pass x\.double\(\)"):
        vae64(torch.rand(3, 784))


def test_autoencoder_checks_its_input_like_the_vae():
    ae = Autoencoder((784, 16, 2))
    grey = torch.rand(3, 784)
    grey[0, :2] = torch.tensor([0.0, 1.0])
    with pytest.raises(ValueError, match=r"x: values must lie in \[0, 1\].*got range \[0, 255\].*divide by 255"):
        ae(grey * 255)
    with pytest.raises(ValueError, match=r"x: values must lie in \[0, 1\].*nan.*output='linear'"):
        ae(torch.full((3, 784), float("nan")))
    linear = Autoencoder((784, 4), activation="linear", output="linear")
    assert linear(torch.randn(3, 784) * 100).shape == (3, 784)  # any finite data: PCA on centred data, say
    with pytest.raises(ValueError, match="x: holds NaN or infinite values"):
        linear(torch.full((2, 784), float("inf")))


def test_sizes_are_checked_as_given():
    import numpy as np
    with pytest.raises(ValueError, match=r"dims must be at least two positive ints, e\.g\. .*, got \(784, 0, 2\)"):
        VAE((784, 0, 2))  # not the encoder's (784, 0, 4)
    for bad in ((784, 2.0), "784-2", 784, (784, True), (784, None)):
        with pytest.raises(ValueError, match="dims must be at least two positive ints"):
            VAE(bad)
    assert VAE((784, np.int64(16), 2)).dims == (784, 16, 2)
    with pytest.raises(ValueError, match="activation must be one of"):
        VAE(activation=["relu"])
    for likelihood in ("bernoulli", "gaussian"):
        model = VAE((784, 32, 16, 3), likelihood=likelihood)
        assert VAE.size((784, 32, 16, 3), likelihood) == sum(p.numel() for p in model.parameters())
    with pytest.raises(TypeError, match="n must be an int >= 0, got 2.5"):
        VAE().sample(2.5)
