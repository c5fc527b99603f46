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


def gaussian_kl(mu, logvar):
    """KL( N(mu, diag(exp(logvar))) || N(0, I) ) = 1/2 sum_d [ mu_d^2 + exp(logvar_d) - 1 - logvar_d ].

    Kingma & Welling (2014), appendix B. mu, logvar: (..., L). Returns shape (...), in nats.
    """
    check_float(mu, "mu")
    check_float(logvar, "logvar")
    if mu.shape != logvar.shape:
        raise ValueError(f"mu has shape {tuple(mu.shape)} and logvar {tuple(logvar.shape)}: they must match")
    return 0.5 * (mu**2 + torch.exp(logvar) - 1 - logvar).sum(-1)
