"""Structured output prediction (lesson 12): masks and splits; the baseline's exact likelihood
and the CVAE's terms against torch.distributions; the importance-sampling estimate of
log p(y | x) against its one-sample ELBO (k = 1), rising with k, and against brute-force
integration over a 1-D z on a tiny model; bad input, one clear error each."""
import math

import pytest
import torch
from torch.distributions import Bernoulli, Independent, Normal, kl_divergence

from vae_lessons.structured import (OutputMLP, StructuredCVAE, conditional_elbo_parts, conditional_iwae,
                                    cvae_loss, join, mlp_loss, quadrant_mask, split)

F64 = torch.float64


def binary(*shape, seed=0):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


def tiny_cvae(seed=0):
    """x: 2 pixels, y: 3 pixels, z: 1-D, float64; the generation network's weights made larger
    so that z matters, and q's logvar near log 4 (wider than the prior, so that the importance
    weights have a finite variance) with a mean that is not the posterior's."""
    torch.manual_seed(seed)
    model = StructuredCVAE(2, 3, hidden=8, latent_dim=1, activation="tanh").double()
    with torch.no_grad():
        for p in model.generation_net.parameters():
            p.mul_(3)
        model.recognition_net[-1].bias[1:] = math.log(4.0)
    return model


# --- masks, split and join ---------------------------------------------------------------------

def test_quadrant_masks():
    top = quadrant_mask("top")
    assert top.shape == (784,) and top.dtype == torch.bool
    assert top[:392].all() and not top[392:].any()                 # rows 0-13 are the first 392 pixels
    image = top.reshape(28, 28)
    left = quadrant_mask(("top-left", "bottom-left")).reshape(28, 28)
    assert torch.equal(left, quadrant_mask("left").reshape(28, 28)) and left[:, :14].all() and not left[:, 14:].any()
    one = quadrant_mask(["bottom-left"]).reshape(28, 28)
    assert one.sum() == 196 and one[14:, :14].all()
    three = quadrant_mask(("left", "top-right")).reshape(28, 28)  # Pyro's 3 quadrants: bottom-right is the target
    assert three.sum() == 588 and not three[14:, 14:].any()
    assert torch.equal(image, quadrant_mask(("top-right", "top-left")).reshape(28, 28))


def test_split_and_join_are_inverse():
    images, mask = torch.rand(5, 28, 28), quadrant_mask("top")
    x, y = split(images, mask)
    assert x.shape == (5, 392) and y.shape == (5, 392)
    assert torch.equal(x, images.reshape(5, 784)[:, :392])
    assert torch.equal(join(x, y, mask), images.reshape(5, 784))
    mask = quadrant_mask("bottom-left")
    x, y = split(images, mask)
    assert x.shape == (5, 196) and y.shape == (5, 588)
    assert torch.equal(join(x, y, mask), images.reshape(5, 784))
    many = torch.rand(4, 5, 588)                                # samples of y share their image's x
    joined = join(x, many, mask)
    assert joined.shape == (4, 5, 784) and torch.equal(joined[2], join(x, many[2], mask))


def test_bad_masks_give_one_clear_error_each():
    images = torch.rand(3, 784)
    cases = [(torch.ones(784), TypeError, "mask: expected a bool tensor"),
             (torch.ones(28, 28, dtype=torch.bool), ValueError, r"shape \(784,\), got \(28, 28\)"),
             (torch.ones(784, dtype=torch.bool), ValueError, "every pixel is given: there is nothing to predict"),
             (torch.zeros(784, dtype=torch.bool), ValueError, "no pixel is given: there is nothing to condition on")]
    for mask, error, message in cases:
        with pytest.raises(error, match=message):
            split(images, mask)
    with pytest.raises(ValueError, match="given: unknown part 'middle'"):
        quadrant_mask("middle")
    with pytest.raises(ValueError, match=r"every pixel is given"):
        quadrant_mask(("top", "bottom"))
    with pytest.raises(ValueError, match=r"images: expected a batch of shape \(N, 784\)"):
        split(torch.rand(3, 392), quadrant_mask("top"))


# --- the models ------------------------------------------------------------------------------

