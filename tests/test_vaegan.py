"""The VAE-GAN (vaegan.py): each of its losses against a computation by hand or by
torch.distributions; the gradient routing of train_step (each player's gradient is the gradient
of its own loss with respect to its own weights and nothing else, and each step is Adam's on
that gradient); the balancing rule, on its table and on discriminators built to be far ahead or
far behind; determinism; the error on a non-finite loss; and bad input."""
import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from vae_lessons import data
from vae_lessons.models import VAE, ConditionalVAE, ConvVAE
from vae_lessons.training import NonFiniteLossError
from vae_lessons.vaegan import (EQUILIBRIUM, VAEGAN, Discriminator, _discriminator_loss, _generator_gan_loss,
                                balance_updates, discriminator_loss, feature_reconstruction_loss,
                                generator_gan_loss, make_vaegan, optimizers, prior_loss, train_step,
                                train_vaegan)

F64 = torch.float64


@pytest.fixture(scope="module")
def digits():
    """The first 200 training images of the bundled subset, grey (not binarized), (200, 784)."""
    x, _ = data.load_mnist("train")
    return x[:200].reshape(200, 784)


def small(arch="mlp", seed=0, gamma=0.1):
    """A float64 VAE-GAN with L = 3: exact enough to compare gradients to 1e-10."""
    return make_vaegan(3, arch, seed=seed, gamma=gamma).double()


def params(module):
    return [p.detach().clone() for p in module.parameters()]


def same(a, b):
    return all(torch.equal(p, q) for p, q in zip(a, b))


# ------------------------------------------------------------------------------ the discriminator

def test_discriminator_layers_by_hand_and_shapes():
    disc, x = Discriminator().double(), torch.rand(3, 784, dtype=F64)
    conv1, conv2 = disc.body[1], disc.body[3]
    h = F.leaky_relu(F.conv2d(x.reshape(3, 1, 28, 28), conv1.weight, conv1.bias, stride=2, padding=1), 0.2)
    h = F.leaky_relu(F.conv2d(h, conv2.weight, conv2.bias, stride=2, padding=1), 0.2)  # (3, 64, 7, 7)
    by_hand = h.reshape(3, 3136)
    for images in (x, x.reshape(3, 28, 28), x.reshape(3, 1, 28, 28)):
        f, logit = disc(images)
        torch.testing.assert_close(disc.features(images), by_hand, atol=1e-12, rtol=0)
        torch.testing.assert_close(f, by_hand, atol=1e-12, rtol=0)
        torch.testing.assert_close(logit, by_hand @ disc.head.weight[0] + disc.head.bias, atol=1e-12, rtol=0)
        assert logit.shape == (3,) and Discriminator.feature_dim == 3136


def test_discriminator_features_start_near_the_pixels_scale(digits):
    """The convolutions' He initialisation (for LeakyReLU): features of real digits start with a
    mean square within a factor 10 of the pixels' (PyTorch's default init gives about 1/20 of it,
    and the feature reconstruction is then too flat to hold the encoder against the KL)."""
    disc = Discriminator()
    ratio = disc.features(digits).square().mean() / digits.square().mean()
    assert 0.1 < ratio < 10


# ------------------------------------------------------------------------------ the losses

def test_prior_loss_is_the_kl_of_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(3, 4, generator=g, dtype=F64), torch.randn(3, 4, generator=g, dtype=F64)
    q, p = Normal(mu, torch.exp(0.5 * logvar)), Normal(torch.zeros(3, 4, dtype=F64), 1.0)
    reference = kl_divergence(q, p).sum(-1).mean()   # summed over latent dims, averaged over images
    torch.testing.assert_close(prior_loss(mu, logvar), reference, atol=1e-12, rtol=0)
    assert prior_loss(torch.zeros(3, 4), torch.zeros(3, 4)) == 0  # q = p


