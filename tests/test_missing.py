"""Imputation (lesson 11) against exact answers: the acceptance ratio against a hand computation
pixel by pixel; the chains' draws against p(x_mis | x_obs) by brute force (a tiny Bernoulli
VAE, summing over x_mis and integrating over a 1-D z on a grid) and in closed form (pPCA);
pseudo-Gibbs and an acceptance ratio with p(x_obs | z) alone failing the same checks.

Monte Carlo checks run N independent chains in parallel and use each chain's last state, so
the N draws are independent and standard errors are the textbook ones: sqrt(p (1 - p) / N) for
a frequency, sqrt(S_ii / N) for a mean, and sqrt((S_ii S_jj + S_ij^2) / N) for a sample
covariance of Gaussian draws (Isserlis). A chain that has not converged fails the same check.
"""
import math

import pytest
import torch

from vae_lessons.distributions import log_bernoulli
from vae_lessons.linear_gaussian import ppca_conditional, ppca_vae
from vae_lessons.missing import (Imputation, fill_with_mean, log_acceptance_ratio, metropolis_within_gibbs,
                                 one_pass, pseudo_gibbs)
from vae_lessons.models import VAE

F64 = torch.float64
SAMPLERS = (pseudo_gibbs, metropolis_within_gibbs)


@pytest.fixture(autouse=True)
def one_thread():
    """Thousands of tiny chains: two threads only contend (10x slower on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gen(seed=1):
    return torch.Generator().manual_seed(seed)


def tiny_bernoulli(seed=0):
    """A nonlinear Bernoulli VAE with D = 4 and L = 1 whose encoder is NOT its posterior: random
    weights, the decoder's made larger so that z matters, and logvar near log 4 (q twice as wide
    as the prior, so that it covers the posterior, whose mean q misses by about 2 posterior SDs)."""
    torch.manual_seed(seed)
    vae = VAE((4, 8, 1), activation="tanh").double()
    with torch.no_grad():
        for p in vae.decoder.parameters():
            p.mul_(3)
        vae.encoder[-1].bias[1:] = math.log(4.0)
    return vae


# --- the acceptance ratio ------------------------------------------------------------------------

def test_log_acceptance_ratio_matches_a_hand_computation_pixel_by_pixel():
    vae = tiny_bernoulli()
    g = gen(3)
    x_hat = (torch.rand(5, 4, generator=g, dtype=F64) < 0.5).to(F64)
    z_new, z_old = torch.randn(5, 1, generator=g, dtype=F64), torch.randn(5, 1, generator=g, dtype=F64)
    with torch.no_grad():
        mu, logvar = vae.encode(x_hat)

        def log_joint_over_q(n, z):             # log p(x_hat | z) + log p(z) - log q(z | x_hat), by hand
            logits = vae.decode(z[n:n + 1])[0]
            total = 0.0
            for d in range(4):                  # every pixel, the missing ones' current values included
                p = 1 / (1 + math.exp(-logits[d].item()))
                total += math.log(p) if x_hat[n, d] == 1 else math.log(1 - p)
            zz, m, lv = z[n, 0].item(), mu[n, 0].item(), logvar[n, 0].item()
            total += -0.5 * (math.log(2 * math.pi) + zz**2)
            total -= -0.5 * (math.log(2 * math.pi) + lv + (zz - m) ** 2 / math.exp(lv))
            return total

        expected = torch.tensor([log_joint_over_q(n, z_new) - log_joint_over_q(n, z_old) for n in range(5)], dtype=F64)
    log_rho = log_acceptance_ratio(vae, x_hat, z_new, z_old)
    torch.testing.assert_close(log_rho, expected, rtol=0, atol=1e-10)
    # reversing the move inverts rho; staying put gives rho = 1
    torch.testing.assert_close(log_acceptance_ratio(vae, x_hat, z_old, z_new), -expected, rtol=0, atol=1e-10)
    torch.testing.assert_close(log_acceptance_ratio(vae, x_hat, z_old, z_old), torch.zeros(5, dtype=F64),
                               rtol=0, atol=1e-12)


def ppca_setup(seed=0):
    """A pPCA with D = 6, L = 2 and orthogonal columns of W (so that the posterior covariance
    sigma2 (W^T W + sigma2 I)^-1 is diagonal and ppca_vae's encoder is the exact p(z | x));
    one image drawn from it, and which of its pixels are observed."""
    g = gen(seed)
    Q, _ = torch.linalg.qr(torch.randn(6, 2, generator=g, dtype=F64))
    W, b, s2 = Q * torch.tensor([2.0, 1.2], dtype=F64), torch.randn(6, generator=g, dtype=F64), 0.3
    x = torch.randn(1, 2, generator=g, dtype=F64) @ W.T + b + math.sqrt(s2) * torch.randn(1, 6, generator=g, dtype=F64)
    observed = torch.tensor([True, True, False, True, False, False])
    return W, b, s2, x, observed


def test_the_ratio_is_one_when_q_is_the_exact_posterior():
    """p(x_hat | z) p(z) / p(z | x_hat) = p(x_hat) for every z, so rho = 1 for any pair of codes."""
    W, b, s2, x, _ = ppca_setup()
    vae = ppca_vae(W, b, s2)
    g = gen(4)
    x_hat = x + torch.randn(7, 6, generator=g, dtype=F64)
    z_new, z_old = 3 * torch.randn(7, 2, generator=g, dtype=F64), 3 * torch.randn(7, 2, generator=g, dtype=F64)
    torch.testing.assert_close(log_acceptance_ratio(vae, x_hat, z_new, z_old), torch.zeros(7, dtype=F64),
                               rtol=0, atol=1e-10)


# --- the chains against exact conditionals -----------------------------------------------------

PATTERNS = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=F64)


def exact_pattern_probabilities(vae, x, observed):
    """p(x_mis | x_obs) of the four values of two missing binary pixels, by brute force: for
    each, the integral of p(x | z) p(z) over a 1-D z by the trapezoid rule on [-10, 10] (whose
    error is far below the Monte Carlo error), then normalised over the four."""
    z = torch.linspace(-10, 10, 20_001, dtype=F64)[:, None]
    with torch.no_grad():
        logits = vae.decode(z)
        log_joint = []
        for pattern in PATTERNS:
            full = x.clone()
            full[~observed] = pattern
            log_joint.append(torch.logsumexp(log_bernoulli(full.expand_as(logits), logits) - z[:, 0] ** 2 / 2, 0))
    return torch.softmax(torch.stack(log_joint), 0)


def pattern_zscores(x_mis, p):
    """z-scores (4,) of the frequencies of the four patterns among independent draws x_mis (n, 2)."""
    freq = torch.stack([(x_mis == pattern).all(1).to(F64).mean() for pattern in PATTERNS])
    return (freq - p) / torch.sqrt(p * (1 - p) / len(x_mis))


def test_mwg_matches_brute_force_on_a_tiny_bernoulli_vae_and_pseudo_gibbs_does_not():
    """Two images with different masks, 10 000 chains each, in one batch. MWG accepts about 30%
    of the proposals and is within 1 SE after 25 steps. (With logvar near 0 instead, a q as
    narrow as the posterior but centred 2 SDs away, it accepts 20% and needs about 200 steps:
    at 50, frequencies are 13 SEs off. An independence proposal must cover the target's tails.)"""
    vae, n = tiny_bernoulli(), 10_000
    x = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype=F64)
    mask = torch.tensor([[True, False, True, False], [False, False, True, True]])
    p = [exact_pattern_probabilities(vae, x[i], mask[i]) for i in range(2)]
    batch_x, batch_mask = x.repeat_interleave(n, 0), mask.repeat_interleave(n, 0)
    mwg = metropolis_within_gibbs(vae, batch_x, batch_mask, 50, generator=gen())
    pg = pseudo_gibbs(vae, batch_x, batch_mask, 50, generator=gen())
    for i in range(2):
        rows = slice(i * n, (i + 1) * n)
        z_mwg = pattern_zscores(mwg.x[rows][:, ~mask[i]], p[i])
        assert z_mwg.abs().max() < 4, z_mwg                   # 4 frequencies, each within 4 SEs
        assert 0.1 < mwg.acceptance[rows].mean() < 0.6
        z_pg = pattern_zscores(pg.x[rows][:, ~mask[i]], p[i])
        assert z_pg.abs().max() > 20, z_pg                    # the same check fails: not p(x_mis | x_obs)


def moment_zscores(x_mis, mean, cov):
    """The largest |z-score| of the sample mean and the sample covariance (each entry on and
    above the diagonal) of independent draws x_mis (N, K) against the Gaussian N(mean, cov)."""
    n = len(x_mis)
    z_mean = (x_mis.mean(0) - mean) / torch.sqrt(torch.diag(cov) / n)
    var = torch.diag(cov)
    z_cov = (torch.cov(x_mis.T) - cov) / torch.sqrt((var[:, None] * var[None, :] + cov**2) / n)
    rows, cols = torch.triu_indices(len(cov), len(cov))
    return max(z_mean.abs().max().item(), z_cov[rows, cols].abs().max().item())


def wrong_encoder(W, b, s2):
    """ppca_vae with its encoder's mean shrunk by 0.8 and its variance doubled: not the posterior."""
    vae = ppca_vae(W, b, s2)
    with torch.no_grad():
        vae.encoder[0].weight[:2] *= 0.8
        vae.encoder[0].bias[:2] *= 0.8
        vae.encoder[0].bias[2:] += math.log(2.0)
    return vae


def run_chains(vae, sampler, x, observed, n_chains, steps):
    return sampler(vae, x.expand(n_chains, 6), observed.expand(n_chains, 6), steps, generator=gen())


def test_mwg_matches_the_exact_ppca_conditional_and_pseudo_gibbs_does_not():
    W, b, s2, x, observed = ppca_setup()
    mean, cov = ppca_conditional(x, observed, W, b, s2)
    vae = wrong_encoder(W, b, s2)
    mwg = run_chains(vae, metropolis_within_gibbs, x, observed, 10_000, 100)
    assert moment_zscores(mwg.x[:, ~observed], mean[0], cov) < 4     # 3 means, 6 covariances
    assert 0.2 < mwg.acceptance.mean() < 0.8
    pg = run_chains(vae, pseudo_gibbs, x, observed, 10_000, 100)
    assert moment_zscores(pg.x[:, ~observed], mean[0], cov) > 20     # its first mean is 74 SEs off
    # with the exact posterior as q, pseudo-Gibbs is a Gibbs sampler, and MWG accepts every proposal
    exact = ppca_vae(W, b, s2)
    pg = run_chains(exact, pseudo_gibbs, x, observed, 10_000, 50)
    assert moment_zscores(pg.x[:, ~observed], mean[0], cov) < 4
    mwg = run_chains(exact, metropolis_within_gibbs, x, observed, 1000, 20)
    assert (mwg.acceptance == 1).all()


@torch.no_grad()
def observed_only_mwg(vae, x, mask, steps, generator):
    """MWG with p(x_obs | z) in place of p(x_obs, x_mis | z) in the ratio (the tempting variant):
    a Gaussian decoder, initial fill b."""
    s2 = vae.log_sigma2.exp()
    x_hat = torch.where(mask, x, vae.decoder[0].bias)
    z = vae.reparameterize(*vae.encode(x_hat), generator=generator)

    def draw(z):
        mean = vae.decode(z)
        return torch.where(mask, x, mean + s2.sqrt() * torch.randn(mean.shape, generator=generator, dtype=F64))

    def log_target_over_q(z, mu, logvar):
        log_obs = (-0.5 * ((x_hat - vae.decode(z)) ** 2 / s2 + torch.log(2 * math.pi * s2)) * mask).sum(1)
        return log_obs - 0.5 * (z**2).sum(1) + 0.5 * (logvar + (z - mu) ** 2 / logvar.exp()).sum(1)

    x_hat = draw(z)
    for _ in range(steps):
        mu, logvar = vae.encode(x_hat)
        z_new = vae.reparameterize(mu, logvar, generator=generator)
        log_rho = log_target_over_q(z_new, mu, logvar) - log_target_over_q(z, mu, logvar)
        accept = torch.log(torch.rand(len(z), generator=generator, dtype=F64)) < log_rho
        z = torch.where(accept[:, None], z_new, z)
        x_hat = draw(z)
    return x_hat


def test_a_ratio_with_the_observed_pixels_alone_is_biased():
    """Even with q the exact posterior, where the right ratio is 1, the variant rejects moves to
    codes that explain the current x_mis less well than z_old (which drew it), and its x_mis are
    too concentrated: the first variance comes out 4.7 SEs low with 4000 chains, 13 with 20 000."""
    W, b, s2, x, observed = ppca_setup()
    mean, cov = ppca_conditional(x, observed, W, b, s2)
    n = 20_000
    x_mis = observed_only_mwg(ppca_vae(W, b, s2), x.expand(n, 6), observed.expand(n, 6), 50, gen())[:, ~observed]
    assert moment_zscores(x_mis, mean[0], cov) > 8


# --- what the functions promise ------------------------------------------------------------------

@pytest.mark.parametrize("sampler", SAMPLERS)
def test_observed_pixels_shapes_determinism_and_unread_missing_pixels(sampler):
    torch.manual_seed(0)
    vae = VAE((784, 2), activation="linear")                             # Bernoulli, 28 x 28 images
    x = (torch.rand(3, 28, 28) < 0.3).float()
    mask = torch.rand(3, 28, 28) < 0.5
    out = sampler(vae, x, mask, 4, keep_samples=True, generator=gen(7))
    assert isinstance(out, Imputation)
    assert out.x.shape == out.mean.shape == (3, 784) and out.samples.shape == (4, 3, 784)
    flat_x, flat_mask = x.reshape(3, 784), mask.reshape(3, 784)
    for images in (out.x, out.mean, *out.samples):
        assert torch.equal(images[flat_mask], flat_x[flat_mask])        # observed pixels never change
    assert torch.equal(out.samples[-1], out.x)
    assert ((out.x == 0) | (out.x == 1)).all()                          # a draw: binary pixels
    missing = out.mean[~flat_mask]
    assert ((missing > 0) & (missing < 1)).all()                        # a mean: probabilities
    if sampler is metropolis_within_gibbs:
        assert out.acceptance.shape == (3,) and ((out.acceptance >= 0) & (out.acceptance <= 1)).all()
    else:
        assert out.acceptance is None
    # the same generator seed gives the same run; the values at missing pixels are never read
    garbage = torch.where(mask, x, torch.tensor(float("nan")))
    again = sampler(vae, garbage, mask, 4, keep_samples=True, generator=gen(7))
    for a, b in zip(out, again):
        assert (a is None and b is None) or torch.equal(a, b)
    assert sampler(vae, x, mask, 4, generator=gen(7)).samples is None


def test_the_initial_fill_is_init_or_the_decoders_mean_at_z_0():
    W, b, s2, x, observed = ppca_setup()
    vae = ppca_vae(W, b, s2)
    # one_pass: the encoder's mean of (x_obs, fill), decoded; the default fill is decode(0) = b
    mu = vae.encode(torch.where(observed, x, b))[0]
    expected = torch.where(observed, x, mu @ W.T + b).detach()
    torch.testing.assert_close(one_pass(vae, x, observed[None], None), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(one_pass(vae, x, observed[None], b), expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(fill_with_mean(x, observed[None], b), torch.where(observed, x, b))
    # the chains start from init: pseudo-Gibbs's first z is drawn from q(z | x_obs, init)
    init = torch.full((6,), 5.0, dtype=F64)
    g = gen(2)
    z = vae.reparameterize(*vae.encode(torch.where(observed, x, init)), generator=g)
    first = vae.decode(z) + math.sqrt(s2) * torch.randn(1, 6, generator=g, dtype=F64)
    out = pseudo_gibbs(vae, x, observed[None], 1, init=init, generator=gen(2))
    torch.testing.assert_close(out.x, torch.where(observed, x, first).detach(), rtol=0, atol=1e-12)


# --- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("sampler", SAMPLERS)
def test_bad_input_gives_one_clear_error_each(sampler):
    torch.manual_seed(0)
    vae = VAE((6, 2), activation="linear")
    x = (torch.rand(4, 6) < 0.5).float()
    mask = torch.tensor([[True, False] * 3] * 4)
    cases = [
        (ValueError, r"mask: shape \(4, 5\) does not match x's \(4, 6\)", dict(mask=mask[:, :5])),
        (ValueError, "mask: image 2 has no missing pixel: nothing to fill in",
         dict(mask=torch.cat([mask[:2], torch.ones(2, 6, dtype=torch.bool)]))),
        (ValueError, "mask: image 1 has no observed pixel: nothing to condition on",
         dict(mask=torch.cat([mask[:1], torch.zeros(3, 6, dtype=torch.bool)]))),
        (TypeError, r"mask: expected a bool tensor \(True = observed\), got .*int64 \(its values are 0 and 1: "
                    r"pass mask.bool\(\)\)", dict(mask=mask.long())),
        (TypeError, r"mask: expected a bool tensor .*float32$", dict(mask=mask.float() * 0.5)),
        (TypeError, "mask: expected a torch.Tensor, got ndarray", dict(mask=mask.numpy())),
        (ValueError, "steps must be a positive int, got 0", dict(steps=0)),
        (TypeError, "steps must be a positive int, got 2.0", dict(steps=2.0)),
        (ValueError, r"x \(its observed pixels\): holds NaN", dict(x=torch.where(mask, float("nan"), x))),
        (ValueError, r"x \(its observed pixels\): values must lie in \[0, 1\]", dict(x=torch.where(mask, 3.0, x))),
        (TypeError, "x: float64 but the model's weights are float32", dict(x=x.double())),
        (ValueError, r"init: shape \(5,\) does not broadcast to x's \(4, 6\)", dict(init=torch.zeros(5))),
    ]
    for error, message, change in cases:
        args = dict(x=x, mask=mask, steps=2) | change
        with pytest.raises(error, match=message):
            sampler(vae, args["x"], args["mask"], args["steps"], init=args.get("init"), generator=gen())
