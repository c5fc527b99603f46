"""pPCA against independent references: a direct multivariate normal with covariance
W W^T + sigma2 I, numerical integration over a 1-D latent, Bayes' rule on a grid, and the
defining properties of the maximum-likelihood fit."""
import math

import pytest
import torch
from torch.distributions import MultivariateNormal, kl_divergence

from vae_lessons.linear_gaussian import (gaussian_kl_full, ppca_conditional, ppca_elbo, ppca_fit,
                                         ppca_log_likelihood, ppca_posterior)

F64 = torch.float64


def model(D=5, L=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(D, L, generator=g, dtype=F64)
    b = torch.randn(D, generator=g, dtype=F64)
    sigma2 = 0.3
    z = torch.randn(50, L, generator=g, dtype=F64)
    x = z @ W.T + b + math.sqrt(sigma2) * torch.randn(50, D, generator=g, dtype=F64)
    return x, W, b, sigma2


def random_q(N, L, seed):
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(N, L, L, generator=g, dtype=F64)
    return torch.randn(N, L, generator=g, dtype=F64), A @ A.transpose(1, 2) + 0.1 * torch.eye(L, dtype=F64)


def test_log_likelihood_matches_the_direct_multivariate_normal():
    x, W, b, s2 = model(D=7, L=3)
    direct = MultivariateNormal(b, W @ W.T + s2 * torch.eye(7, dtype=F64)).log_prob(x)
    torch.testing.assert_close(ppca_log_likelihood(x, W, b, s2), direct, rtol=0, atol=1e-10)


def grid_integral(x, W, b, s2, lo=-12, hi=12, n=20_001):
    """log p(x) = log int p(x|z) p(z) dz by the trapezoid rule on a grid, for L = 1."""
    z = torch.linspace(lo, hi, n, dtype=F64)
    log_joint = (-0.5 * ((x[:, None, :] - z[None, :, None] * W[:, 0] - b) ** 2).sum(-1) / s2
                 - 0.5 * W.shape[0] * math.log(2 * math.pi * s2) - 0.5 * z**2 - 0.5 * math.log(2 * math.pi))
    weights = torch.full((n,), (hi - lo) / (n - 1), dtype=F64)
    weights[[0, -1]] /= 2
    return torch.logsumexp(log_joint + torch.log(weights), dim=1), z, log_joint


def test_log_likelihood_matches_numerical_integration_for_a_1d_latent():
    x, W, b, s2 = model(D=3, L=1)
    numeric, z, log_joint = grid_integral(x[:10], W, b, s2)
    torch.testing.assert_close(ppca_log_likelihood(x[:10], W, b, s2), numeric, rtol=0, atol=1e-8)
    # the posterior from Bayes' rule on the same grid
    post = torch.softmax(log_joint, dim=1)
    mean, cov = ppca_posterior(x[:10], W, b, s2)
    torch.testing.assert_close(mean[:, 0], (post * z).sum(1), rtol=0, atol=1e-8)
    torch.testing.assert_close(cov[0, 0].expand(10), (post * z**2).sum(1) - ((post * z).sum(1)) ** 2, rtol=0, atol=1e-8)


def test_posterior_is_bayes_rule_for_the_joint_gaussian():
    x, W, b, s2 = model(D=6, L=2)
    # joint of (z, x): cov [[I, W^T], [W, C]]; conditional z | x by the Schur complement
    C = W @ W.T + s2 * torch.eye(6, dtype=F64)
    K = W.T @ torch.linalg.inv(C)
    mean, cov = ppca_posterior(x, W, b, s2)
    torch.testing.assert_close(mean, (x - b) @ K.T, rtol=0, atol=1e-10)
    torch.testing.assert_close(cov, torch.eye(2, dtype=F64) - K @ W, rtol=0, atol=1e-10)


def test_elbo_identity_and_exactness_at_the_posterior():
    x, W, b, s2 = model()
    log_px = ppca_log_likelihood(x, W, b, s2)
    mean, cov = ppca_posterior(x, W, b, s2)
    torch.testing.assert_close(ppca_elbo(x, W, b, s2, mean, cov), log_px, rtol=0, atol=1e-10)
    for seed in range(5):
        q_mean, q_cov = random_q(len(x), 2, seed)
        elbo = ppca_elbo(x, W, b, s2, q_mean, q_cov)
        kl = gaussian_kl_full(q_mean, q_cov, mean, cov)
        torch.testing.assert_close(elbo + kl, log_px, rtol=0, atol=1e-9)
        assert (elbo < log_px).all()


def test_elbo_matches_monte_carlo():
    x, W, b, s2 = model()
    q_mean, q_cov = random_q(3, 2, seed=7)
    q = MultivariateNormal(q_mean, q_cov)
    z = q.sample((200_000,))                                             # (S, 3, 2)
    log_joint = (MultivariateNormal(b, s2 * torch.eye(5, dtype=F64)).log_prob(x[:3] - z @ W.T + 0 * b)
                 + MultivariateNormal(torch.zeros(2, dtype=F64), torch.eye(2, dtype=F64)).log_prob(z))
    terms = log_joint - q.log_prob(z)
    se = terms.std(0) / math.sqrt(len(terms))
    assert ((terms.mean(0) - ppca_elbo(x[:3], W, b, s2, q_mean, q_cov)).abs() < 4 * se).all()


def test_conditional_is_the_schur_complement_of_the_joint_gaussian():
    x, W, b, s2 = model(D=6, L=2)
    observed = torch.tensor([True, False, True, True, False, False])
    o, m = observed, ~observed
    C = W @ W.T + s2 * torch.eye(6, dtype=F64)
    K = C[m][:, o] @ torch.linalg.inv(C[o][:, o])                      # C_mo C_oo^-1
    x_nan = x.clone()
    x_nan[:, m] = float("nan")                                           # the missing pixels are never read
    mean, cov = ppca_conditional(x_nan, observed, W, b, s2)
    torch.testing.assert_close(mean, b[m] + (x[:, o] - b[o]) @ K.T, rtol=0, atol=1e-10)
    torch.testing.assert_close(cov, C[m][:, m] - K @ C[o][:, m], rtol=0, atol=1e-10)
    for bad in (torch.ones(6, dtype=torch.bool), torch.zeros(6, dtype=torch.bool)):
        with pytest.raises(ValueError, match="observed: needs at least one observed and one missing"):
            ppca_conditional(x, bad, W, b, s2)
    with pytest.raises(ValueError, match=r"observed: expected a bool tensor of shape \(6,\)"):
        ppca_conditional(x, observed.long(), W, b, s2)


def test_full_kl_matches_torch_distributions():
    m_q, S_q = random_q(4, 3, seed=1)
    m_p, S_p = random_q(4, 3, seed=2)
    ref = kl_divergence(MultivariateNormal(m_q, S_q), MultivariateNormal(m_p, S_p))
    torch.testing.assert_close(gaussian_kl_full(m_q, S_q, m_p, S_p), ref, rtol=1e-10, atol=1e-10)


def test_fit_is_the_maximum_likelihood_solution():
    g = torch.Generator().manual_seed(1)
    W_true = torch.randn(8, 2, generator=g, dtype=F64) * 2
    X = torch.randn(4000, 2, generator=g, dtype=F64) @ W_true.T + 0.5 * torch.randn(4000, 8, generator=g, dtype=F64) + 1.0
    W, b, s2 = ppca_fit(X, 2)
    # the closed form: sigma2 is the mean of the discarded eigenvalues
    eig = torch.linalg.eigvalsh(torch.cov(X.T, correction=0)).flip(0)
    assert s2 == pytest.approx(eig[2:].mean().item(), rel=1e-10)
    # a stationary point: the gradient of the mean log-likelihood vanishes there
    params = [W.clone().requires_grad_(), b.clone().requires_grad_(), torch.tensor(s2, dtype=F64, requires_grad=True)]
    ppca_log_likelihood(X, *params).mean().backward()
    assert max(p.grad.abs().max().item() for p in params) < 1e-8
    # and a maximum: any perturbation lowers it
    best = ppca_log_likelihood(X, W, b, s2).mean()
    for seed in range(5):
        g = torch.Generator().manual_seed(seed)
        assert ppca_log_likelihood(X, W + 0.05 * torch.randn(W.shape, generator=g, dtype=F64), b, s2 * 1.02).mean() < best
    # and it recovers the generating model's covariance
    torch.testing.assert_close(W @ W.T + s2 * torch.eye(8, dtype=F64), W_true @ W_true.T + 0.25 * torch.eye(8, dtype=F64), atol=0.4, rtol=0)


def test_bad_input_names_the_argument():
    x, W, b, s2 = model()
    with pytest.raises(ValueError, match="sigma2: the noise variance must be positive"):
        ppca_log_likelihood(x, W, b, 0.0)
    with pytest.raises(ValueError, match="sigma2"):
        ppca_posterior(x, W, b, -1.0)
    with pytest.raises(ValueError, match=r"x: expected shape \(N, 5\)"):
        ppca_log_likelihood(x[:, :4], W, b, s2)
    with pytest.raises(ValueError, match=r"b: expected shape \(5,\)"):
        ppca_log_likelihood(x, W, b[:3], s2)
    q_mean, q_cov = random_q(len(x), 2, 0)
    with pytest.raises(ValueError, match="q_cov: not positive definite"):
        ppca_elbo(x, W, b, s2, q_mean, -q_cov)
    with pytest.raises(ValueError, match=r"q_mean: expected shape \(50, 2\)"):
        ppca_elbo(x, W, b, s2, q_mean[:, :1], q_cov)
    with pytest.raises(ValueError, match="L must be between 1 and D - 1"):
        ppca_fit(x, 5)
    with pytest.raises(ValueError, match="cov_p: not positive definite"):
        gaussian_kl_full(q_mean, q_cov, q_mean, torch.zeros(2, 2, dtype=F64))


def test_checks_catch_a_dropped_log_determinant():
    """The notebook's check (closed form vs direct MVN, to 1e-6) rejects a formula that
    forgets the log-determinant, or uses log|M| where (D - L) log sigma2 + log|M| is due."""
    from vae_lessons import checks
    x, W, b, s2 = model()
    direct = MultivariateNormal(b, W @ W.T + s2 * torch.eye(5, dtype=F64)).log_prob(x)
    r = x - b
    C_inv = torch.linalg.inv(W @ W.T + s2 * torch.eye(5, dtype=F64))
    no_logdet = -0.5 * (5 * math.log(2 * math.pi) + ((r @ C_inv) * r).sum(1))
    half_logdet = no_logdet - torch.logdet(W.T @ W + s2 * torch.eye(2, dtype=F64))
    checks.close("right", ppca_log_likelihood(x, W, b, s2), direct, atol=1e-6)
    for wrong in (no_logdet, half_logdet):
        with pytest.raises(checks.CheckFailed):
            checks.close("wrong", wrong, direct, atol=1e-6)
