"""WRONG ON PURPOSE: the mistakes widely copied in VAE write-ups, each small and named, so that
lesson 13 can reproduce its symptom and tests/test_mistakes.py can assert it.

Nothing here is for use. Each docstring says what is wrong, the symptom lesson 13 measures, and
the correct code elsewhere in the package. The losses have train()'s signature,
loss_fn(model, x) -> (loss, parts), in nats per image, so that a broken model trains exactly as
a correct one does; the models are VAE subclasses (or, for the write-up style of mistakes 5 and
12, plain modules) that change one method.

    1  loss_kl_sign_flipped          -E[log p(x|z)] - lam KL        (correct: objectives.vae_loss)
    2  loss_kl_only                  KL alone
    3  loss_reconstruction_only      -E[log p(x|z)] alone
    4  SigmoidEncoderVAE             mu = sigmoid(.), var = sigmoid(.) + eps
    5  MeanVarianceDecoderVAE        the decoder reads (mu, sigma^2), never a sample z
    6  reparameterize_logvar_only    z = logvar + eps exp(logvar)   (correct: VAE.reparameterize)
    7  reparameterize_variance_as_std  z = mu + exp(logvar) eps
    8  decode_with_output_noise      x_hat = sigmoid(.) + noise, fed to a Bernoulli likelihood
    9  loss_mean_pixels_sum_kl       BCE averaged over pixels + KL summed: beta = D in disguise
    10 elbo_at_mean                  the "ELBO" evaluated at z = mu
    11 bce_grey                      BCE on grey pixels reported as a log-likelihood
    12 WriteUpVAE                    no decoder module: nothing to sample the prior through
    13 (the package's own check)     pixels in 0..255: validation.check_pixels refuses them
"""
import torch
import torch.nn.functional as F
from torch import nn

from .distributions import gaussian_kl, log_bernoulli
from .models import VAE
from .objectives import elbo_parts
from .validation import check_pixels, flatten_images


def loss_kl_sign_flipped(model, x, lam=1.0):
    """WRONG: -E[log p(x|z)] - lam * KL, the KL's sign flipped. Minimising it rewards a large KL,
    which has no upper bound (|mu| and exp(logvar) can grow for ever): the KL climbs step after
    step and the codes leave the prior's region, so prior samples decode to nothing. Correct:
    objectives.vae_loss, -E[log p(x|z)] + beta * KL, which refuses beta < 0."""
    log_px_z, kl = elbo_parts(model, x)
    recon, kl = -log_px_z.mean(), kl.mean()
    return recon - lam * kl, {"recon": recon, "kl": kl}


def loss_kl_only(model, x):
    """WRONG: the KL term alone ("the VAE loss is the KL divergence"). Its minimum is
    q(z|x) = N(0, I) for every x: the codes carry no information about x and the decoder gets
    no gradient at all. Correct: objectives.vae_loss."""
    log_px_z, kl = elbo_parts(model, x)
    return kl.mean(), {"recon": -log_px_z.mean().detach(), "kl": kl.mean()}


def loss_reconstruction_only(model, x):
    """WRONG: -E[log p(x|z)] alone (binary cross-entropy, no KL): an autoencoder with noise in
    its codes. Nothing ties the codes to N(0, I), so the aggregate posterior drifts from the
    prior and decoded prior samples are poor. Correct: objectives.vae_loss."""
    log_px_z, kl = elbo_parts(model, x)
    return -log_px_z.mean(), {"recon": -log_px_z.mean(), "kl": kl.mean().detach()}


class SigmoidEncoderVAE(VAE):
    """WRONG: mu = sigmoid(h_mu) and sigma^2 = sigmoid(h_var) + eps. The codes' means are confined
    to (0, 1) and the variance to (eps, 1 + eps). The decoder only ever sees codes near the unit
    cube (0, 1)^L, where a prior draw z ~ N(0, I) lands with probability (Phi(1) - 1/2)^L
    (0.341^L), and a code that says nothing about x (q = N(0, 1): mu = 0, sigma^2 = 1) is out of
    reach, so every coordinate pays some KL. Correct: models.VAE, whose encoder outputs mu and
    logvar unconstrained."""

    eps = 1e-4
    squash_mean, cap_variance = True, True  # each half of the mistake can be switched off, to tell their costs apart

    def _posterior(self, inputs):
        h_mu, h_var = self.encoder(inputs).chunk(2, dim=-1)
        mu = torch.sigmoid(h_mu) if self.squash_mean else h_mu
        logvar = torch.log(torch.sigmoid(h_var) + self.eps) if self.cap_variance else h_var
        return mu, logvar


