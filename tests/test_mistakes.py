"""The mistakes of vae_lessons.mistakes (issue 12), each WRONG ON PURPOSE: every test asserts the
mistake's symptom for the broken variant AND its absence for the correct code, with the same
data, initial weights and seeds, so that neither half can pass vacuously and a future change
cannot quietly make a symptom vanish (or appear in the correct code).

Everything is small: a 784-64-4 VAE, the first 2,000 bundled training images (binarized
dynamically per batch, as the course trains) and the first 1,000 test images (binarized once,
seed 0), 10 epochs of Adam at 1e-3 (about 0.6 s per model on one thread). Exact statements are
tested exactly; each chosen threshold says what was measured and why the margin is safe.
"""
import copy
import math
import re

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Normal, kl_divergence

import vae_lessons as V
from vae_lessons import mistakes as M
from vae_lessons.aggregate import moment_matched_kl
from vae_lessons.diagnostics import active_units
from vae_lessons.distributions import gaussian_kl, log_bernoulli
from vae_lessons.objectives import elbo, elbo_parts, vae_loss
from vae_lessons.validation import check_pixels

DIMS = (784, 64, 4)
D, L = DIMS[0], DIMS[-1]
EPOCHS = 10
F64 = torch.float64


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: a second thread only contends on the shared 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def data():
    """(x_train grey (2000, 784), x_test binarized once (1000, 784), x_test grey (1000, 784))."""
    x_train = V.load_mnist("train")[0][:2000].reshape(-1, D)
    grey = V.load_mnist("test")[0][:1000].reshape(-1, D)
    return x_train, V.binarize_static(grey, seed=0), grey


def fresh(cls=V.VAE):
    """A model with the same initial weights whatever its class (the layer sizes are the same)."""
    V.seed_everything(0)
    return cls(DIMS)


def fit(model, loss_fn, x_train, epochs=EPOCHS):
    """Train exactly as the course does: train()'s seeded loop, a fresh binarization per batch."""
    V.train(model, x_train, lambda m, b: loss_fn(m, V.binarize_dynamic(b)), epochs=epochs,
            batch_size=100, lr=1e-3, seed=0, progress=False)
    return model


@pytest.fixture(scope="module")
def trained(data):
    """The correct model: models.VAE trained with objectives.vae_loss (the baseline of every
    comparison below; a broken variant is trained the same way from the same weights)."""
    return fit(fresh(), vae_loss, data[0])


def posteriors(model, x):
    with torch.no_grad():
        return model.encode(x)


def same_draw(call, seed=7):
    torch.manual_seed(seed)
    return call()


# ------------------------------------------------------------------------------ contracts

def test_the_module_imports_and_every_mistake_in_its_table_exists():
    import importlib
    module = importlib.import_module("vae_lessons.mistakes")
    table = re.findall(r"^ {4}(\d+)\s+([A-Za-z_]\w*)", module.__doc__, flags=re.M)
    assert [int(n) for n, _ in table] == list(range(1, 13))  # 13 is the package's own check, not a name
    for _, name in table:
        assert callable(getattr(module, name)), name
    assert M.LogvarOnlyVAE.reparameterize is M.reparameterize_logvar_only
    assert M.VarianceAsStdVAE.reparameterize is M.reparameterize_variance_as_std


LOSSES = (M.loss_kl_sign_flipped, M.loss_kl_only, M.loss_reconstruction_only, M.loss_mean_pixels_sum_kl,
          M.loss_sum_pixels_mean_kl)


@pytest.mark.parametrize("loss_fn", LOSSES + (M.loss_mean_variance_decoder,), ids=lambda f: f.__name__)
def test_every_loss_has_trains_signature(loss_fn, data):
    """loss_fn(model, x) -> (scalar loss, parts with "recon" and "kl"), and train() runs it."""
    model = fresh(M.MeanVarianceDecoderVAE if loss_fn is M.loss_mean_variance_decoder else V.VAE)
    loss, parts = loss_fn(model, data[1][:32])
    assert isinstance(loss, torch.Tensor) and loss.shape == () and torch.isfinite(loss)
    assert {"recon", "kl"} <= set(parts)
    assert all(isinstance(v, torch.Tensor) and v.shape == () for v in parts.values())
    history = V.train(model, data[0][:64], lambda m, b: loss_fn(m, V.binarize_dynamic(b)), epochs=1,
                      batch_size=32, progress=False)
    assert len(history) == 1 and {"loss", "recon", "kl"} <= set(history.keys())


