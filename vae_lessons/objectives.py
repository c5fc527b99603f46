"""Training and evaluation objectives, per image, in nats (squared pixel units for the
autoencoder).

A loss function for training.train has the signature loss_fn(model, x) -> (loss, parts):
loss is the scalar to minimise (a batch mean), parts a dict of named batch means to log.
Trained on (x, y), it is called as loss_fn(model, x, y): for a label-conditional VAE,
lambda m, x, y: vae_loss(m, x, y=y).

The ELBO's functions and iwae_bound take y=... for a models.ConditionalVAE, whose bounds are
then bounds on log p(x | y); a model without labels takes none.
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


def elbo_parts(model, x, kl="analytic", *, y=None):
    """The two ELBO terms per image, with one sampled z ~ q(z|x) (Kingma & Welling 2014, eq. 10):

        ELBO = log p(x | z) - KL(q(z | x) || p(z))

    Returns (log p(x|z), KL), each (N,), in nats. kl="analytic" uses the closed form;
    kl="mc" the one-sample estimate log q(z|x) - log p(z) at the same z (unbiased, noisier;
    the only option when the prior or posterior has no closed-form KL).

    y: the labels (N,) of a label-conditional model, whose terms are then log p(x | z, y) and
    KL(q(z | x, y) || p(z)): their difference bounds log p(x | y) (models.ConditionalVAE).
    """
    if kl not in ("analytic", "mc"):
        raise ValueError(f"kl must be 'analytic' or 'mc', got {kl!r}")
    log_px_z, mu, logvar, z = _one_sample(model, x, y)
    if kl == "analytic":
        return log_px_z, gaussian_kl(mu, logvar)
    return log_px_z, log_normal_diag(z, mu, logvar) - log_standard_normal(z)


def _one_sample(model, x, y=None):
    """(log p(x|z), mu, logvar, z) with one z ~ q(z|x) per image: the encoder's posterior and
    the decoder's log-likelihood, (N,), (N, L), (N, L), (N, L). Given y for a conditional model."""
    labels = label_arguments(model, y)
    x = flatten_images(x, model.dims[0])
    mu, logvar = model.encode(x, *labels)
    z = model.reparameterize(mu, logvar)
    return model.log_likelihood(x, z, *labels), mu, logvar, z


def label_arguments(model, y):
    """The extra arguments of model's encode and log_likelihood: (y,) for a label-conditional
    model (one with n_classes > 0), () for any other; a TypeError when y is missing for the
    first or given to the second (which would ignore it, or fail deep inside)."""
    if getattr(model, "n_classes", 0):
        if y is None:
            raise TypeError(f"y: a {type(model).__name__} models p(x | y): pass the labels, y=... "
                            "(an int64 tensor, one per image)")
        return (y,)
    if y is not None:
        raise TypeError(f"y: labels given, but a {type(model).__name__} takes none (it models p(x), not p(x | y))")
    return ()


def kl_per_coordinate(mu, logvar):
    """KL( q(z_l | x) || N(0, 1) ) of each coordinate l of a diagonal Gaussian, not summed:
    mu, logvar (..., L) -> (..., L), in nats; it sums over l to gaussian_kl(mu, logvar)
    (the same closed form, one coordinate at a time)."""
    return gaussian_kl(mu.unsqueeze(-1), logvar.unsqueeze(-1))


def elbo(model, x, kl="analytic", *, y=None):
    """The ELBO per image, (N,), in nats, with one sampled z: log p(x|z) - KL (see elbo_parts);
    of log p(x | y) for a label-conditional model given its labels y."""
    log_px_z, kl_term = elbo_parts(model, x, kl, y=y)
    return log_px_z - kl_term


