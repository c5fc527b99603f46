import math

import pytest
import torch

from vae_lessons.estimators import pathwise_gradient, quadratic, score_function_gradient

F64 = torch.float64


def setup(L=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    mu, logvar = torch.randn(L, generator=g, dtype=F64), 0.5 * torch.randn(L, generator=g, dtype=F64)
    a, c = torch.rand(L, generator=g, dtype=F64) + 0.5, torch.randn(L, generator=g, dtype=F64)
    return mu, logvar, *quadratic(a, c)


def exact_gradient(expectation, mu, logvar):
    mu, logvar = mu.clone().requires_grad_(), logvar.clone().requires_grad_()
    expectation(mu, logvar).backward()
    return mu.grad, logvar.grad


def test_quadratic_expectation_closed_form_against_monte_carlo():
    mu, logvar, f, expectation = setup()
    z = mu + torch.exp(0.5 * logvar) * torch.randn(400_000, 3, dtype=F64)
    values = f(z)
    assert abs(values.mean() - expectation(mu, logvar)) < 4 * values.std() / math.sqrt(len(values))


@pytest.mark.parametrize("estimator", [
    lambda f, mu, lv, n, g: score_function_gradient(f, mu, lv, n, generator=g),
    lambda f, mu, lv, n, g: score_function_gradient(f, mu, lv, n, baseline=3.0, generator=g),
    lambda f, mu, lv, n, g: score_function_gradient(f, mu, lv, n, baseline="loo", generator=g),
    lambda f, mu, lv, n, g: pathwise_gradient(f, mu, lv, n, generator=g),
], ids=["score", "score+constant", "score+loo", "pathwise"])
def test_estimators_are_unbiased(estimator):
    mu, logvar, f, expectation = setup()
    n = 200_000
    for est, exact in zip(estimator(f, mu, logvar, n, torch.Generator().manual_seed(1)),
                          exact_gradient(expectation, mu, logvar)):
        se = est.std(0) / math.sqrt(n)
        assert ((est.mean(0) - exact).abs() < 4 * se).all(), (est.mean(0), exact, se)


def test_pathwise_is_exact_for_a_linear_f():
    # f(z) = w.z: df/dz = w for every sample, so every per-sample mu-gradient is exactly w
    w = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    g_mu, g_lv = pathwise_gradient(lambda z: z @ w, torch.zeros(3, dtype=F64), torch.zeros(3, dtype=F64), 10)
    assert torch.equal(g_mu, w.expand(10, 3))


def test_variance_ordering():
    mu, logvar, f, _ = setup(L=16)
    g = torch.Generator().manual_seed(2)
    var = lambda est: est[0][:, 0].var().item()  # noqa: E731
    v_score = var(score_function_gradient(f, mu, logvar, 20_000, generator=g))
    v_loo = var(score_function_gradient(f, mu, logvar, 20_000, baseline="loo", generator=g))
    v_path = var(pathwise_gradient(f, mu, logvar, 20_000, generator=g))
    assert v_path < v_loo < v_score


def test_bad_input():
    f, _ = quadratic(torch.ones(2), torch.zeros(2))
    with pytest.raises(ValueError, match="mu and logvar must be vectors of one shape"):
        pathwise_gradient(f, torch.zeros(2), torch.zeros(3), 10)
    with pytest.raises(ValueError, match="f: its output has no gradient"):
        pathwise_gradient(lambda z: (z[:, 0] > 0).double(), torch.zeros(2, dtype=F64), torch.zeros(2, dtype=F64), 10)
    with pytest.raises(ValueError, match="n_samples must be at least 2"):
        score_function_gradient(f, torch.zeros(2), torch.zeros(2), 1)