def test_each_loss_is_the_formula_its_docstring_gives_in_terms_of_vae_losss_parts(data):
    """With the same z (the same seed), each broken loss is the stated combination of the
    correct negative ELBO's two parts, and reports those very parts."""
    model, x = fresh(), data[1][:64]
    _, ref = same_draw(lambda: vae_loss(model, x))
    recon, kl = ref["recon"], ref["kl"]
    expected = {M.loss_kl_sign_flipped: recon - kl, M.loss_kl_only: kl, M.loss_reconstruction_only: recon,
                M.loss_mean_pixels_sum_kl: recon / D + kl, M.loss_sum_pixels_mean_kl: recon + kl / L}
    for loss_fn, value in expected.items():
        loss, parts = same_draw(lambda: loss_fn(model, x))
        torch.testing.assert_close(loss, value, msg=loss_fn.__name__)
        assert torch.equal(parts["recon"], recon) and torch.equal(parts["kl"], kl), loss_fn.__name__
    loss, _ = same_draw(lambda: M.loss_kl_sign_flipped(model, x, lam=3.0))
    torch.testing.assert_close(loss, recon - 3 * kl)


# ------------------------------------------------------------------------------ 1. the KL's sign flipped

def kl_path(loss_fn, x, steps=30, lr=1e-2):
    """The batch KL before each of `steps` Adam steps on one batch, and after the last."""
    model = fresh()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    torch.manual_seed(0)
    kls = []
    for step in range(steps + 1):
        loss, parts = loss_fn(model, x)
        kls.append(parts["kl"].item())
        if step < steps:
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return kls


def test_flipped_kl_sign_makes_the_kl_climb_by_orders_of_magnitude(data):
    x = data[1][:128]
    flipped, correct = kl_path(M.loss_kl_sign_flipped, x), kl_path(vae_loss, x)
    assert flipped[0] == correct[0] < 0.1  # the same start: a fresh encoder's codes sit near the prior
    # measured: 0.021 -> 1.1e9 (step 15) -> 5.9e22 nats (step 30): exp(logvar) grows exponentially;
    # 1e6 leaves 16 orders of magnitude of margin, and inf (overflow) would still be the symptom.
    assert flipped[-1] > 1e6 and flipped[-1] > flipped[15] > flipped[0]
    # measured: the correct loss's KL peaks at 36 nats, then settles near 6 (what 4 codes carry);
    # 1e3 is 30 times that peak and still 1e3 times below the flipped KL's floor above.
    assert max(correct) < 1e3 and all(math.isfinite(k) for k in correct)
    with pytest.raises(ValueError, match="beta must be a finite number >= 0"):  # the fix refuses the flip
        vae_loss(fresh(), x, beta=-1.0)


# ------------------------------------------------------------------------------ 2. the KL alone

def is_zero(grad):
    return grad is None or bool((grad == 0).all())


def test_kl_alone_gives_the_decoder_no_gradient_at_all(data):
    x = data[1][:64]
    broken, correct = fresh(), fresh()
    M.loss_kl_only(broken, x)[0].backward()
    vae_loss(correct, x)[0].backward()
    assert all(is_zero(p.grad) for p in broken.decoder.parameters())
    assert not is_zero(broken.encoder[-1].weight.grad)  # the KL does push the encoder (to the prior)
    assert not any(is_zero(p.grad) for p in correct.decoder.parameters())