def test_feature_reconstruction_by_hand_and_as_a_normal_log_density():
    g = torch.Generator().manual_seed(1)
    disc = Discriminator().double()
    x, x_tilde = torch.rand(3, 784, generator=g, dtype=F64), torch.rand(3, 784, generator=g, dtype=F64)
    f, f_tilde = disc.features(x), disc.features(x_tilde)
    squares = [sum((a - b) ** 2 for a, b in zip(f[n].tolist(), f_tilde[n].tolist())) for n in range(3)]
    loss = feature_reconstruction_loss(disc, x, x_tilde)
    assert loss.item() == pytest.approx(sum(0.5 * s for s in squares) / 3, rel=1e-12)
    # -log N(f | f~, I) without its constant 0.5 F log(2 pi), averaged over the batch
    nll = -Normal(f_tilde, 1.0).log_prob(f).sum(-1).mean()
    torch.testing.assert_close(loss, nll - 0.5 * 3136 * math.log(2 * math.pi), atol=1e-9, rtol=0)
    assert feature_reconstruction_loss(disc, x, x) == 0


def test_discriminator_loss_by_hand():
    g = torch.Generator().manual_seed(2)
    disc = Discriminator().double()
    with torch.no_grad():
        disc.head.weight.mul_(20)  # logits of a few units, so that a mistake cannot hide in 0.5s
    x, x_tilde, x_p = (torch.rand(3, 784, generator=g, dtype=F64) for _ in range(3))
    l_real, l_rec, l_prior = disc(x)[1], disc(x_tilde)[1], disc(x_p)[1]
    assert l_real.abs().max() > 1
    s = torch.sigmoid
    by_hand = -(torch.log(s(l_real)).mean() + torch.log(1 - s(l_rec)).mean() + torch.log(1 - s(l_prior)).mean())
    torch.testing.assert_close(discriminator_loss(disc, x, x_tilde, x_p), by_hand, atol=1e-10, rtol=0)
    # a discriminator that answers 1/2 to everything: 3 ln 2
    with torch.no_grad():
        disc.head.weight.zero_(), disc.head.bias.zero_()
    assert discriminator_loss(disc, x, x_tilde, x_p).item() == pytest.approx(3 * math.log(2), rel=1e-12)


def test_discriminator_loss_falls_as_real_logits_rise_and_fake_ones_fall():
    g = torch.Generator().manual_seed(3)
    l_real, l_rec, l_prior = (torch.randn(5, generator=g, dtype=F64) for _ in range(3))
    losses = [_discriminator_loss(l_real + d, l_rec - d, l_prior - d).item() for d in (-2.0, -1.0, 0.0, 1.0, 2.0)]
    assert all(a > b for a, b in zip(losses, losses[1:]))
    # and each term alone: more real is better for reals, worse for fakes
    assert _discriminator_loss(l_real + 1, l_rec, l_prior) < _discriminator_loss(l_real, l_rec, l_prior)
    assert _discriminator_loss(l_real, l_rec + 1, l_prior) > _discriminator_loss(l_real, l_rec, l_prior)
    assert _discriminator_loss(l_real, l_rec, l_prior + 1) > _discriminator_loss(l_real, l_rec, l_prior)


def test_generator_gan_loss_is_the_non_saturating_one():
    g = torch.Generator().manual_seed(4)
    disc = Discriminator().double()
    with torch.no_grad():
        disc.head.weight.mul_(20)
    x_tilde, x_p = torch.rand(3, 784, generator=g, dtype=F64), torch.rand(4, 784, generator=g, dtype=F64)
    l_rec, l_prior = disc(x_tilde)[1], disc(x_p)[1]
    by_hand = -torch.log(torch.sigmoid(l_rec)).mean() - torch.log(torch.sigmoid(l_prior)).mean()
    torch.testing.assert_close(generator_gan_loss(disc, x_tilde, x_p), by_hand, atol=1e-10, rtol=0)
    # where the discriminator rejects a fake (logit -10), the non-saturating gradient is about -1
    # per image; the minimax form log(1 - sigmoid(l)) would give -sigmoid(-10) = -4.5e-5
    logit = torch.tensor([-10.0], dtype=F64, requires_grad=True)
    (grad,) = torch.autograd.grad(_generator_gan_loss(logit, torch.zeros(1, dtype=F64)), logit)
    assert grad.item() == pytest.approx(-1.0, abs=1e-4)


# ------------------------------------------------------------------------------ gradient routing

