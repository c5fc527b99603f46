"""Training and evaluation objectives, per image, in nats (squared pixel units for the
autoencoder).

A loss function for training.train has the signature loss_fn(model, x) -> (loss, parts):
loss is the scalar to minimise (a batch mean), parts a dict of named batch means to log.
"""
import math

import torch

from .distributions import gaussian_kl, log_normal_diag, log_standard_normal
from .validation import flatten_images, real_number, whole_number


def squared_error(x, x_hat):
    """sum_d (x_d - x_hat_d)^2 per image: x, x_hat (N, D) -> (N,)."""
    x = flatten_images(x, x_hat.shape[-1])
    return ((x - x_hat) ** 2).sum(-1)


def ae_loss(model, x):
    """Mean over the batch of the summed squared reconstruction error."""
    err = squared_error(x, model(x)).mean()
    return err, {"sq_err": err}


def elbo_parts(model, x, kl="analytic"):
    """The two ELBO terms per image, with one sampled z ~ q(z|x) (Kingma & Welling 2014, eq. 10):

        ELBO = log p(x | z) - KL(q(z | x) || p(z))

    Returns (log p(x|z), KL), each (N,), in nats. kl="analytic" uses the closed form;
    kl="mc" the one-sample estimate log q(z|x) - log p(z) at the same z (unbiased, noisier;
    the only option when the prior or posterior has no closed-form KL).
    """
    if kl not in ("analytic", "mc"):
        raise ValueError(f"kl must be 'analytic' or 'mc', got {kl!r}")
    x = flatten_images(x, model.dims[0])
    mu, logvar = model.encode(x)
    z = model.reparameterize(mu, logvar)
    log_px_z = model.log_likelihood(x, z)
    if kl == "analytic":
        return log_px_z, gaussian_kl(mu, logvar)
    return log_px_z, log_normal_diag(z, mu, logvar) - log_standard_normal(z)


def elbo(model, x, kl="analytic"):
    """The ELBO per image, (N,), in nats, with one sampled z: log p(x|z) - KL (see elbo_parts)."""
    log_px_z, kl_term = elbo_parts(model, x, kl)
    return log_px_z - kl_term


def vae_loss(model, x, beta=1.0, kl="analytic"):
    """Negative ELBO (for beta = 1), batch mean, nats per image: -log p(x|z) + beta * KL.
    beta: a finite number >= 0 (a negative weight rewards a large KL: the loss has no minimum)."""
    real_number(beta, "beta", minimum=0)
    log_px_z, kl_term = elbo_parts(model, x, kl)
    recon, kl_mean = -log_px_z.mean(), kl_term.mean()
    return recon + beta * kl_mean, {"recon": recon, "kl": kl_mean}


def log_mean_exp(a, dim=0):
    """log( mean_i exp(a_i) ) along dim, without overflow: logsumexp(a) - log n."""
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


@torch.no_grad()
def iwae_bound(model, x, k, *, chunk=None, generator=None):
    """The importance-weighted bound (Burda et al. 2015, eq. 8), per image (N,), in nats:

        L_k = log (1/k) sum_{i=1}^{k} p(x, z_i) / q(z_i | x),   z_i ~ q(z | x).

    L_1 is the ELBO (one sample); E[L_k] increases with k and tends to log p(x). Samples are
    drawn `chunk` at a time (default: about 2^24 numbers per chunk) and combined with a
    running log-sum-exp, so k = 5000 fits in a laptop's memory. k and chunk: positive ints
    (NumPy ints too).
    """
    k = whole_number(k, "k")
    chunk = None if chunk is None else whole_number(chunk, "chunk")
    x = flatten_images(x, model.dims[0])
    mu, logvar = model.encode(x)
    chunk = chunk or max(1, (1 << 24) // (x.shape[0] * x.shape[1]))
    total = torch.full((x.shape[0],), -math.inf, dtype=mu.dtype, device=mu.device)
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        eps = torch.randn((n,) + mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps                                     # (n, N, L)
        log_w = model.log_likelihood(x, z) + log_standard_normal(z) - log_normal_diag(z, mu, logvar)
        total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))
    return total - math.log(k)


def bits_per_dim(nats_per_image, dims=784):
    """Convert a negative log-likelihood in nats per image to bits per dimension: nats / (D ln 2)."""
    return nats_per_image / (dims * math.log(2))
