"""The linear-Gaussian latent variable model (probabilistic PCA), where everything is exact.

    p(z) = N(0, I_L),   p(x | z) = N(W z + b, sigma2 I_D),   x in R^D, z in R^L.

Marginal: p(x) = N(b, C) with C = W W^T + sigma2 I_D.
Posterior: p(z | x) = N(M^-1 W^T (x - b), sigma2 M^-1), M = W^T W + sigma2 I_L.
Some pixels given the others: p(x_mis | x_obs), Gaussian too (ppca_conditional).
Both, and the maximum-likelihood fit (ppca_fit), are from Tipping & Bishop (1999),
"Probabilistic principal component analysis", J. R. Statist. Soc. B 61(3), 611-622.
Computations use only the L x L matrix M: by Woodbury, C^-1 = (I - W M^-1 W^T) / sigma2,
and by the matrix determinant lemma, log|C| = (D - L) log sigma2 + log|M|.
All functions work in the dtype they are given; use float64 for identities checked to 1e-6.
"""
import math

import torch

from .models import VAE
from .validation import check_float


def _check_model(x, W, b, sigma2):
    for t, name in ((x, "x"), (W, "W"), (b, "b")):
        check_float(t, name)
    if W.dim() != 2:
        raise ValueError(f"W: expected shape (D, L), got {tuple(W.shape)}")
    D, L = W.shape
    if x.dim() != 2 or x.shape[1] != D:
        raise ValueError(f"x: expected shape (N, {D}) to match W {tuple(W.shape)}, got {tuple(x.shape)}")
    if b.shape != (D,):
        raise ValueError(f"b: expected shape ({D},) to match W {tuple(W.shape)}, got {tuple(b.shape)}")
    value = float(sigma2.detach()) if isinstance(sigma2, torch.Tensor) else float(sigma2)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"sigma2: the noise variance must be positive and finite, got {value}")
    # kept as a tensor, so that gradients with respect to sigma2 flow when it is one
    return torch.as_tensor(sigma2, dtype=W.dtype, device=W.device)


def _cholesky(S, name):
    factor, info = torch.linalg.cholesky_ex(S)
    if (info != 0).any():
        raise ValueError(f"{name}: not positive definite (Cholesky failed); a covariance must be "
                         "symmetric with positive eigenvalues")
    return factor


def _M(W, sigma2):
    L = W.shape[1]
    return W.T @ W + sigma2 * torch.eye(L, dtype=W.dtype, device=W.device)


def ppca_log_likelihood(x, W, b, sigma2):
    """Exact log p(x) per example, (N,), for x (N, D), W (D, L), b (D,), sigma2 > 0:

        log p(x) = -1/2 [ D log 2pi + log|C| + (x - b)^T C^-1 (x - b) ],  C = W W^T + sigma2 I.
    """
    sigma2 = _check_model(x, W, b, sigma2)
    D, L = W.shape
    chol = _cholesky(_M(W, sigma2), "W^T W + sigma2 I")
    r = x - b                                                           # (N, D)
    proj = torch.cholesky_solve((r @ W).T, chol).T                      # M^-1 W^T r, (N, L)
    quad = ((r * r).sum(1) - ((r @ W) * proj).sum(1)) / sigma2          # r^T C^-1 r
    logdet = (D - L) * torch.log(sigma2) + 2 * torch.log(torch.diagonal(chol)).sum()
    return -0.5 * (D * math.log(2 * math.pi) + logdet + quad)


def ppca_posterior(x, W, b, sigma2):
    """The exact posterior p(z | x) = N(mean, cov): mean (N, L), cov (L, L) (the same for all x)."""
    sigma2 = _check_model(x, W, b, sigma2)
    M = _M(W, sigma2)
    chol = _cholesky(M, "W^T W + sigma2 I")
    mean = torch.cholesky_solve(((x - b) @ W).T, chol).T
    cov = sigma2 * torch.cholesky_inverse(chol)
    return mean, cov