def reference_gradients(model, x, gamma, seed):
    """Each player's gradient of its own loss, written with the public loss functions and the
    draws train_step makes, in its order (eps, then z_p), from a generator seeded with seed."""
    g = torch.Generator().manual_seed(seed)
    vae, disc = model.vae, model.disc
    mu, logvar = vae.encode(x)
    x_tilde = torch.sigmoid(vae.decode(vae.reparameterize(mu, logvar, g)))
    x_p = torch.sigmoid(vae.decode(torch.randn(mu.shape, generator=g, dtype=mu.dtype)))
    enc, dec, dis = model.player_parameters()
    llike = feature_reconstruction_loss(disc, x, x_tilde)
    return (torch.autograd.grad(prior_loss(mu, logvar) + llike, enc, retain_graph=True),
            torch.autograd.grad(gamma * llike + generator_gan_loss(disc, x_tilde, x_p), dec, retain_graph=True),
            torch.autograd.grad(discriminator_loss(disc, x, x_tilde, x_p), dis))


@pytest.mark.parametrize("arch, gamma", [("mlp", 0.7), ("mlp", 0.0), ("conv", 2.0)])
def test_each_player_steps_on_the_gradient_of_its_own_loss(digits, arch, gamma):
    model, x = small(arch), digits[:8].double()
    reference = reference_gradients(model, x, gamma, seed=5)
    before = [params(m) for m in (model.vae.encoder, model.vae.decoder, model.disc)]
    lr = 1e-3
    out = train_step(model, x, optimizers(model, lr), gamma=gamma, generator=torch.Generator().manual_seed(5))
    assert (out["updated_encoder"], out["updated_decoder"], out["updated_discriminator"]) == (1.0, 1.0, 1.0)
    for name, ref, old, group in zip(("encoder", "decoder", "discriminator"), reference, before,
                                     model.player_parameters()):
        for r, o, p in zip(ref, old, group):
            torch.testing.assert_close(p.grad, r, atol=1e-10, rtol=1e-8, msg=lambda m: f"{name}: {m}")
            # Adam's first step is -lr m/(sqrt(v) + eps) with m = g, v = g^2 after bias correction:
            # each parameter moved by its own gradient and nothing else
            torch.testing.assert_close(p.detach() - o, -lr * r / (r.abs() + 1e-8), atol=1e-12, rtol=1e-6)


def test_the_gan_loss_does_not_reach_the_encoder(digits):
    """The discriminator's head is read by the GAN losses only (L_llike uses its features).
    Two models that differ in the head alone: the same encoder gradient, other decoder gradients."""
    a, x = small(), digits[:8].double()
    b = copy.deepcopy(a)
    with torch.no_grad():
        b.disc.head.weight.mul_(-30)
        b.disc.head.bias.add_(2.0)
    grads = []
    for model in (a, b):
        train_step(model, x, optimizers(model), generator=torch.Generator().manual_seed(6))
        grads.append([[p.grad.clone() for p in group] for group in model.player_parameters()])
    (enc_a, dec_a, _), (enc_b, dec_b, _) = grads
    assert same(enc_a, enc_b)
    assert not same(dec_a, dec_b)


# ------------------------------------------------------------------------------ balancing

def test_balance_rule_table():
    m, low, high = 0.3, EQUILIBRIUM - 0.3, EQUILIBRIUM + 0.3
    assert balance_updates(0.01, 5.0, None) == (True, True)              # off: always both
    assert balance_updates(EQUILIBRIUM, EQUILIBRIUM, m) == (True, True)  # balanced
    assert balance_updates(low - 0.01, EQUILIBRIUM, m) == (True, False)  # far ahead on reals: discriminator waits
    assert balance_updates(EQUILIBRIUM, low - 0.01, m) == (True, False)  # far ahead on fakes
    assert balance_updates(high + 0.01, EQUILIBRIUM, m) == (False, True)  # far behind on reals: decoder waits
    assert balance_updates(EQUILIBRIUM, high + 0.01, m) == (False, True)  # far behind on fakes
    assert balance_updates(low - 0.01, high + 0.01, m) == (True, True)   # both would wait: both go
    assert balance_updates(low + 0.01, high - 0.01, m) == (True, True)   # inside the margin