def test_kl_alone_leaves_codes_that_carry_nothing(data, trained):
    x_train, x_test, _ = data
    broken = fit(fresh(), M.loss_kl_only, x_train)
    count, activity = active_units(broken, x_test)
    # measured activities 2e-5 to 1.4e-4: 0 units above 0.01; and below 1e-3, which a fresh
    # encoder's (2.8e-3 to 6.2e-3) are not: the test fails if the loss does not erase the codes
    assert count == 0 and activity.max() < 1e-3
    mu, logvar = posteriors(broken, x_test)
    # measured mean KL 2e-4 nats (a fresh encoder's: 0.020): q(z|x) = N(0, I) within 0.01 nats
    assert gaussian_kl(mu, logvar).mean() < 0.01
    count_ok, _ = active_units(trained, x_test)
    mu_ok, logvar_ok = posteriors(trained, x_test)
    assert count_ok > 0 and gaussian_kl(mu_ok, logvar_ok).mean() > 1.0  # measured: 4 units, 9 nats


# ------------------------------------------------------------------------------ 3. reconstruction alone

def test_reconstruction_alone_lets_the_aggregate_posterior_drift_from_the_prior(data, trained):
    x_train, x_test, _ = data
    broken = fit(fresh(), M.loss_reconstruction_only, x_train)
    mu, logvar = posteriors(broken, x_test)
    mu_ok, logvar_ok = posteriors(trained, x_test)
    drift, drift_ok = moment_matched_kl(mu, logvar), moment_matched_kl(mu_ok, logvar_ok)
    kl, kl_ok = gaussian_kl(mu, logvar).mean().item(), gaussian_kl(mu_ok, logvar_ok).mean().item()
    # measured: KL(moment-matched q(z) || N(0, I)) 80 vs 6 nats, KL term 88 vs 9 nats (13x and
    # 10x); a factor 4 fails if the KL-less model stays near the prior, with room for other BLAS.
    assert drift > 4 * drift_ok and kl > 4 * kl_ok


# ------------------------------------------------------------------------------ 4. a sigmoid encoder

def test_sigmoid_encoder_confines_the_codes_and_cannot_reach_the_prior(data, trained):
    x_train, x_test, _ = data
    eps = M.SigmoidEncoderVAE.eps
    untrained = fresh(M.SigmoidEncoderVAE)
    broken = fit(fresh(M.SigmoidEncoderVAE), vae_loss, x_train)
    for model in (untrained, broken):
        # float64: in float32, sigmoid(h) rounds to exactly 1.0 for h > 16.6, and the trained
        # encoder goes there (measured max h = 25, mu = 1.0 in float32 for up to 6% of images);
        # float64 keeps the interval open up to h = 36.7
        mu, logvar = posteriors(copy.deepcopy(model).double(), x_test.double())
        var = logvar.exp()
        assert (mu > 0).all() and (mu < 1).all()
        assert (var > eps).all() and (var <= (1 + eps) * (1 + 1e-12)).all()  # exp(log(.)) rounding
        assert (gaussian_kl(mu, logvar) > 0).all()  # every image pays some KL
        mu32, logvar32 = posteriors(model, x_test)  # float32: the closed intervals, at least
        assert (mu32 >= 0).all() and (mu32 <= 1).all() and (logvar32.exp() <= (1 + eps) * (1 + 1e-6)).all()
    mu_ok, _ = posteriors(trained, x_test)
    assert (mu_ok < 0).any() and (mu_ok > 1).any()  # the correct encoder's means leave (0, 1)

    # "say nothing about x": the output layer zeroed gives q = N(0, I) (KL = 0 exactly) for the
    # correct VAE, but mu = 1/2, sigma^2 = 1/2 + eps for the sigmoid encoder: KL 0.22 nats a coordinate
    zeroed = {}
    for cls in (V.VAE, M.SigmoidEncoderVAE):
        model = fresh(cls)
        with torch.no_grad():
            model.encoder[-1].weight.zero_()
            model.encoder[-1].bias.zero_()
        zeroed[cls] = gaussian_kl(*posteriors(model, x_test[:8]))
    assert (zeroed[V.VAE] == 0).all()
    v = 0.5 + eps
    torch.testing.assert_close(zeroed[M.SigmoidEncoderVAE], torch.full((8,), L * 0.5 * (v - 1 - math.log(v) + 0.25)))