def ppca_conditional(x, observed, W, b, sigma2):
    """The exact conditional p(x_mis | x_obs) = N(mean, cov) of the model's marginal p(x) = N(b, C),
    for one pattern of observed pixels shared by all rows of x.

    x (N, D): only the columns where observed is True are read (the others may hold anything);
    observed (D,) bool, at least one True and one False. Returns mean (N, D_mis), cov
    (D_mis, D_mis), D_mis the number of missing pixels, in their order in x.

    Through the latent: the observed pixels alone are a pPCA with (W_o, b_o, sigma2), so
    z | x_obs = N(m, S) by ppca_posterior; then x_mis = W_m z + b_m + noise, independent of x_obs
    given z, so

        mean = W_m m + b_m,   cov = W_m S W_m^T + sigma2 I.

    This equals the Schur complement of the joint Gaussian, b_m + C_mo C_oo^-1 (x_o - b_o) and
    C_mm - C_mo C_oo^-1 C_om, while solving only L x L systems.
    """
    _check_model(x, W, b, sigma2)
    if not (isinstance(observed, torch.Tensor) and observed.dtype == torch.bool and observed.shape == b.shape):
        raise ValueError(f"observed: expected a bool tensor of shape {tuple(b.shape)} (True = observed), "
                         f"got {getattr(observed, 'dtype', type(observed).__name__)} "
                         f"{tuple(getattr(observed, 'shape', ()))}")
    if observed.all() or not observed.any():
        raise ValueError("observed: needs at least one observed and one missing pixel")
    missing = ~observed
    m, S = ppca_posterior(x[:, observed], W[observed], b[observed], sigma2)
    W_m = W[missing]
    cov = W_m @ S @ W_m.T + sigma2 * torch.eye(int(missing.sum()), dtype=W.dtype, device=W.device)
    return m @ W_m.T + b[missing], cov


def ppca_fit(X, L):
    """Maximum-likelihood (W, b, sigma2) for data X (N, D) with an L-dimensional latent, in
    closed form (Tipping & Bishop 1999, as in the module docstring): b = the data mean;
    sigma2 = the mean of the D - L smallest eigenvalues of the sample covariance
    S = (1/N) sum (x - b)(x - b)^T;
    W = U_L (Lambda_L - sigma2 I)^(1/2), with U_L, Lambda_L the top L eigenvectors/values.
    """
    if not isinstance(X, torch.Tensor) or X.dim() != 2:
        raise ValueError(f"X: expected a data matrix (N, D), got {getattr(X, 'shape', type(X))}")
    N, D = X.shape
    if not 1 <= L < D:
        raise ValueError(f"L must be between 1 and D - 1 = {D - 1}, got {L}")
    b = X.mean(0)
    _, s, vt = torch.linalg.svd(X - b, full_matrices=False)
    eig = s**2 / N                                                      # top min(N, D) eigenvalues
    total = ((X - b) ** 2).sum() / N                                    # trace(S): all D of them
    sigma2 = ((total - eig[:L].sum()) / (D - L)).item()
    if not sigma2 > 0:
        raise ValueError("X: the data lie in an L-dimensional subspace, so sigma2 = 0; choose a smaller L")
    W = vt[:L].T * torch.sqrt(torch.clamp(eig[:L] - sigma2, min=0.0))
    return W, b, sigma2