def vae_loss(model, x, beta=1.0, kl="analytic", free_bits=0.0, *, y=None):
    """Negative ELBO (for beta = 1), batch mean, nats per image: -log p(x|z) + beta * KL.
    beta: a finite number >= 0 (a negative weight rewards a large KL: the loss has no minimum).

    free_bits = lambda > 0 (nats, per latent coordinate; Kingma et al. 2016, "Improved
    variational inference with inverse autoregressive flow", section on free bits, with each
    coordinate its own group) replaces the KL term by

        sum_l max(lambda, KL_l),   KL_l = mean over the batch of KL(q(z_l | x) || N(0, 1)),

    so a coordinate whose batch-mean KL is below lambda costs lambda and gets no gradient
    pushing it further towards the prior. It needs kl="analytic". The parts still report the
    actual batch means "recon" and "kl" (the ELBO is -(recon + kl)), and "kl_loss", the term
    that replaced the KL. With free_bits = 0 (the default) the loss is exactly the one above.

    y: the labels (N,) of a label-conditional model (models.ConditionalVAE): the same loss
    with p(x | z, y) and q(z | x, y).
    """
    real_number(beta, "beta", minimum=0)
    real_number(free_bits, "free_bits", minimum=0)
    if free_bits == 0:
        log_px_z, kl_term = elbo_parts(model, x, kl, y=y)
        recon, kl_mean = -log_px_z.mean(), kl_term.mean()
        return recon + beta * kl_mean, {"recon": recon, "kl": kl_mean}
    if kl != "analytic":
        raise ValueError(f"free_bits needs kl='analytic' (the per-coordinate KL in closed form), got kl={kl!r}")
    log_px_z, mu, logvar, _ = _one_sample(model, x, y)
    recon, kl_mean = -log_px_z.mean(), gaussian_kl(mu, logvar).mean()
    kl_loss = kl_per_coordinate(mu, logvar).mean(0).clamp(min=float(free_bits)).sum()
    return recon + beta * kl_loss, {"recon": recon, "kl": kl_mean, "kl_loss": kl_loss}


def kl_weight(step, warmup_steps, beta=1.0):
    """The weight of the KL term at optimizer step `step` (counted from 0) under a linear
    warm-up (Bowman et al. 2016, "Generating sentences from a continuous space"; Sønderby et
    al. 2016, "Ladder variational autoencoders"): beta * min(1, step / warmup_steps), and beta
    when warmup_steps == 0. So the first step has weight 0, and the weight reaches beta at
    step warmup_steps. step, warmup_steps: ints >= 0; beta: a finite number >= 0. Returns a float.
    """
    step = whole_number(step, "step", minimum=0)
    warmup_steps = whole_number(warmup_steps, "warmup_steps", minimum=0)
    real_number(beta, "beta", minimum=0)
    return float(beta) if warmup_steps == 0 else float(beta) * min(1.0, step / warmup_steps)


def log_mean_exp(a, dim=0):
    """log( mean_i exp(a_i) ) along dim, without overflow: logsumexp(a) - log n."""
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


def default_chunk(n_images, dims):
    """iwae_bound's samples per chunk for a batch of n_images of dims numbers each: about 2^24
    numbers per chunk (benchmarks/roofline.py times the products at these shapes)."""
    return max(1, (1 << 24) // (n_images * dims))


@torch.no_grad()  # an evaluation: no graph (kept across k / chunk chunks, it would hold gigabytes)
def iwae_bound(model, x, k, *, chunk=None, generator=None, y=None):
    """The importance-weighted bound (Burda et al. 2015, eq. 8), per image (N,), in nats:

        L_k = log (1/k) sum_{i=1}^{k} p(x, z_i) / q(z_i | x),   z_i ~ q(z | x).

    L_1 is the ELBO (one sample); E[L_k] increases with k and tends to log p(x). Samples are
    drawn `chunk` at a time (default: about 2^24 numbers per chunk) and combined with a
    running log-sum-exp, so k = 5000 fits in a laptop's memory. k and chunk: positive ints
    (NumPy ints too).

    y: the labels (N,) of a label-conditional model; then p and q are p(x | z, y) and
    q(z | x, y), and L_k bounds log p(x | y) (models.ConditionalVAE).
    """
    k = whole_number(k, "k")
    chunk = None if chunk is None else whole_number(chunk, "chunk")
    labels = label_arguments(model, y)
    x = flatten_images(x, model.dims[0])
    mu, logvar = model.encode(x, *labels)
    chunk = chunk or default_chunk(x.shape[0], x.shape[1])
    total = torch.full((x.shape[0],), -math.inf, dtype=mu.dtype, device=mu.device)
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        eps = torch.randn((n,) + mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        z = mu + torch.exp(0.5 * logvar) * eps                                     # (n, N, L)
        log_w = model.log_likelihood(x, z, *labels) + log_standard_normal(z) - log_normal_diag(z, mu, logvar)
        total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))
    return total - math.log(k)


def bits_per_dim(nats_per_image, dims=784):
    """Convert a negative log-likelihood in nats per image to bits per dimension: nats / (D ln 2)."""
    return nats_per_image / (dims * math.log(2))