def ink_discriminator(model, x, sign):
    """Make model's discriminator score the amount of ink: logit = sign * (10 at the least inked
    real image of x, -10 at an empty image), and its decoder draw nearly black images."""
    disc = model.disc
    with torch.no_grad():
        for conv in (disc.body[1], disc.body[3]):
            conv.weight.fill_(1.0 / conv.weight[0].numel()), conv.bias.zero_()
        last = model.vae.decoder[-1]
        last.weight.mul_(1e-3), last.bias.fill_(-8.0)  # sigmoid(-8) = 3e-4
        disc.head.weight.fill_(1.0)
        ink = disc.features(x).sum(1).min()
        disc.head.weight.fill_(sign * 20.0 / ink.item())
        disc.head.bias.fill_(-sign * 10.0)


@pytest.mark.parametrize("sign, skipped", [(1, "discriminator"), (-1, "decoder")])
def test_balancing_skips_a_player_bit_for_bit(digits, sign, skipped):
    """sign +1: the discriminator tells real (inked) from fake (black) perfectly, costs ~0: it is
    far ahead and waits. sign -1: it calls reals fake and fakes real, costs ~10: far behind, the
    decoder waits. The other players move; without balancing every player moves."""
    x = digits[:8].double()
    for balance in (0.3, None):
        model = small()
        ink_discriminator(model, x, sign)
        modules = {"encoder": model.vae.encoder, "decoder": model.vae.decoder, "discriminator": model.disc}
        before = {k: params(m) for k, m in modules.items()}
        out = train_step(model, x, optimizers(model), balance=balance, generator=torch.Generator().manual_seed(8))
        if sign == 1:
            assert out["real_cost"] < 1e-3 and out["fake_cost"] < 1e-3 and out["d_real"] > 0.99
        else:
            assert out["real_cost"] > 9 and out["fake_cost"] > 9 and out["d_real"] < 0.01
        for name, module in modules.items():
            skip = balance is not None and name == skipped
            assert out[f"updated_{name}"] == (0.0 if skip else 1.0)
            assert same(before[name], params(module)) == skip, name
            assert all((p.grad is None) == skip for p in module.parameters())


# ------------------------------------------------------------------------------ training

def test_train_vaegan_is_deterministic_and_records_every_step(digits):
    runs = []
    for seed in (3, 3, 4):
        model = make_vaegan(3, "mlp", seed=0)
        history = train_vaegan(model, digits[:100].reshape(100, 28, 28), epochs=2, batch_size=32, seed=seed,
                               balance=0.3, progress=False)
        runs.append((params(model), history))
    (p1, h1), (p2, h2), (p3, _) = runs
    assert same(p1, p2) and h1.records == h2.records
    assert not same(p1, p3)  # the seed draws the batches and the noise
    assert len(h1) == 8 and h1.steps_per_epoch == 4 and len(h1.epoch_means("discriminator")) == 2
    assert {"prior", "feature_recon", "discriminator", "generator_gan", "d_real", "d_recon", "d_prior",
            "updated_encoder", "updated_decoder", "updated_discriminator"} <= set(h1.keys())
    assert h1.epoch_means("prior")[0] == pytest.approx(sum(h1["prior"][:4]) / 4)
    assert "8 steps" in repr(h1)


def test_make_vaegan_builds_from_its_seed_without_touching_the_global_rng():
    state = torch.get_rng_state()
    a, b, c = make_vaegan(4, "conv", seed=1), make_vaegan(4, "conv", seed=1), make_vaegan(4, "conv", seed=2)
    assert torch.equal(state, torch.get_rng_state())
    assert same(params(a), params(b)) and not same(params(a), params(c))
    assert isinstance(a.vae, ConvVAE) and isinstance(make_vaegan(4, "mlp").vae, VAE)
    assert make_vaegan(4, "mlp").vae.dims == (784, 256, 4) and a.latent_dim == 4
    enc, dec, dis = a.player_parameters()
    assert len(enc) + len(dec) + len(dis) == len(list(a.parameters()))  # every weight belongs to one player
    assert sum(p.numel() for p in enc + dec) == ConvVAE.size(4)


def test_samples_and_reconstructions_are_images():
    model = make_vaegan(3, "mlp")
    s = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert s.shape == (5, 784) and 0 < s.min() and s.max() < 1
    assert torch.equal(s, model.sample(5, generator=torch.Generator().manual_seed(0)))
    assert model.reconstruct(torch.rand(4, 28, 28)).shape == (4, 784)


# ------------------------------------------------------------------------------ non-finite losses