def ppca_elbo(x, W, b, sigma2, q_mean, q_cov):
    """ELBO of the Gaussian q(z | x) = N(q_mean, q_cov) under the model, in closed form, (N,):

        E_q[log p(x | z)] = -1/2 [ D log(2pi sigma2) + (|x - W m - b|^2 + tr(W^T W S)) / sigma2 ]
        KL(q || p(z))     =  1/2 [ tr(S) + m^T m - L - log|S| ]
        ELBO              =  E_q[log p(x | z)] - KL(q || p(z))

    q_mean (N, L); q_cov (L, L) shared or (N, L, L) per example, positive definite.
    """
    sigma2 = _check_model(x, W, b, sigma2)
    D, L = W.shape
    if q_mean.shape != (x.shape[0], L):
        raise ValueError(f"q_mean: expected shape ({x.shape[0]}, {L}), got {tuple(q_mean.shape)}")
    if q_cov.shape not in ((L, L), (x.shape[0], L, L)):
        raise ValueError(f"q_cov: expected shape ({L}, {L}) or ({x.shape[0]}, {L}, {L}), got {tuple(q_cov.shape)}")
    chol = _cholesky(q_cov, "q_cov")
    logdet_S = 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)
    trace_WtW_S = (W.T @ W * q_cov).sum((-2, -1))                       # tr(W^T W S), S symmetric
    residual = ((x - q_mean @ W.T - b) ** 2).sum(1)
    expected_log_lik = -0.5 * (D * torch.log(2 * math.pi * sigma2) + (residual + trace_WtW_S) / sigma2)
    kl = 0.5 * (torch.diagonal(q_cov, dim1=-2, dim2=-1).sum(-1) + (q_mean**2).sum(1) - L - logdet_S)
    return expected_log_lik - kl


def gaussian_kl_full(mean_q, cov_q, mean_p, cov_p):
    """KL( N(mean_q, cov_q) || N(mean_p, cov_p) ) for full covariances, (N,):

        1/2 [ tr(cov_p^-1 cov_q) + (m_p - m_q)^T cov_p^-1 (m_p - m_q) - L + log|cov_p| - log|cov_q| ]

    means (N, L); covariances (L, L) or (N, L, L), positive definite.
    """
    L = mean_q.shape[-1]
    chol_q, chol_p = _cholesky(cov_q, "cov_q"), _cholesky(cov_p, "cov_p")
    diff = (mean_p - mean_q).unsqueeze(-1)                              # (N, L, 1)
    chol_p_b = chol_p.expand(diff.shape[0], L, L) if chol_p.dim() == 2 else chol_p
    cov_q_b = cov_q.expand(diff.shape[0], L, L) if cov_q.dim() == 2 else cov_q
    trace = torch.diagonal(torch.cholesky_solve(cov_q_b, chol_p_b), dim1=-2, dim2=-1).sum(-1)
    maha = (diff * torch.cholesky_solve(diff, chol_p_b)).sum((-2, -1))
    logdet = lambda c: 2 * torch.log(torch.diagonal(c, dim1=-2, dim2=-1)).sum(-1)  # noqa: E731
    return 0.5 * (trace + maha - L + logdet(chol_p) - logdet(chol_q))


def ppca_vae(W, b, sigma2, q_var_scale=1.0):
    """pPCA as a linear VAE (Gaussian likelihood), for checking VAE code against exact answers.

    The decoder is x = W z + b with noise variance sigma2; the encoder outputs the exact
    posterior mean and, for its variance, the diagonal of the posterior covariance times
    q_var_scale. With L = 1 and q_var_scale = 1, q is the exact posterior.
    """
    D, L = W.shape
    vae = VAE((D, L), activation="linear", likelihood="gaussian").to(W.dtype)
    M = _M(W, torch.as_tensor(sigma2, dtype=W.dtype))
    A = torch.linalg.solve(M, W.T)                                      # posterior mean = A (x - b)
    with torch.no_grad():
        vae.decoder[0].weight.copy_(W)
        vae.decoder[0].bias.copy_(b)
        vae.log_sigma2.fill_(math.log(sigma2))
        vae.encoder[0].weight.copy_(torch.cat([A, torch.zeros(L, D, dtype=W.dtype)]))
        post_var = sigma2 * torch.diagonal(torch.linalg.inv(M))
        vae.encoder[0].bias.copy_(torch.cat([-A @ b, torch.log(q_var_scale * post_var)]))
    return vae
