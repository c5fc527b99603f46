"""The aggregate posterior and the KL decomposition against cases with known answers."""
import math

import pytest
import torch
from torch.distributions import MultivariateNormal

from vae_lessons.aggregate import kl_decomposition, log_aggregate_posterior, moment_matched_kl

F64 = torch.float64


def test_mixture_density_against_brute_force():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(7, 3, generator=g, dtype=F64), torch.randn(7, 3, generator=g, dtype=F64)
    z = torch.randn(11, 3, generator=g, dtype=F64)
    brute = torch.stack([sum(MultivariateNormal(mu[n], torch.diag(logvar[n].exp())).log_prob(zm).exp()
                             for n in range(7)) / 7 for zm in z]).log()
    assert torch.allclose(log_aggregate_posterior(z, mu, logvar, chunk=4), brute, atol=1e-12)


def test_posteriors_equal_to_the_prior_carry_no_information_and_no_mismatch():
    mu, logvar = torch.zeros(50, 2, dtype=F64), torch.zeros(50, 2, dtype=F64)
    d = kl_decomposition(mu, logvar, n_draws=5)
    assert d["kl"] == 0 and abs(d["mutual_information"]) < 1e-12 and abs(d["marginal_kl"]) < 1e-12


def test_far_apart_narrow_posteriors_carry_log_n_nats():
    # N posteriors with disjoint supports: the code identifies the data point, I = log N
    mu = torch.arange(20, dtype=F64)[:, None] * torch.tensor([[100.0, 0.0]], dtype=F64)
    logvar = torch.full((20, 2), -4.0, dtype=F64)
    d = kl_decomposition(mu, logvar, n_draws=20, generator=torch.Generator().manual_seed(1))
    assert d["mutual_information"] == pytest.approx(math.log(20), abs=1e-9)


def test_the_parts_add_up_to_the_average_kl_within_monte_carlo_error():
    g = torch.Generator().manual_seed(2)
    mu, logvar = torch.randn(300, 2, generator=g, dtype=F64), torch.randn(300, 2, generator=g, dtype=F64) - 1
    d = kl_decomposition(mu, logvar, n_draws=50, generator=g)
    assert 0 < d["mutual_information"] < math.log(300) and d["marginal_kl"] > 0
    assert abs(d["mutual_information"] + d["marginal_kl"] - d["kl"]) < 4 * d["sum_se"]
    # paired over data points, the sum's error is far smaller than the parts' errors combined
    assert d["sum_se"] < 0.5 * math.hypot(d["mutual_information_se"], d["marginal_kl_se"])


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="mu and logvar"):
        kl_decomposition(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(ValueError, match="z: expected codes of shape"):
        log_aggregate_posterior(torch.zeros(4, 3), torch.zeros(3, 2), torch.zeros(3, 2))


def test_moment_matched_kl_against_torch_distributions_and_as_a_lower_bound():
    from torch.distributions import kl_divergence
    g = torch.Generator().manual_seed(3)
    mu, logvar = torch.randn(500, 3, generator=g, dtype=F64) + 0.5, torch.randn(500, 3, generator=g, dtype=F64) - 2
    cov = torch.cov(mu.T, correction=0) + torch.diag(logvar.exp().mean(0))
    reference = kl_divergence(MultivariateNormal(mu.mean(0), cov), MultivariateNormal(torch.zeros(3, dtype=F64), torch.eye(3, dtype=F64)))
    assert moment_matched_kl(mu, logvar) == pytest.approx(reference.item(), rel=1e-10)
    # a lower bound on the true KL of the mixture, here estimated by Monte Carlo with many draws
    d = kl_decomposition(mu, logvar, n_draws=20, generator=g)
    assert moment_matched_kl(mu, logvar) <= d["marginal_kl"] + 3 * d["marginal_kl_se"]
    # point codes: the covariance of the codes alone
    codes = 3 * torch.randn(400, 2, generator=g, dtype=F64) + 1
    cov = torch.cov(codes.T, correction=0)
    expected = 0.5 * (torch.trace(cov) + codes.mean(0).square().sum() - 2 - torch.logdet(cov))
    assert moment_matched_kl(codes) == pytest.approx(expected.item(), rel=1e-10)
