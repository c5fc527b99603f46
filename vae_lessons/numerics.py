"""Numerical integration over a 1-D grid, in log space (for densities far below 1)."""
import math

import torch


def log_trapezoid(log_f, z):
    """log of the integral of exp(log_f) over the grid z, by the trapezoid rule.

    z: (G,) increasing grid; log_f: (..., G) log-values of the integrand on the grid.
    Returns (...). Stays finite where exp(log_f) would underflow (logsumexp).
    """
    if z.dim() != 1 or log_f.shape[-1] != z.shape[0]:
        raise ValueError(f"log_f's last dimension ({log_f.shape[-1]}) must match the grid z ({tuple(z.shape)})")
    dz = z[1:] - z[:-1]
    if not (dz > 0).all():
        raise ValueError("z: the grid must be strictly increasing")
    log_w = torch.zeros_like(z)
    log_w[:-1] += dz / 2
    log_w[1:] += dz / 2
    return torch.logsumexp(log_f + torch.log(log_w), dim=-1)


def log_normal_1d(z, mean, var):
    """log N(z; mean, var) for scalars or broadcastable tensors."""
    return -0.5 * (math.log(2 * math.pi) + torch.log(torch.as_tensor(var, dtype=z.dtype)) + (z - mean) ** 2 / var)
