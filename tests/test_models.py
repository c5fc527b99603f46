import math

import pytest
import torch

from vae_lessons.models import VAE, Autoencoder, ConditionalVAE, mlp
from vae_lessons.objectives import elbo_parts


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


# ------------------------------------------------------------------------------ the label-conditional VAE

def test_conditional_vae_shapes_and_sizes():
    cvae, x, y = ConditionalVAE((784, 32, 16, 3)), torch.rand(5, 28, 28), torch.tensor([0, 9, 3, 3, 1])
    assert [(m.in_features, m.out_features) for m in cvae.encoder if isinstance(m, torch.nn.Linear)] == \
        [(794, 32), (32, 16), (16, 6)]  # x and the one-hot label in; mu and logvar out
    assert [(m.in_features, m.out_features) for m in cvae.decoder if isinstance(m, torch.nn.Linear)] == \
        [(13, 16), (16, 32), (32, 784)]  # z and the one-hot label in
    out = cvae(x, y)
    assert [t.shape for t in out] == [(5, 784), (5, 3), (5, 3), (5, 3)]
    assert cvae.log_likelihood(x, torch.randn(4, 5, 3), y).shape == (4, 5)
    for likelihood in ("bernoulli", "gaussian"):
        model = ConditionalVAE((784, 32, 3), n_classes=4, likelihood=likelihood)
        assert ConditionalVAE.size((784, 32, 3), 4, likelihood) == sum(p.numel() for p in model.parameters())
    for make in (lambda: ConditionalVAE(n_classes=0), lambda: ConditionalVAE.size((784, 2), 0)):
        with pytest.raises(ValueError, match="n_classes must be a positive int, got 0"):
            make()


def test_conditional_elbo_terms_equal_a_hand_computation():
    """log p(x | z, y) and KL(q(z | x, y) || N(0, I)), the two terms of the ELBO of log p(x | y),
    recomputed from the module's layers with the same eps: the label enters both networks one-hot."""
    cvae, x = ConditionalVAE((784, 64, 3), n_classes=10), torch.rand(6, 784).round()
    y = torch.tensor([0, 1, 5, 9, 9, 2])
    torch.manual_seed(11)
    log_px_z, kl = elbo_parts(cvae, x, y=y)
    torch.manual_seed(11)  # the same eps, by hand
    one_hot = torch.zeros(6, 10)
    one_hot[torch.arange(6), y] = 1.0
    h = cvae.encoder(torch.cat([x, one_hot], dim=1))
    mu, logvar = h[:, :3], h[:, 3:]
    z = mu + torch.exp(logvar / 2) * torch.randn(6, 3)
    p = torch.sigmoid(cvae.decoder(torch.cat([z, one_hot], dim=1)))
    by_hand = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum(1)
    torch.testing.assert_close(log_px_z, by_hand, atol=1e-3, rtol=1e-5)
    torch.testing.assert_close(kl, -0.5 * (1 + logvar - mu**2 - logvar.exp()).sum(1))
    torch.manual_seed(11)
    out = cvae(x, y)  # forward: the same z, logits and posterior
    torch.testing.assert_close(out.z, z)
    torch.testing.assert_close(torch.sigmoid(out.logits), p)


def test_conditional_log_likelihood_broadcasts_the_labels_over_k_codes():
    cvae, x, y = ConditionalVAE((784, 16, 2), likelihood="gaussian"), torch.rand(3, 784), torch.tensor([4, 0, 7])
    z = torch.randn(5, 3, 2)
    each = torch.stack([cvae.log_likelihood(x, z[k], y) for k in range(5)])
    torch.testing.assert_close(cvae.log_likelihood(x, z, y), each)


def test_the_decoder_and_encoder_read_the_label():
    cvae, z, x = ConditionalVAE((784, 16, 2)), torch.randn(4, 2), torch.rand(4, 784)
    a, b = torch.tensor([0, 1, 2, 3]), torch.tensor([5, 1, 2, 3])
    da, db = cvae.decode(z, a), cvae.decode(z, b)
    assert not torch.equal(da[0], db[0]) and torch.equal(da[1:], db[1:])  # only the relabelled image changes
    assert not torch.equal(cvae.encode(x, a)[0][0], cvae.encode(x, b)[0][0])


def test_conditional_samples():
    cvae = ConditionalVAE((784, 16, 2))
    assert cvae.sample(7).shape == (7, 784) and cvae.sample(0).shape == (0, 784)
    g = torch.Generator().manual_seed(1)
    as_int = cvae.sample(3, 4, generator=g)
    g = torch.Generator().manual_seed(1)
    as_tensor = cvae.sample(3, torch.tensor([4, 4, 4]), generator=g)
    assert as_int.shape == (3, 784) and torch.equal(as_int, as_tensor) and 0 < as_int.min() and as_int.max() < 1
    g = torch.Generator().manual_seed(1)
    cycled = cvae.sample(12, generator=g)  # labels 0..9, 0, 1: the same z as below
    g = torch.Generator().manual_seed(1)
    torch.testing.assert_close(cycled, cvae.sample(12, torch.arange(12) % 10, generator=g))
    with pytest.raises(ValueError, match="y must be an int from 0 to 9, got 10"):
        cvae.sample(3, 10)
    with pytest.raises(ValueError, match=r"y: expected one label per image, shape \(3,\), got \(2,\)"):
        cvae.sample(3, torch.tensor([1, 2]))


def test_bad_labels_give_one_clear_error_each():
    cvae, x = ConditionalVAE((784, 16, 2)), torch.rand(3, 784)
    cases = [(torch.tensor([0, 10, 2]), ValueError, r"y: labels must be in 0\.\.9, got 10"),
             (torch.tensor([0, -1, 2]), ValueError, r"y: labels must be in 0\.\.9, got -1"),
             (torch.tensor([0, 1]), ValueError, r"y: expected one label per image, shape \(3,\), got \(2,\)"),
             (torch.tensor([[0, 1, 2]]), ValueError, r"shape \(3,\), got \(1, 3\)"),
             (torch.tensor([0.0, 1.0, 2.0]), TypeError, r"y: expected int64 class labels, got float32$"),
             (torch.tensor([0, 1, 2], dtype=torch.uint8), TypeError, r"got uint8 \(pass y\.long\(\)\)"),
             ([0, 1, 2], TypeError, r"y: expected a tensor of int64 class labels, got \[0, 1, 2\]")]
    for y, error, message in cases:
        for call in (lambda: cvae(x, y), lambda: cvae.encode(x, y), lambda: cvae.decode(torch.zeros(3, 2), y),
                     lambda: cvae.log_likelihood(x, torch.zeros(3, 2), y), lambda: elbo_parts(cvae, x, y=y)):
            with pytest.raises(error, match=message):
                call()
    with pytest.raises(ValueError, match=r"z: expected codes of shape \(N, L\) or \(K, N, L\) with N = 3"):
        cvae.log_likelihood(x, torch.zeros(5, 4, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"z: expected codes of shape \(N, 2\), got \(3, 12\)"):
        cvae.decode(torch.zeros(3, 12), torch.tensor([0, 1, 2]))  # the code alone, not code and one-hot
    with pytest.raises(ValueError, match=r"x: expected a batch of shape \(N, 784\)"):
        cvae.encode(torch.zeros(3, 794), torch.tensor([0, 1, 2]))
