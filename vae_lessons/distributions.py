"""Log-densities and the Gaussian KL, written to mirror the math (all in nats).

Every function sums over the last dimension, so a batch of N flattened images x of shape
(N, D) gives a result of shape (N,): one number per image.
"""
import math

import torch
import torch.nn.functional as F

from .validation import broadcast_shape, check_float, check_pixels

LOG_2PI = math.log(2 * math.pi)


def log_bernoulli(x, logits):
    """log p(x) = sum_d [ x_d log p_d + (1 - x_d) log(1 - p_d) ],  p = sigmoid(logits).

    x: values in [0, 1], shape (..., D); logits: same shape (or broadcastable).
    Written with logits because log(sigmoid(l)) = -softplus(-l) never takes log(0):
    the sum equals x*l - softplus(l). Returns shape (...).
    For x that are not 0/1 this is the negative binary cross-entropy, not a log-likelihood
    (the Bernoulli has mass only at 0 and 1).
    """
    check_pixels(x, "x")
    check_float(logits, "logits")
    broadcast_shape(x, logits, "x", "logits")
    if logits.dim() > x.dim():
        # Many codes per image (iwae_bound: x (N, D), logits (K, N, D)): sum_d x_d l_d as one batched
        # product, without a (K, N, D) temporary for x * l. Half the time of the line below there.
        dtype = torch.result_type(x, logits)  # einsum does not promote, as the line below does
        return torch.einsum("...d,...d->...", x.to(dtype), logits.to(dtype)) - F.softplus(logits).sum(-1)
    return (x * logits - F.softplus(logits)).sum(-1)


def log_normal_diag(x, mu, logvar):
    """log N(x; mu, diag(exp(logvar))) = -1/2 sum_d [ log 2pi + logvar_d + (x_d - mu_d)^2 / exp(logvar_d) ].

    x, mu, logvar: shape (..., D), broadcastable. Returns shape (...).
    """
    for t, n in ((x, "x"), (mu, "mu"), (logvar, "logvar")):
        check_float(t, n)
    broadcast_shape(x, mu, "x", "mu")
    broadcast_shape(x, logvar, "x", "logvar")
    return -0.5 * (LOG_2PI + logvar + (x - mu) ** 2 * torch.exp(-logvar)).sum(-1)


def log_standard_normal(z):
    """log N(z; 0, I) = -1/2 sum_d [ log 2pi + z_d^2 ]. z: (..., L). Returns shape (...)."""
    check_float(z, "z")
    return -0.5 * (LOG_2PI + z**2).sum(-1)


def _kl_arguments(mu_q, logvar_q, mu_p, logvar_p):
    """Check q's parameters; turn p's (numbers or tensors) into tensors that broadcast with them."""
    mu_q, logvar_q = check_float(mu_q, "mu_q"), check_float(logvar_q, "logvar_q")
    mu_p, logvar_p = (torch.as_tensor(t, dtype=mu_q.dtype, device=mu_q.device) for t in (mu_p, logvar_p))
    if mu_q.shape != logvar_q.shape:
        raise ValueError(f"mu_q has shape {tuple(mu_q.shape)} and logvar_q {tuple(logvar_q.shape)}: they must match")
    broadcast_shape(mu_q, mu_p, "mu_q", "mu_p")
    broadcast_shape(logvar_q, logvar_p, "logvar_q", "logvar_p")
    return mu_q, logvar_q, mu_p, logvar_p


def gaussian_kl(mu_q, logvar_q, mu_p=0.0, logvar_p=0.0):
    """KL( N(mu_q, diag e^logvar_q) || N(mu_p, diag e^logvar_p) ), summed over the last dimension:

        1/2 sum_d [ e^(lq - lp) - 1 - (lq - lp) + (mu_q - mu_p)^2 e^(-lp) ]

    (Kingma & Welling 2014, appendix B, for the default prior N(0, I)). Written with
    d = logvar_q - logvar_p and expm1(d) - d: for small d this avoids the 1 - 1 cancellation
    of exp(d) - 1 - d. With u = 2^-24 ~ 6e-8 (float32's unit roundoff), a correctly rounded
    expm1 leaves a relative error of at most about 2u / |d| (1.2e-3 at |d| = 1e-4), where
    exp(d) - 1 - d has one of order u / d^2 (every digit lost by |d| ~ 1e-4). Lesson 04
    measures at most 0.91 of that bound for |d| in [1e-4, 0.1] in float32 (8.4e-4 at
    |d| = 1.26e-4). It stays finite for logvar in [-30, 30] in float32.
    Shapes (..., L), broadcastable; returns (...), in nats.
    """
    mu_q, logvar_q, mu_p, logvar_p = _kl_arguments(mu_q, logvar_q, mu_p, logvar_p)
    d = logvar_q - logvar_p
    return 0.5 * (torch.expm1(d) - d + (mu_q - mu_p) ** 2 * torch.exp(-logvar_p)).sum(-1)


def gaussian_kl_mc(mu_q, logvar_q, mu_p=0.0, logvar_p=0.0, *, n_samples=1000, generator=None):
    """Monte Carlo estimate of the same KL: mean over z ~ q of log q(z) - log p(z).

    Returns (estimate, standard error), each of shape (...): the standard error is the
    sample standard deviation of the terms over sqrt(n_samples).
    """
    mu_q, logvar_q, mu_p, logvar_p = _kl_arguments(mu_q, logvar_q, mu_p, logvar_p)
    if n_samples < 2:
        raise ValueError(f"n_samples must be at least 2 to give a standard error, got {n_samples}")
    eps = torch.randn((n_samples,) + mu_q.shape, generator=generator, dtype=mu_q.dtype, device=mu_q.device)
    z = mu_q + torch.exp(0.5 * logvar_q) * eps
    terms = log_normal_diag(z, mu_q, logvar_q) - log_normal_diag(z, mu_p, logvar_p)
    return terms.mean(0), terms.std(0) / n_samples**0.5