def test_a_prior_draw_lands_in_the_sigmoid_encoders_unit_cube_with_probability_0341_to_the_L():
    p1 = (Normal(0.0, 1.0).cdf(torch.tensor(1.0, dtype=F64)) - 0.5).item()
    assert p1 == pytest.approx(0.3413, abs=1e-4)  # the docstring's number
    n = 200_000
    z = torch.randn(n, L, generator=torch.Generator().manual_seed(0))
    frequency = ((z > 0) & (z < 1)).all(-1).double().mean().item()
    p = p1**L  # 0.0136
    assert abs(frequency - p) < 4 * math.sqrt(p * (1 - p) / n)


# ------------------------------------------------------------------------------ 5. decoding (mu, sigma^2)

def test_mean_variance_decoder_is_deterministic_and_cannot_decode_prior_codes(data):
    x = data[1][:16]
    torch.manual_seed(0)
    broken, correct = M.MeanVarianceDecoderVAE(DIMS), V.VAE(DIMS)
    first, second = broken(x), broken(x)
    assert all(torch.equal(a, b) for a, b in zip(first, second))  # nothing is sampled
    assert not torch.equal(correct(x).logits, correct(x).logits)  # a VAE decodes a fresh z each pass
    loss_a, _ = M.loss_mean_variance_decoder(broken, x)
    loss_b, parts = M.loss_mean_variance_decoder(broken, x)
    assert torch.isfinite(loss_a) and torch.equal(loss_a, loss_b) and {"recon", "kl"} <= set(parts)
    assert not torch.equal(vae_loss(correct, x)[0], vae_loss(correct, x)[0])

    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):  # codes of L numbers, a 2 L input
        broken.decoder(torch.randn(5, L))
    samples = correct.sample(5, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (5, D) and (samples >= 0).all() and (samples <= 1).all()


# ------------------------------------------------------------------------------ 6. z = logvar + eps exp(logvar)

def leaves(mu=2.0, logvar=-1.0, n=200_000):
    return (torch.full((n,), mu, dtype=F64, requires_grad=True),
            torch.full((n,), logvar, dtype=F64, requires_grad=True))


@pytest.mark.parametrize("reparameterize", (M.reparameterize_logvar_only, V.VAE.reparameterize),
                         ids=("logvar_only", "correct"))
def test_logvar_only_sampling_gives_mu_no_gradient(reparameterize):
    mu, logvar = leaves(n=10)
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    torch.sin(z).sum().backward()  # any function of z
    if reparameterize is M.reparameterize_logvar_only:
        assert is_zero(mu.grad) and not is_zero(logvar.grad)
    else:
        assert not is_zero(mu.grad) and (mu.grad != 0).all()


def test_logvar_only_vae_sends_no_reconstruction_gradient_to_the_mean_half_of_the_encoder(data):
    x = data[1][:64]
    broken, correct = fresh(M.LogvarOnlyVAE), fresh()
    same_draw(lambda: -elbo_parts(broken, x)[0].mean()).backward()
    same_draw(lambda: -elbo_parts(correct, x)[0].mean()).backward()
    last, last_ok = broken.encoder[-1], correct.encoder[-1]  # output rows: mu (first L), then logvar
    assert (last.weight.grad[:L] == 0).all() and (last.bias.grad[:L] == 0).all()
    assert (last.weight.grad[L:] != 0).any()
    assert (last_ok.weight.grad[:L] != 0).any() and (last_ok.bias.grad[:L] != 0).all()
    # so with the full loss, the mean half learns from the KL alone (which pulls mu to 0)
    broken.zero_grad()
    same_draw(lambda: vae_loss(broken, x)[0]).backward()
    full = last.weight.grad[:L].clone()
    broken.zero_grad()
    same_draw(lambda: elbo_parts(broken, x)[1].mean()).backward()
    torch.testing.assert_close(full, last.weight.grad[:L])


def test_logvar_only_samples_centre_on_logvar_not_mu():
    mu, logvar = leaves(mu=2.0, logvar=-1.0)
    n, g = len(mu), torch.Generator().manual_seed(0)
    with torch.no_grad():
        wrong = M.reparameterize_logvar_only(mu, logvar, generator=g)
        right = V.VAE.reparameterize(mu, logvar, generator=g)
    se_wrong, se_right = math.exp(-1.0) / math.sqrt(n), math.exp(-0.5) / math.sqrt(n)  # sd / sqrt(n)
    assert abs(wrong.mean().item() - (-1.0)) < 4 * se_wrong   # at logvar,
    assert abs(wrong.mean().item() - 2.0) > 1000 * se_wrong   # 3 nats from mu (3,600 SE)
    assert abs(right.mean().item() - 2.0) < 4 * se_right


# ------------------------------------------------------------------------------ 7. the variance as the SD

def test_variance_as_std_samples_have_variance_exp_2_logvar():
    n = 200_000
    mu, logvar = leaves(mu=0.5, logvar=1.0, n=n)
    with torch.no_grad():
        wrong = M.reparameterize_variance_as_std(mu, logvar, generator=torch.Generator().manual_seed(0))
        right = V.VAE.reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    # the same eps: the error is exactly a factor exp(logvar / 2) on the deviation from mu
    torch.testing.assert_close(wrong - mu, (right - mu) * math.exp(0.5), rtol=1e-12, atol=1e-12)

    def se(var):  # the standard error of a Gaussian sample variance
        return var * math.sqrt(2 / (n - 1))

    e2, e1 = math.exp(2.0), math.exp(1.0)  # 7.39 vs 2.72: 200 SE apart
    assert abs(wrong.var().item() - e2) < 4 * se(e2) and abs(wrong.var().item() - e1) > 100 * se(e2)
    assert abs(right.var().item() - e1) < 4 * se(e1) and abs(right.var().item() - e2) > 100 * se(e1)


# ------------------------------------------------------------------------------ 8. noise on the output

def test_output_noise_leaves_0_1_and_breaks_every_bernoulli_likelihood(data, trained):
    x = data[1][:64]
    with torch.no_grad():  # z ~ q(z|x), the codes a training loss decodes
        mu, logvar = trained.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=torch.Generator().manual_seed(0))
        noisy = M.decode_with_output_noise(trained, z, generator=torch.Generator().manual_seed(1))
        logits = trained.decode(z)
    clean = torch.sigmoid(logits)
    # the background pixels' means are near 0 (median 0.05), so noise of SD 0.1 takes many below
    # 0: measured 25% of all pixels, at least 12 in every image; the floors are 10% and 1
    outside = (noisy < 0) | (noisy > 1)
    assert outside.double().mean() > 0.1 and outside.any(-1).all()
    assert torch.isnan(M.bernoulli_nll_by_hand(x, noisy)).all()  # a NaN in every image
    with pytest.raises(RuntimeError, match="between 0 and 1"):
        F.binary_cross_entropy(noisy, x)
    with pytest.raises(ValueError, match=r"values must lie in \[0, 1\]"):
        check_pixels(noisy, "x_hat")
    with pytest.raises(ValueError, match=r"x: values must lie in \[0, 1\]"):
        log_bernoulli(noisy, logits)  # the package's Bernoulli refuses a value outside [0, 1]
    with pytest.raises(ValueError, match="Interval"):
        Bernoulli(probs=noisy)  # and so does torch.distributions'
    # the fix: no noise on the output. Every mean in [0, 1], every likelihood finite and agreeing
    assert (clean >= 0).all() and (clean <= 1).all()
    by_hand = M.bernoulli_nll_by_hand(x, clean)
    assert torch.isfinite(by_hand).all()
    torch.testing.assert_close(by_hand, -log_bernoulli(x, logits), rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(F.binary_cross_entropy(clean, x, reduction="none").sum(-1), by_hand,
                               rtol=1e-5, atol=1e-3)


# ------------------------------------------------------------------------------ 9. mean over pixels, sum over codes

def test_mean_pixels_sum_kl_is_beta_D_in_disguise_and_sum_pixels_mean_kl_is_beta_1_over_L(data):
    model, x = fresh(), data[1][:64]
    for seed in (0, 1, 2):
        wrong, _ = same_draw(lambda: M.loss_mean_pixels_sum_kl(model, x), seed)
        right, _ = same_draw(lambda: vae_loss(model, x, beta=D), seed)
        torch.testing.assert_close(D * wrong, right)
        wrong, _ = same_draw(lambda: M.loss_sum_pixels_mean_kl(model, x), seed)
        right, _ = same_draw(lambda: vae_loss(model, x, beta=1 / L), seed)
        torch.testing.assert_close(wrong, right)


def test_mean_pixels_sum_kl_collapses_every_code(data, trained):
    x_train, x_test, _ = data
    broken = fit(fresh(), M.loss_mean_pixels_sum_kl, x_train)
    count, activity = active_units(broken, x_test)
    assert count == 0 and activity.max() < 1e-3  # measured at most 1.6e-4 (fresh: 2.8e-3 and up)
    assert active_units(trained, x_test)[0] > 0   # measured 4


# ------------------------------------------------------------------------------ 10. the ELBO at z = mu

def test_elbo_at_mean_is_log_likelihood_at_mu_minus_kl_exactly(data, trained):
    x = data[1][:100]
    with torch.no_grad():
        mu, logvar = trained.encode(x)
        expected = trained.log_likelihood(x, mu) - gaussian_kl(mu, logvar)
    assert torch.equal(M.elbo_at_mean(trained, x), expected)
    assert torch.equal(M.elbo_at_mean(trained, x), M.elbo_at_mean(trained, x))  # nothing sampled


def test_elbo_at_mean_is_biased_upwards_on_a_trained_model(data, trained):
    x = data[1]
    torch.manual_seed(0)
    with torch.no_grad():
        at_mean = M.elbo_at_mean(trained, x)
        sampled = torch.stack([elbo(trained, x) for _ in range(20)]).mean(0)  # 20 z per image
    diff = at_mean - sampled  # paired over the same 1,000 test images
    se = diff.std().item() / math.sqrt(len(diff))
    # measured: 2.17 nats per image, SE 0.074 (30 SE); 5 SE is far from noise and far below
    assert diff.mean().item() > 5 * se


def test_with_a_linear_decoder_the_elbo_at_mean_is_above_every_antithetic_pair():
    """A decoder linear in z makes log p(x|z) = x.l(z) - sum softplus(l(z)) concave in z, so the
    average over z = mu + d and mu - d is at most its value at mu (Jensen, pair by pair): the
    ELBO at the mean is above the sampled ELBO's antithetic average for every image and draw."""
    torch.manual_seed(0)
    model = V.VAE((D, L), activation="linear").double()
    x = (torch.rand(50, D, dtype=F64) < 0.3).double()
    with torch.no_grad():
        mu, logvar = model.encode(x)
        at_mean = M.elbo_at_mean(model, x)
        for _ in range(20):
            d = torch.exp(0.5 * logvar) * torch.randn(mu.shape, dtype=F64)
            pair = 0.5 * (model.log_likelihood(x, mu + d) + model.log_likelihood(x, mu - d)) - gaussian_kl(mu, logvar)
            assert (pair <= at_mean + 1e-9).all()  # float64 rounding of numbers near 500
            assert (pair < at_mean).any()


# ------------------------------------------------------------------------------ 11. BCE on grey pixels

def test_binary_entropy_floor_is_the_bernoulli_entropy_and_zero_for_binary_images(data):
    _, binary, grey = data
    floor = M.binary_entropy_floor(grey.double())
    assert (floor >= 0).all() and (floor > 0).all()  # every MNIST digit has grey edge pixels
    torch.testing.assert_close(floor, Bernoulli(probs=grey.double()).entropy().sum(-1), rtol=0, atol=1e-9)
    assert (M.binary_entropy_floor(binary) == 0).all()  # exactly: 0 log 0 = 1 log 1 = 0
    assert (M.binary_entropy_floor(grey.reshape(-1, 28, 28)) == M.binary_entropy_floor(grey)).all()


def test_bce_on_grey_pixels_is_the_floor_plus_a_kl_and_never_below_the_floor(data, trained):
    # the identity, for random x in [0, 1] and random means, against torch.distributions
    g = torch.Generator().manual_seed(0)
    x, logits = torch.rand(8, D, generator=g, dtype=F64), 4 * torch.randn(8, D, generator=g, dtype=F64)
    bce, entropy = -log_bernoulli(x, logits), Bernoulli(probs=x).entropy().sum(-1)
    kl = kl_divergence(Bernoulli(probs=x), Bernoulli(logits=logits)).sum(-1)
    torch.testing.assert_close(bce, entropy + kl, rtol=1e-10, atol=1e-8)
    torch.testing.assert_close(M.binary_entropy_floor(x), entropy, rtol=1e-12, atol=1e-9)
    # the floor is reached at p = x, and only there
    torch.testing.assert_close(-log_bernoulli(x, torch.logit(x)), M.binary_entropy_floor(x), rtol=1e-10, atol=1e-8)
    assert (bce > M.binary_entropy_floor(x)).all()

    # bce_grey on a trained model: its own z, reproduced by hand, and above the floor for every image
    grey = data[2][:200]
    got = M.bce_grey(trained, grey, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        mu, logvar = trained.encode(grey)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
        expected = -log_bernoulli(grey, trained.decode(z))
    torch.testing.assert_close(got, expected)
    assert (got >= M.binary_entropy_floor(grey)).all()
    with pytest.raises(ValueError, match="divide by 255"):
        M.bce_grey(trained, grey * 255)


# ------------------------------------------------------------------------------ 12. no decoder module

def test_write_up_vae_has_no_decoder_and_the_fix_shares_its_layers():
    torch.manual_seed(0)
    broken, fixed = M.WriteUpVAE(DIMS), M.WriteUpVAEFixed(DIMS)
    with pytest.raises(AttributeError):
        broken.decoder
    assert not hasattr(broken, "decode")
    x = (torch.rand(6, D) < 0.3).float()
    for model in (broken, fixed):
        logits, mu, logvar = model(x)  # forward still works
        assert logits.shape == (6, D) and mu.shape == logvar.shape == (6, L)

    assert fixed.decoder(torch.randn(5, L)).shape == (5, D)
    assert fixed.decoder[0] is fixed.fc3 and fixed.decoder[2] is fixed.fc4
    ids = {id(p) for p in fixed.decoder.parameters()}
    assert ids == {id(p) for p in (*fixed.fc3.parameters(), *fixed.fc4.parameters())}
    assert sum(p.numel() for p in fixed.parameters()) == sum(p.numel() for p in broken.parameters())
    # the decoder is forward's own decoding path: the same z gives the same logits, exactly
    logits, mu, logvar = same_draw(lambda: fixed(x))
    eps = same_draw(lambda: torch.randn_like(mu))
    with torch.no_grad():
        assert torch.equal(fixed.decoder(mu + torch.exp(0.5 * logvar) * eps), logits)


# ------------------------------------------------------------------------------ 13. pixels in 0..255

def test_bytes_are_refused_with_the_fix_named_and_scaled_pixels_train(data):
    model, grey = fresh(), data[2][:16]
    with pytest.raises(ValueError, match="divide by 255"):
        vae_loss(model, grey * 255)
    loss, _ = vae_loss(model, V.binarize_static(grey, seed=0))
    assert torch.isfinite(loss)


def test_without_the_check_a_pixel_of_255_makes_the_bernoulli_loss_unbounded_below():
    logits = torch.tensor([0.0, 10.0, 100.0, 1e3, 1e4], dtype=F64)

    def by_hand(x):  # -(x l - softplus(l)): the loss of one pixel, with no check on x
        return -(x * logits - F.softplus(logits))

    loss = by_hand(255.0)
    assert (loss.diff() < 0).all() and loss[-1] < -2.5e6  # about -254 l: no minimum, training diverges
    wide = torch.linspace(-1e4, 1e4, 20_001, dtype=F64)
    for x in (0.0, 0.5, 1.0):  # a pixel in [0, 1]: softplus(l) >= max(0, l) >= x l, so the loss is >= 0
        assert (-(x * wide - F.softplus(wide)) >= 0).all()
