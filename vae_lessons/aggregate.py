"""The aggregate posterior q(z) = (1/N) sum_n q(z | x_n): the distribution of codes over a
data set, which the prior p(z) = N(0, I) stands in for when we sample.

The ELBO's KL term, averaged over the data, splits into two parts (Hoffman & Johnson 2016,
"ELBO surgery"):

    E_x KL(q(z|x) || p(z)) = I_q(x; z) + KL(q(z) || p(z)),

the mutual information between the data index and the code (what the codes say about x,
at most log N), and the mismatch between the aggregate posterior and the prior.
"""
import math

import torch

from .distributions import gaussian_kl, log_normal_diag, log_standard_normal
from .linear_gaussian import gaussian_kl_full
from .validation import check_float


def _check_posteriors(mu, logvar):
    check_float(mu, "mu")
    check_float(logvar, "logvar")
    if mu.dim() != 2 or mu.shape != logvar.shape or len(mu) < 1:
        raise ValueError(f"mu and logvar: expected two (N, L) tensors of one shape, got "
                         f"{tuple(mu.shape)} and {tuple(logvar.shape)}")


def log_aggregate_posterior(z, mu, logvar, chunk=4096):
    """log q(z) = log (1/N) sum_n N(z; mu_n, diag exp(logvar_n)), for codes z (M, L) and the
    N posteriors mu, logvar (N, L). Returns (M,), in nats. Costs M * N density evaluations,
    done chunk codes at a time."""
    _check_posteriors(mu, logvar)
    check_float(z, "z")
    if z.dim() != 2 or z.shape[1] != mu.shape[1]:
        raise ValueError(f"z: expected codes of shape (M, {mu.shape[1]}), got {tuple(z.shape)}")
    return torch.cat([torch.logsumexp(log_normal_diag(z[i:i + chunk, None, :], mu, logvar), dim=1)
                      for i in range(0, len(z), chunk)]) - math.log(len(mu))


def kl_decomposition(mu, logvar, n_draws=10, generator=None):
    """The two parts of the average KL term, by Monte Carlo with n_draws codes per posterior:

        I_q(x; z)       = E[ log q(z | x_n) - log q(z) ],   z ~ q(z | x_n), n uniform;
        KL(q(z) || p(z)) = E[ log q(z) - log p(z) ].

    mu, logvar: (N, L), the posteriors of N data points. Returns a dict of floats: "kl" (the
    average closed-form KL, exact), "mutual_information" and "marginal_kl" with their
    standard errors ("_se", over data points), and "sum_se": the standard error of
    mutual_information + marginal_kl - kl, paired over data points. The two estimates share
    their draws and log q(z) cancels in their sum, so the sum is a Monte Carlo estimate of
    "kl" whatever log q(z) is: checking it tests the sampling, not the mixture density.
    """
    _check_posteriors(mu, logvar)
    if not (isinstance(n_draws, int) and n_draws >= 1):
        raise ValueError(f"n_draws must be a positive int, got {n_draws!r}")
    eps = torch.randn((n_draws,) + mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    z = mu + torch.exp(0.5 * logvar) * eps                                       # (S, N, L)
    log_q_agg = log_aggregate_posterior(z.reshape(-1, mu.shape[1]), mu, logvar).reshape(n_draws, -1)
    information = (log_normal_diag(z, mu, logvar) - log_q_agg).mean(0)          # (N,)
    mismatch = (log_q_agg - log_standard_normal(z)).mean(0)
    n, kl = len(mu), gaussian_kl(mu, logvar)
    return {"kl": kl.mean().item(),
            "mutual_information": information.mean().item(), "mutual_information_se": information.std().item() / math.sqrt(n),
            "marginal_kl": mismatch.mean().item(), "marginal_kl_se": mismatch.std().item() / math.sqrt(n),
            "sum_se": (information + mismatch - kl).std().item() / math.sqrt(n)}


def moment_matched_kl(mu, logvar=None):
    """KL( N(m, S) || N(0, I) ) for the Gaussian with the codes' mean m and covariance S, in nats:
    a lower bound on KL(q(z) || p(z)), since among densities with given moments the Gaussian has
    the largest entropy and E_q[log p(z)] depends on the moments only.

    mu: (N, L) codes (an autoencoder's) or posterior means; logvar: (N, L) posterior
    log-variances, whose mean variance is added to the covariance of the means (the aggregate
    posterior's covariance), or None for point codes. Computed in float64.
    """
    check_float(mu, "mu")
    if mu.dim() != 2 or len(mu) < 2:
        raise ValueError(f"mu: expected (N, L) codes with N >= 2, got {tuple(mu.shape)}")
    mu = mu.detach().double()
    cov = torch.atleast_2d(torch.cov(mu.T, correction=0))
    if logvar is not None:
        _check_posteriors(mu, logvar)
        cov = cov + torch.diag(logvar.detach().double().exp().mean(0))
    L = mu.shape[1]
    return gaussian_kl_full(mu.mean(0)[None], cov, torch.zeros(1, L, dtype=mu.dtype), torch.eye(L, dtype=mu.dtype)).item()
