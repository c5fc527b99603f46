"""Training objectives, per image, in nats (or squared pixel units for the autoencoder).

A loss function for training.train has the signature loss_fn(model, x) -> (loss, parts):
loss is the scalar to minimise (a batch mean), parts a dict of named batch means to log.
"""
from .distributions import gaussian_kl, log_bernoulli
from .validation import flatten_images


def squared_error(x, x_hat):
    """sum_d (x_d - x_hat_d)^2 per image: x, x_hat (N, D) -> (N,)."""
    x = flatten_images(x, x_hat.shape[-1])
    return ((x - x_hat) ** 2).sum(-1)


def ae_loss(model, x):
    """Mean over the batch of the summed squared reconstruction error."""
    err = squared_error(x, model(x)).mean()
    return err, {"sq_err": err}


def elbo_parts(model, x):
    """The two ELBO terms per image, with one sampled z ~ q(z|x):
    log p(x|z) (reconstruction, nats) and KL(q(z|x) || p(z)) (analytic, nats); each (N,).
    ELBO = log p(x|z) - KL (Kingma & Welling 2014, eq. 10)."""
    x = flatten_images(x, model.dims[0])
    out = model(x)
    return log_bernoulli(x, out.logits), gaussian_kl(out.mu, out.logvar)


def vae_loss(model, x, beta=1.0):
    """Negative ELBO, batch mean, nats per image: -log p(x|z) + beta * KL."""
    log_px_z, kl = elbo_parts(model, x)
    recon, kl = -log_px_z.mean(), kl.mean()
    return recon + beta * kl, {"recon": recon, "kl": kl}
