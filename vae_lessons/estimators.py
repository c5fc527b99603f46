"""Two Monte Carlo estimators of the gradient of an expectation,

    g = d/dphi E_{z ~ q_phi}[ f(z) ],   q_phi = N(mu, diag(exp(logvar))),  phi = (mu, logvar).

Both return the per-sample estimates, (S, L) for mu and (S, L) for logvar, so that their mean
(the estimate) and their variance can be measured.

- score function (REINFORCE; Williams 1992): g = E[ (f(z) - c) d/dphi log q_phi(z) ], with
  d log q / d mu = (z - mu) / sigma^2 and d log q / d logvar = ((z - mu)^2 / sigma^2 - 1) / 2.
  It needs only values of f. Any baseline c that does not depend on z keeps it unbiased.
- pathwise (reparameterization; Kingma & Welling 2014): z = mu + sigma * eps, eps ~ N(0, I),
  so g = E[ df/dz * dz/dphi ], with dz/dmu = 1 and dz/dlogvar = sigma * eps / 2. It needs the
  gradient of f.
"""
import torch

from .validation import check_float


def _draw(mu, logvar, n_samples, generator):
    check_float(mu, "mu")
    check_float(logvar, "logvar")
    if mu.dim() != 1 or mu.shape != logvar.shape:
        raise ValueError(f"mu and logvar must be vectors of one shape (L,), got {tuple(mu.shape)}, {tuple(logvar.shape)}")
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2, got {n_samples}")
    eps = torch.randn(n_samples, mu.shape[0], generator=generator, dtype=mu.dtype, device=mu.device)
    return eps, torch.exp(0.5 * logvar)


def score_function_gradient(f, mu, logvar, n_samples, *, baseline=None, generator=None):
    """Per-sample score-function estimates (grad_mu, grad_logvar), each (S, L).

    f maps z (S, L) to values (S,). baseline: None (c = 0), a number, or "loo" (for each
    sample, the mean of f over the other samples: independent of that sample, so unbiased).
    """
    eps, sigma = _draw(mu, logvar, n_samples, generator)
    with torch.no_grad():
        z = mu + sigma * eps
        values = f(z)
        if baseline == "loo":
            c = (values.sum() - values) / (n_samples - 1)
        elif baseline is None:
            c = torch.zeros_like(values)
        else:
            c = torch.full_like(values, float(baseline))
        weight = (values - c)[:, None]
        # (z - mu) / sigma^2 = eps / sigma;  ((z - mu)^2 / sigma^2 - 1) / 2 = (eps^2 - 1) / 2
        return weight * eps / sigma, weight * 0.5 * (eps**2 - 1)


def pathwise_gradient(f, mu, logvar, n_samples, *, generator=None):
    """Per-sample pathwise estimates (grad_mu, grad_logvar), each (S, L), by autograd
    through z = mu + exp(logvar / 2) * eps. f must be differentiable and act per row."""
    eps, _ = _draw(mu, logvar, n_samples, generator)
    mu_s = mu.detach().expand(n_samples, -1).clone().requires_grad_()
    logvar_s = logvar.detach().expand(n_samples, -1).clone().requires_grad_()
    z = mu_s + torch.exp(0.5 * logvar_s) * eps
    values = f(z)
    if not values.requires_grad:
        raise ValueError("f: its output has no gradient with respect to z (a step, a comparison, "
                         "a detach?); the pathwise estimator needs a differentiable f, the score "
                         "function does not")
    values.sum().backward()  # each row of z affects only its own value of f
    return mu_s.grad, logvar_s.grad


def quadratic(a, c):
    """f(z) = sum_d a_d (z_d - c_d)^2, a test function whose expectation is known:
    E_q[f] = sum_d a_d [ (mu_d - c_d)^2 + exp(logvar_d) ], so the exact gradient is
    d/dmu = 2 a (mu - c) and d/dlogvar = a exp(logvar). Returns (f, expectation)."""
    def f(z):
        return (a * (z - c) ** 2).sum(-1)

    def expectation(mu, logvar):
        return (a * ((mu - c) ** 2 + torch.exp(logvar))).sum(-1)

    return f, expectation