@pytest.mark.parametrize("where", ["disc.body.1.weight", "vae.encoder.0.weight"])
def test_a_nan_weight_stops_training_with_a_readable_error_before_any_step(digits, where):
    model = small()
    with torch.no_grad():
        dict(model.named_parameters())[where][0, 0] = float("nan")
    before = params(model)
    with pytest.raises(NonFiniteLossError) as info:
        train_step(model, digits[:8].double(), optimizers(model), generator=torch.Generator().manual_seed(0))
    message = str(info.value)
    assert "non-finite loss" in message and "this step changed no weights" in message
    assert "discriminator saturated: lower lr or turn on balancing" in message
    assert f"Non-finite parameters: {where}" in message
    for p, q in zip(before, params(model)):
        torch.testing.assert_close(p, q, atol=0, rtol=0, equal_nan=True)
    with pytest.raises(NonFiniteLossError, match="lr=0.001"):
        train_vaegan(model.float(), digits[:40], epochs=1, progress=False)


# ------------------------------------------------------------------------------ bad input

def test_bad_input_names_the_argument_and_the_fix(digits):
    model = make_vaegan(3, "mlp")
    opts = optimizers(model)
    x = digits[:8]
    with pytest.raises(ValueError, match=r"x: expected a batch of shape \(N, 784\).*got \(8, 3, 28, 28\)"):
        train_step(model, torch.rand(8, 3, 28, 28), opts)
    with pytest.raises(ValueError, match=r"x: values must lie in \[0, 1\].*divide by 255"):
        train_step(model, x * 255, opts)
    with pytest.raises(ValueError, match=r"x: values must lie in \[0, 1\]"):
        train_step(model, x * 2 - 1, opts)  # images in [-1, 1], the other common convention
    with pytest.raises(ValueError, match=r"x: values must lie in \[0, 1\]"):
        train_step(model, torch.full((8, 784), float("nan")), opts)
    with pytest.raises(TypeError, match="x: expected a floating-point tensor, got torch.uint8"):
        train_vaegan(model, (x * 255).to(torch.uint8), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"x: values must lie in \[0, 1\]"):
        train_vaegan(model, x * 255, epochs=1, progress=False)
    with pytest.raises(ValueError, match="the encoder's optimizer does not hold exactly the encoder's parameters"):
        train_step(model, x, (opts.decoder, opts.encoder, opts.discriminator))
    with pytest.raises(TypeError, match="expected three torch optimizers"):
        train_step(model, x, opts[:2])
    with pytest.raises(ValueError, match="balance must be a finite number > 0"):
        train_step(model, x, opts, balance=-0.1)
    with pytest.raises(ValueError, match="gamma must be a finite number >= 0"):
        train_step(model, x, opts, gamma=-1.0)
    with pytest.raises(ValueError, match="arch must be 'conv' or 'mlp'"):
        make_vaegan(3, "rnn")
    with pytest.raises(ValueError, match="likelihood='bernoulli'"):
        VAEGAN(VAE((784, 32, 2), likelihood="gaussian"))
    with pytest.raises(TypeError, match="not label-conditional"):
        VAEGAN(ConditionalVAE((784, 32, 2)))
    with pytest.raises(TypeError, match="disc: expected a Discriminator"):
        VAEGAN(VAE((784, 32, 2)), disc=torch.nn.Linear(784, 1))
    disc = model.disc
    with pytest.raises(ValueError, match=r"x_tilde: values must lie in \[0, 1\]"):
        feature_reconstruction_loss(disc, x, x - 0.5)
    with pytest.raises(ValueError, match=r"x_tilde: one reconstruction per image, shape \(8, 784\), got \(7, 784\)"):
        feature_reconstruction_loss(disc, x, x[:7])
    with pytest.raises(ValueError, match=r"x_p: expected a batch of shape"):
        discriminator_loss(disc, x, x, torch.rand(3, 10))
    with pytest.raises(TypeError, match=r"x: float64 but the model's weights are float32"):
        disc(x.double())
    with pytest.raises(TypeError, match="model: expected a VAEGAN"):
        train_vaegan(model.vae, x, epochs=1)
    with pytest.raises(TypeError, match="epochs must be a positive int"):
        train_vaegan(model, x, epochs=1.5)