def test_shapes():
    x, y = binary(6, 392), binary(6, 392, seed=1)
    net = OutputMLP(392, 392)
    assert net(x).shape == (6, 392) and net.log_likelihood(x, y).shape == (6,)
    cvae = StructuredCVAE(392, 392, hidden=32, latent_dim=5)
    assert [t.shape for t in cvae.prior(x)] == [(6, 5), (6, 5)]
    assert [t.shape for t in cvae.posterior(x, y)] == [(6, 5), (6, 5)]
    assert cvae.decode(x, torch.randn(6, 5)).shape == (6, 392)
    assert cvae.log_likelihood(x, y, torch.randn(4, 6, 5)).shape == (4, 6)
    samples = cvae.sample(x, 3)
    assert samples.shape == (3, 6, 392) and 0 < samples.min() and samples.max() < 1
    assert [t.shape for t in conditional_elbo_parts(cvae, x, y)] == [(6,), (6,)]
    assert conditional_iwae(cvae, x, y, 7, chunk=3).shape == (6,)


def test_the_k_codes_share_their_condition():
    cvae, x, y = StructuredCVAE(392, 392, hidden=16, latent_dim=3), binary(4, 392), binary(4, 392, seed=1)
    z = torch.randn(5, 4, 3)
    each = torch.stack([cvae.log_likelihood(x, y, z[k]) for k in range(5)])
    torch.testing.assert_close(cvae.log_likelihood(x, y, z), each)


def test_baseline_likelihood_is_bernoulli():
    net, x, y = OutputMLP(392, 392), binary(6, 392), binary(6, 392, seed=1)
    reference = Independent(Bernoulli(logits=net(x)), 1).log_prob(y)
    torch.testing.assert_close(net.log_likelihood(x, y), reference)
    loss, parts = mlp_loss(net, x, y)
    torch.testing.assert_close(loss, -reference.mean())


