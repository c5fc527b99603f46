"""Each hand-written density and KL against an independent reference:
torch.distributions, Monte Carlo, finite differences, and analytic anchors."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli, Independent, MultivariateNormal, Normal, kl_divergence

from vae_lessons.distributions import (gaussian_kl, gaussian_kl_mc, log_bernoulli, log_normal_diag,
                                      log_standard_normal)



@pytest.fixture(autouse=True)
def float64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def diag_normal(mu, logvar):
    return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)


def test_log_bernoulli_matches_torch_distributions():
    logits = 3 * torch.randn(5, 784)
    x = torch.bernoulli(torch.sigmoid(torch.randn(5, 784)))
    ref = Independent(Bernoulli(logits=logits), 1).log_prob(x)
    torch.testing.assert_close(log_bernoulli(x, logits), ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-10), (torch.float32, 2e-4)])
def test_log_bernoulli_of_many_codes_per_image_matches_torch_distributions(dtype, atol):
    """x (N, D) against logits (K, N, D), as iwae_bound calls it (the batched-product path):
    the same as each of the K logits in turn, and as torch.distributions; float32 sums of 784
    terms of size ~1 round at 1e-4."""
    g = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(7, 5, 784, generator=g, dtype=dtype)
    x = torch.bernoulli(torch.full((5, 784), 0.3, dtype=dtype), generator=g)
    got = log_bernoulli(x, logits)
    assert got.shape == (7, 5)
    ref = Independent(Bernoulli(logits=logits), 1).log_prob(x.expand_as(logits))
    torch.testing.assert_close(got, ref, rtol=0, atol=atol)
    torch.testing.assert_close(got, torch.stack([log_bernoulli(x, l) for l in logits]), rtol=0, atol=atol)
    # mixed float types promote, as on the one-code path
    other = torch.float32 if dtype == torch.float64 else torch.float64
    assert log_bernoulli(x.to(other), logits).dtype == torch.float64 == log_bernoulli(x.to(other)[0], logits[0, 0]).dtype


def test_log_bernoulli_is_minus_bce_on_grey_pixels():
    x, logits = torch.rand(4, 784), torch.randn(4, 784)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)
    torch.testing.assert_close(log_bernoulli(x, logits), -bce, rtol=0, atol=1e-10)


def test_log_bernoulli_zero_logits_cost_ln2_per_pixel():
    x = torch.bernoulli(torch.full((3, 784), 0.3))
    torch.testing.assert_close(log_bernoulli(x, torch.zeros(3, 784)), torch.full((3,), -784 * math.log(2)))


def test_log_bernoulli_stable_at_extreme_logits():
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0]])
    logits = torch.tensor([[200.0, -200.0, -200.0, 200.0]])
    torch.testing.assert_close(log_bernoulli(x, logits), torch.tensor([-400.0]))


def test_log_normal_diag_matches_torch_distributions():
    x, mu, logvar = torch.randn(6, 3), torch.randn(6, 3), torch.randn(6, 3)
    ref = diag_normal(mu, logvar).log_prob(x)
    torch.testing.assert_close(log_normal_diag(x, mu, logvar), ref, rtol=0, atol=1e-12)


def test_log_standard_normal_matches_multivariate_normal():
    z = torch.randn(7, 4)
    ref = MultivariateNormal(torch.zeros(4), torch.eye(4)).log_prob(z)
    torch.testing.assert_close(log_standard_normal(z), ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(log_standard_normal(z), log_normal_diag(z, torch.zeros(4), torch.zeros(4)))


def test_kl_analytic_anchors():
    # KL(N(2,1) || N(0,1)) = mu^2 / 2 = 2, exactly
    assert gaussian_kl(torch.tensor([2.0]), torch.tensor([0.0])).item() == 2.0
    # KL(N(0, e^2) || N(0,1)) = (e^2 - 1 - 2) / 2
    assert gaussian_kl(torch.tensor([0.0]), torch.tensor([2.0])).item() == pytest.approx((math.e**2 - 3) / 2, abs=1e-12)
    # KL(q || q) = 0 when q is the prior, and the sum runs over the last dimension
    assert gaussian_kl(torch.zeros(3, 5), torch.zeros(3, 5)).tolist() == [0.0, 0.0, 0.0]
    assert gaussian_kl(torch.full((1, 3), 2.0), torch.zeros(1, 3)).item() == 6.0


def test_kl_matches_torch_distributions():
    mu, logvar = 2 * torch.randn(50, 8), 3 * torch.randn(50, 8)
    ref = kl_divergence(diag_normal(mu, logvar), diag_normal(torch.zeros(8), torch.zeros(8)))
    torch.testing.assert_close(gaussian_kl(mu, logvar), ref, rtol=1e-10, atol=1e-10)
    assert (gaussian_kl(mu, logvar) >= 0).all()


def test_kl_matches_monte_carlo():
    mu, logvar = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.3, -0.7, 1.1])
    q = diag_normal(mu, logvar)
    z = q.sample((200_000,))
    terms = q.log_prob(z) - log_standard_normal(z)
    mc, se = terms.mean(), terms.std() / math.sqrt(len(terms))
    assert abs(mc - gaussian_kl(mu, logvar)) < 4 * se


def test_gradients_match_finite_differences():
    x, mu, logvar = (torch.randn(3, 4, requires_grad=True) for _ in range(3))
    assert torch.autograd.gradcheck(log_normal_diag, (x, mu, logvar))
    assert torch.autograd.gradcheck(gaussian_kl, (mu, logvar))
    logits, x01 = torch.randn(3, 4, requires_grad=True), torch.rand(3, 4).round()
    assert torch.autograd.gradcheck(lambda l: log_bernoulli(x01, l), (logits,))


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match=r"x: values must lie in \[0, 1\]"):
        log_bernoulli(torch.full((2, 3), 2.0), torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"x has shape \(2, 3\) and logits has shape \(2, 4\)"):
        log_bernoulli(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"mu_q has shape \(2, 3\) and logvar_q \(3,\)"):
        gaussian_kl(torch.zeros(2, 3), torch.zeros(3))
    with pytest.raises(TypeError, match="logvar_q: expected a floating-point tensor"):
        gaussian_kl(torch.zeros(2), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="x has shape .* mu has shape"):
        log_normal_diag(torch.zeros(2, 3), torch.zeros(4), torch.zeros(3))


def test_general_kl_matches_torch_distributions_over_logvar_minus30_to_30():
    lv = torch.linspace(-30, 30, 61)
    lq, lp = torch.meshgrid(lv, lv, indexing="ij")
    mq, mp = torch.randn(61, 61), torch.randn(61, 61)
    ref = kl_divergence(Normal(mq, torch.exp(0.5 * lq)), Normal(mp, torch.exp(0.5 * lp)))
    got = gaussian_kl(mq[..., None], lq[..., None], mp[..., None], lp[..., None])
    torch.testing.assert_close(got, ref, rtol=1e-10, atol=1e-10)
    got32 = gaussian_kl(*(t[..., None].float() for t in (mq, lq, mp, lp)))
    assert torch.isfinite(got32).all()
    torch.testing.assert_close(got32.double(), ref, rtol=1e-5, atol=1e-5)


def test_kl_is_exact_for_tiny_variance_differences_in_float32():
    # 1 - 1 cancellation would give 0 or noise; the true value is d^2/4 for mu_q = mu_p
    d = torch.tensor([[1e-4]])
    assert gaussian_kl(d.float(), d.float(), d.float(), torch.zeros(1, 1)).item() == pytest.approx(1e-8 / 4, rel=1e-3)
    naive = 0.5 * (torch.exp(d.float()) - 1 - d.float())  # the textbook form, in float32
    assert abs(naive.item() - 1e-8 / 4) > 1e-9  # is wrong by more than 40%


def test_general_kl_anchors_and_default_prior():
    one = torch.ones(1)
    assert gaussian_kl(2 * one, 0 * one, 0 * one, 0 * one).item() == 2.0
    assert gaussian_kl(0 * one, 0 * one, 2 * one, 0 * one).item() == 2.0
    assert gaussian_kl(3 * one, 1 * one, 3 * one, 1 * one).item() == 0.0
    mu, lv = torch.randn(4, 3), torch.randn(4, 3)
    torch.testing.assert_close(gaussian_kl(mu, lv), gaussian_kl(mu, lv, torch.zeros(3), torch.zeros(3)))


def test_kl_monte_carlo_estimator_and_its_standard_error():
    mu_q, lv_q, mu_p, lv_p = (torch.randn(5, 3) for _ in range(4))
    exact = gaussian_kl(mu_q, lv_q, mu_p, lv_p)
    est, se = gaussian_kl_mc(mu_q, lv_q, mu_p, lv_p, n_samples=50_000, generator=torch.Generator().manual_seed(0))
    assert est.shape == se.shape == (5,)
    assert ((est - exact).abs() < 4 * se).all()
    # the standard error is honest: over 400 repeats of n = 100, the estimates spread by about se
    reps = torch.stack([gaussian_kl_mc(mu_q[0], lv_q[0], mu_p[0], lv_p[0], n_samples=100)[0] for _ in range(400)])
    _, se100 = gaussian_kl_mc(mu_q[0], lv_q[0], mu_p[0], lv_p[0], n_samples=100_000)
    assert abs(reps.std() / (se100 * (100_000 / 100) ** 0.5) - 1) < 0.15
    with pytest.raises(ValueError, match="n_samples must be at least 2"):
        gaussian_kl_mc(mu_q, lv_q, n_samples=1)


def test_pixel_check_catches_nan_and_inf():
    for bad in (float("nan"), float("inf"), -float("inf")):
        with pytest.raises(ValueError, match=r"x: values must lie in \[0, 1\]"):
            log_bernoulli(torch.tensor([[0.5, bad]]), torch.zeros(1, 2))