class MeanVarianceDecoderVAE(nn.Module):
    """WRONG: the decoder reads the concatenated (mu, sigma^2) of q(z|x) instead of a sample z.
    Nothing is sampled, so the "KL" term prices a distribution the decoder never sees: this is a
    deterministic autoencoder with a penalty, not a latent-variable model, and its loss bounds no
    likelihood. Its decoder takes 2 L inputs, so codes z ~ N(0, I) of L numbers cannot be
    decoded. Written as write-ups write it (a plain module); forward(x) -> (logits, mu, logvar).
    Correct: models.VAE, which decodes z = mu + sigma * eps."""

    def __init__(self, dims=(784, 256, 2)):
        super().__init__()
        d, h, latent = dims
        self.encoder = nn.Sequential(nn.Linear(d, h), nn.ReLU(), nn.Linear(h, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(2 * latent, h), nn.ReLU(), nn.Linear(h, d))

    def forward(self, x):
        mu, logvar = self.encoder(flatten_images(x, self.encoder[0].in_features)).chunk(2, dim=-1)
        return self.decoder(torch.cat([mu, logvar.exp()], dim=-1)), mu, logvar


def loss_mean_variance_decoder(model, x):
    """The write-up's loss for MeanVarianceDecoderVAE: BCE at the decoded (mu, sigma^2) + KL, per
    image. It looks like the negative ELBO, but no z ~ q(z|x) appears in it."""
    logits, mu, logvar = model(x)
    recon, kl = -log_bernoulli(flatten_images(x, logits.shape[-1]), logits).mean(), gaussian_kl(mu, logvar).mean()
    return recon + kl, {"recon": recon, "kl": kl}


def reparameterize_logvar_only(mu, logvar, generator=None):
    """WRONG: z = logvar + eps * exp(logvar), mu unused. No gradient reaches mu (it is exactly
    zero), and logvar sets both where the code lies and how spread it is. Correct:
    models.VAE.reparameterize, z = mu + exp(logvar / 2) * eps."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return logvar + eps * torch.exp(logvar)


def reparameterize_variance_as_std(mu, logvar, generator=None):
    """WRONG: z = mu + exp(logvar) * eps, the variance used as the standard deviation, so
    Var z = exp(logvar)^2 = exp(2 logvar) rather than exp(logvar): the z the decoder sees does not
    come from the q(z|x) that the KL term prices. Correct: models.VAE.reparameterize."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(logvar) * eps


class LogvarOnlyVAE(VAE):
    """A VAE sampling with reparameterize_logvar_only (mistake 6): WRONG on purpose."""
    reparameterize = staticmethod(reparameterize_logvar_only)


class VarianceAsStdVAE(VAE):
    """A VAE sampling with reparameterize_variance_as_std (mistake 7): WRONG on purpose."""
    reparameterize = staticmethod(reparameterize_variance_as_std)


def decode_with_output_noise(model, z, scale=0.1, generator=None):
    """WRONG: x_hat = sigmoid(decoder(z)) + scale * eps, "noise for a stochastic output". The
    outputs leave [0, 1], where a Bernoulli mean must lie, so the likelihood is undefined (log of
    a negative number: NaN). The randomness of a VAE belongs in z; the decoder's output is the
    mean of p(x|z). (N, L) -> (N, D)."""
    probs = torch.sigmoid(model.decode(z))
    return probs + scale * torch.randn(probs.shape, generator=generator, dtype=probs.dtype, device=probs.device)


def bernoulli_nll_by_hand(x, probs):
    """-sum_d [x_d log p_d + (1 - x_d) log(1 - p_d)], the formula as write-ups type it, with no
    check on p: (N, D) -> (N,). NaN wherever p leaves [0, 1]."""
    return -(x * torch.log(probs) + (1 - x) * torch.log(1 - probs)).sum(-1)


def loss_mean_pixels_sum_kl(model, x):
    """WRONG: the reconstruction term averaged over the D pixels (F.binary_cross_entropy's
    default reduction) while the KL is summed over the L coordinates. Per image this is
    (1 / D) * (-log p(x|z) + D * KL): the negative ELBO with beta = D (784 for MNIST) in
    disguise, divided by D. The KL's weight collapses the posterior. Correct: both terms summed,
    objectives.vae_loss."""
    log_px_z, kl = elbo_parts(model, x)
    recon = -log_px_z.mean() / model.dims[0]
    return recon + kl.mean(), {"recon": -log_px_z.mean(), "kl": kl.mean()}


def loss_sum_pixels_mean_kl(model, x):
    """WRONG, the reverse: reconstruction summed over pixels, KL averaged over the L coordinates:
    the negative ELBO with beta = 1 / L."""
    log_px_z, kl = elbo_parts(model, x)
    return -log_px_z.mean() + kl.mean() / model.latent_dim, {"recon": -log_px_z.mean(), "kl": kl.mean()}


@torch.no_grad()
def elbo_at_mean(model, x):
    """WRONG as an ELBO: log p(x | z = mu) - KL(q(z|x) || p(z)) per image, (N,), nats. The ELBO's
    first term is an expectation over z ~ q(z|x); replacing it by its value at the mean is not
    guaranteed to bound log p(x) (for a trained model it is biased upwards; lesson 13 measures
    by how much). Correct: objectives.elbo, with a sampled z."""
    x = flatten_images(x, model.dims[0])
    mu, logvar = model.encode(x)
    return model.log_likelihood(x, mu) - gaussian_kl(mu, logvar)


def bce_grey(model, x, generator=None):
    """Binary cross-entropy of grey-level pixels x in [0, 1] (not binarized) under the decoder's
    means at one sampled z, summed over pixels, per image (N,), in nats: what write-ups train on
    and report as "the negative log-likelihood". It is not one: a Bernoulli puts mass only on
    0 and 1, and the number has the floor binary_entropy_floor(x) > 0 that no model can beat
    (bce_grey = floor + sum_d KL(Bern(x_d) || Bern(p_d)))."""
    x = check_pixels(flatten_images(x, model.dims[0]))
    with torch.no_grad():
        mu, logvar = model.encode(x)
        z = model.reparameterize(mu, logvar, generator)  # one z ~ q(z|x), the VAE's own sampling step
        return -log_bernoulli(x, model.decode(z))


def binary_entropy_floor(x):
    """sum_d H(x_d), H(p) = -p log p - (1 - p) log(1 - p) (0 log 0 = 0), per image, (N,), nats:
    the smallest binary cross-entropy any model can reach on grey pixels x, reached at p = x."""
    x = check_pixels(x.flatten(1))  # (N, D) or (N, 28, 28) -> (N, D)
    return -(torch.xlogy(x, x) + torch.xlogy(1 - x, 1 - x)).sum(-1)


class WriteUpVAE(nn.Module):
    """WRONG as a generative model: a layout some write-ups use, the layers of the PyTorch
    example (fc1, fc21, fc22, fc3, fc4) used inline in forward, with no decoder of their own (the
    PyTorch example itself avoids this: its decode(z) method is the decoder). Sampling the prior
    needs the decoder alone: vae.decoder(z) raises AttributeError.
    The fix is WriteUpVAEFixed (a decoder module); models.VAE has one, model.decoder.
    forward(x) -> (logits, mu, logvar)."""

    def __init__(self, dims=(784, 256, 2)):
        super().__init__()
        d, h, latent = dims
        self.fc1, self.fc21, self.fc22 = nn.Linear(d, h), nn.Linear(h, latent), nn.Linear(h, latent)
        self.fc3, self.fc4 = nn.Linear(latent, h), nn.Linear(h, d)

    def forward(self, x):
        h = F.relu(self.fc1(flatten_images(x, self.fc1.in_features)))
        mu, logvar = self.fc21(h), self.fc22(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.fc4(F.relu(self.fc3(z))), mu, logvar


class WriteUpVAEFixed(WriteUpVAE):
    """The fix for WriteUpVAE: the same layers, the decoder made its own module (sharing fc3 and
    fc4), so decoder(z) samples from the prior: logits of p(x|z), (N, L) -> (N, D)."""

    def __init__(self, dims=(784, 256, 2)):
        super().__init__(dims)
        self.decoder = nn.Sequential(self.fc3, nn.ReLU(), self.fc4)