def test_conditional_elbo_terms_against_torch_distributions():
    cvae, x, y = StructuredCVAE(392, 392, hidden=32, latent_dim=4), binary(6, 392), binary(6, 392, seed=1)
    torch.manual_seed(3)
    log_py, kl = conditional_elbo_parts(cvae, x, y)
    mu_q, logvar_q = cvae.posterior(x, y)
    mu_p, logvar_p = cvae.prior(x)
    torch.manual_seed(3)  # the same eps
    z = mu_q + torch.exp(0.5 * logvar_q) * torch.randn(6, 4)
    q = Independent(Normal(mu_q, torch.exp(0.5 * logvar_q)), 1)
    p = Independent(Normal(mu_p, torch.exp(0.5 * logvar_p)), 1)
    torch.testing.assert_close(kl, kl_divergence(q, p), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(log_py, Independent(Bernoulli(logits=cvae.generation_net(torch.cat([x, z], 1))), 1)
                               .log_prob(y), atol=1e-3, rtol=1e-5)
    torch.manual_seed(3)
    loss, parts = cvae_loss(cvae, x, y)
    torch.testing.assert_close(loss, (kl - log_py).mean())
    torch.testing.assert_close(parts["kl"], kl.mean())


# --- the importance-sampling estimate ---------------------------------------------------------

def test_k_equal_1_is_the_one_sample_elbo():
    cvae, x, y = StructuredCVAE(392, 392, hidden=32, latent_dim=4), binary(6, 392), binary(6, 392, seed=1)
    torch.manual_seed(5)
    log_py, kl_mc = conditional_elbo_parts(cvae, x, y, kl="mc")
    torch.manual_seed(5)  # the same z
    torch.testing.assert_close(conditional_iwae(cvae, x, y, 1), log_py - kl_mc, atol=1e-4, rtol=1e-6)
    # and on average over z, the analytic-KL ELBO (the two ELBOs differ only in how the KL is estimated)
    n = 2000
    with torch.no_grad():
        draws = torch.stack([conditional_iwae(cvae, x, y, 1) for _ in range(n)])              # (n, 6)
        analytic = torch.stack([torch.sub(*conditional_elbo_parts(cvae, x, y)) for _ in range(n)])
    se = ((draws.var(0) + analytic.var(0)) / n).sqrt()
    assert ((draws.mean(0) - analytic.mean(0)).abs() / se).max() < 4.5


def test_the_estimate_rises_with_k_on_average():
    cvae, x, y = tiny_cvae(), binary(200, 2).double(), binary(200, 3, seed=1).double()
    reps = {k: torch.stack([conditional_iwae(cvae, x, y, k) for _ in range(20)]).mean(0) for k in (1, 10, 100)}
    for small, large in ((1, 10), (10, 100)):
        d = reps[large] - reps[small]
        assert d.mean() > 3 * d.std() / math.sqrt(len(d)), (small, large, d.mean())


def test_the_estimate_converges_to_brute_force_integration():
    """log p(y | x) = log integral p(y | x, z) p(z | x) dz, by the trapezoid rule on a fine grid
    over the 1-D z; the eight targets y of 3 binary pixels must sum to probability 1."""
    cvae = tiny_cvae()
    x = torch.tensor([[0.0, 1.0], [1.0, 1.0]], dtype=F64)
    targets = torch.tensor([[(i >> b) & 1 for b in range(3)] for i in range(8)], dtype=F64)   # all 8 y
    with torch.no_grad():
        mu_p, logvar_p = cvae.prior(x)
        exact = []
        for n in range(2):
            sd = math.exp(0.5 * logvar_p[n].item())
            grid = torch.linspace(mu_p[n].item() - 12 * sd, mu_p[n].item() + 12 * sd, 20001, dtype=F64)
            xs, ys = x[n].expand(8, 2), targets
            log_joint = (cvae.log_likelihood(xs, ys, grid[:, None, None].expand(-1, 8, 1))
                         + Normal(mu_p[n], sd).log_prob(grid)[:, None])                        # (grid, 8)
            exact.append(torch.logsumexp(log_joint, 0) + math.log(grid[1] - grid[0]))           # Riemann sum, (8,)
        exact = torch.stack(exact)                                                              # (2, 8)
    torch.testing.assert_close(exact.exp().sum(1), torch.ones(2, dtype=F64), atol=1e-8, rtol=0)
    # 20 independent estimates with k = 10,000 each: their mean within 4 standard errors of the
    # exact value (the bias of L_k, about Var(w) / (2 k p^2), is far smaller here)
    g = torch.Generator().manual_seed(0)
    estimates = torch.stack([torch.stack([conditional_iwae(cvae, x[n].expand(8, 2), targets, 10000, generator=g)
                                          for n in range(2)]) for _ in range(20)])              # (20, 2, 8)
    se = estimates.std(0) / math.sqrt(20)
    assert ((estimates.mean(0) - exact).abs() <= 4 * se).all(), (estimates.mean(0) - exact) / se
    assert se.max() < 0.01                                                     # and the check has teeth


# --- bad input ------------------------------------------------------------------------------------

def test_bad_input_gives_one_clear_error_each():
    cvae, net = StructuredCVAE(392, 392, hidden=16, latent_dim=3), OutputMLP(392, 392, hidden=(16,))
    x, y = binary(4, 392), binary(4, 392, seed=1)
    cases = [(lambda: cvae.prior(torch.rand(4, 300)), ValueError, r"x: expected \(N, 392\) condition pixels, got \(4, 300\)"),
             (lambda: cvae.posterior(x, torch.rand(4, 391)), ValueError, r"y: expected \(N, 392\) pixels, got \(4, 391\)"),
             (lambda: cvae.posterior(x, y[:3]), ValueError, "x and y: 4 conditions but 3 targets"),
             (lambda: cvae.posterior(x, 2 * y), ValueError, r"y: values must lie in \[0, 1\]"),
             (lambda: cvae.posterior(x, y.long()), TypeError, "y: expected a floating-point tensor"),
             (lambda: cvae.posterior(x.double(), y.double()), TypeError, r"x: float64 but the model's weights are float32"),
             (lambda: cvae.decode(x, torch.randn(4, 5)), ValueError, r"z: expected codes of shape \(N, 3\) or \(K, N, 3\)"),
             (lambda: cvae.decode(x, torch.randn(2, 3, 3)), ValueError, r"with N = 4, got \(2, 3, 3\)"),
             (lambda: conditional_iwae(cvae, x, y, 0), ValueError, "k must be a positive int, got 0"),
             (lambda: conditional_iwae(cvae, x, y, 2.0), TypeError, "k must be a positive int, got 2.0"),
             (lambda: conditional_elbo_parts(cvae, x, y, kl="exact"), ValueError, "kl must be 'analytic' or 'mc'"),
             (lambda: cvae.sample(x, 0), ValueError, "n must be a positive int, got 0"),
             (lambda: net.log_likelihood(x, torch.rand(4, 10)), ValueError, r"y: expected \(N, 392\) pixels"),
             (lambda: net(torch.rand(4, 784)), ValueError, r"x: expected \(N, 392\) condition pixels"),
             (lambda: cvae.posterior(x[:0], y[:0]), ValueError, "x: an empty batch"),
             (lambda: StructuredCVAE(392, 392, latent_dim=0), ValueError, "latent_dim must be a positive int, got 0"),
             (lambda: join(x, torch.rand(4, 300), quadrant_mask("top")), ValueError, r"y: expected \(\.\.\., 4, 392\)")]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
