"""The VAE-GAN (Larsen, Sønderby, Larochelle & Winther 2016, "Autoencoding beyond pixels using a
learned similarity metric", section 2 and Algorithm 1): a VAE whose reconstruction error is
measured in the hidden features of a GAN discriminator instead of pixel by pixel, and whose
decoder is also trained to fool that discriminator.

Three players, each with its own loss and its own optimizer (x a batch of real images, x~ its
reconstructions Dec(z), z ~ q(z|x), and x_p = Dec(z_p), z_p ~ N(0, I), decodings of prior codes):

    encoder:        L_prior + L_llike^{Dis_l}
    decoder:        gamma * L_llike^{Dis_l} + (its GAN loss)
    discriminator:  (its GAN loss)

with L_prior = KL(q(z|x) || N(0, I)) (prior_loss), L_llike^{Dis_l} the Gaussian negative
log-likelihood of the real image's discriminator features given the reconstruction's
(feature_reconstruction_loss), and the GAN losses from

    L_GAN = log Dis(x) + log(1 - Dis(Dec(z_p))) + log(1 - Dis(Dec(Enc(x)))),

which the discriminator maximises (discriminator_loss: minus it, the cross-entropy it minimises)
and the decoder opposes (generator_gan_loss, in its non-saturating form; see there). The GAN
loss never reaches the encoder, and the discriminator is trained by its GAN loss alone.

Data: grey MNIST in [0, 1], not binarized. The VAE-GAN has no pixel likelihood, so nothing asks
for binary pixels: the decoder's output image is the mean sigmoid(logits) of the wrapped VAE's
Bernoulli decoder, and the discriminator compares it with real grey images. For the same
reason its losses are not an ELBO and not comparable with the VAE's nats per image: L_llike
is a density of discriminator features, whose scale the discriminator itself changes.
Samples are compared with a plain VAE's by the metrics module (Fréchet distance,
precision/recall, sharpness), not by likelihood.
"""
import math
import time
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .distributions import gaussian_kl
from .models import VAE, ConvVAE
from .training import History, NonFiniteLossError, _StopOnInterrupt
from .validation import check_float, check_matches, check_pixels, describe, flatten_images, real_number, whole_number

# The balancing rule's centre: a discriminator cross-entropy of about ln 2 = 0.693 means it answers
# 1/2, i.e. cannot tell. 0.68 is the value in Larsen's own code (andersbll/autoencoding_beyond_pixels,
# model/aegan.py, GradientDescent(margin=0.4, equilibrium=0.68)).
EQUILIBRIUM = 0.68


class Discriminator(nn.Module):
    """Dis(x): the probability that an image is real, as a logit; and Dis_l(x), its hidden layer,
    the feature space in which the VAE-GAN measures reconstructions.

    Input (N, 784), (N, 28, 28) or (N, 1, 28, 28) grey images in [0, 1]. Layers:
        view as (N, 1, 28, 28) -> Conv2d(1, 32, 4, stride 2, padding 1) -> LeakyReLU(0.2): (N, 32, 14, 14)
        -> Conv2d(32, 64, 4, stride 2, padding 1) -> LeakyReLU(0.2): (N, 64, 7, 7) -> flatten:
        Dis_l(x), (N, 3136) -> Linear(3136, 1): the logit, (N,).
    The ConvVAE's encoder with LeakyReLU (a GAN discriminator's usual activation: a ReLU's zero
    gradient for negative inputs would stop the decoder's signal wherever a unit is off).

    The convolutions start from He initialisation for LeakyReLU (biases 0), which keeps the
    features at about the pixels' scale. With PyTorch's default initialisation they start some
    20 times smaller in mean square, L_llike is then nearly flat, and the KL term can win: in a
    trial with balancing on, the encoder collapsed to the prior (KL 0.26 nats per image after 2 epochs).
    """

    feature_dim = 64 * 7 * 7

    def __init__(self, negative_slope=0.2):
        super().__init__()
        real_number(negative_slope, "negative_slope", minimum=0)
        self.body = nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 32, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(negative_slope),   # 28 -> 14
            nn.Conv2d(32, 64, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(negative_slope),  # 14 -> 7
            nn.Flatten())
        self.head = nn.Linear(self.feature_dim, 1)
        for conv in (self.body[1], self.body[3]):
            nn.init.kaiming_normal_(conv.weight, a=negative_slope, nonlinearity="leaky_relu")
            nn.init.zeros_(conv.bias)

    def _images(self, x, name="x"):
        """x checked: (N, 784) or (N, 28, 28) or (N, 1, 28, 28), pixels in [0, 1], of the
        discriminator's dtype and device; returns (N, 784)."""
        x = check_matches(flatten_images(x, 784, name), self.body[1].weight, name)
        return check_pixels(x, name, " (the discriminator compares grey images in [0, 1])")

    def features(self, x):
        """Dis_l(x): x (N, 784) or (N, 28, 28) or (N, 1, 28, 28) in [0, 1] -> (N, 3136)."""
        return self.body(self._images(x))

    def forward(self, x):
        """x as for features -> (Dis_l(x), (N, 3136); the logit of Dis(x), (N,)).
        Dis(x) = sigmoid(logit), the probability that x is real."""
        f = self.features(x)
        return f, self.head(f).squeeze(-1)


# ------------------------------------------------------------------------------ the three losses

def prior_loss(mu, logvar):
    """L_prior = KL( q(z|x) || p(z) ), p(z) = N(0, I) (Larsen et al. 2016, section 2.1; the VAE's
    KL term, Kingma & Welling 2014): the closed form distributions.gaussian_kl, summed over the L
    latent coordinates and averaged over the batch. mu, logvar (N, L) -> a scalar, nats per image."""
    return gaussian_kl(mu, logvar).mean()


def _feature_reconstruction(f_x, f_tilde):
    """0.5 ||f_x - f_tilde||^2 summed over features, batch mean: (N, F), (N, F) -> a scalar."""
    return 0.5 * (f_x - f_tilde).square().sum(-1).mean()


def feature_reconstruction_loss(disc, x, x_tilde):
    """L_llike^{Dis_l} = -E_{q(z|x)} log N( Dis_l(x) | Dis_l(x~), I ) (Larsen et al. 2016,
    section 2.3): the reconstruction error of a VAE whose likelihood is a Gaussian with identity
    covariance in the discriminator's feature space instead of pixel space,

        -log N(f | f~, I) = 0.5 ||f - f~||^2 + 0.5 F log(2 pi),   f = Dis_l(x), f~ = Dis_l(x~),

    with one sampled z per image (x~ = Dec(z), z ~ q(z|x)). Returned WITHOUT the constant
    0.5 F log(2 pi) (2,882 for F = 3136): it moves no gradient, and would only add the same
    large number to every logged value. So this is 0.5 * (sum over the F features of the squared
    difference), averaged over the batch: "nats per image" only up to that constant, and in a
    feature space whose scale the discriminator sets, so not comparable with pixel nats.

    disc: a Discriminator; x, x_tilde: (N, 784) or (N, 28, 28) images in [0, 1] (x_tilde the
    decoder's means sigmoid(logits)). Returns a scalar. The gradient reaches whatever x_tilde
    depends on (decoder, encoder) and disc's weights; in Algorithm 1 only the encoder and decoder
    are trained on it, so train_step takes its gradient with respect to those alone.
    """
    x, x_tilde = disc._images(x), disc._images(x_tilde, "x_tilde")
    if x.shape != x_tilde.shape:
        raise ValueError(f"x_tilde: one reconstruction per image, shape {tuple(x.shape)}, got {tuple(x_tilde.shape)}")
    return _feature_reconstruction(disc.body(x), disc.body(x_tilde))


def _discriminator_loss(l_real, l_rec, l_prior):
    """Cross-entropy, real labelled 1 and both kinds of fake 0: each term a batch mean."""
    return (F.binary_cross_entropy_with_logits(l_real, torch.ones_like(l_real))
            + F.binary_cross_entropy_with_logits(l_rec, torch.zeros_like(l_rec))
            + F.binary_cross_entropy_with_logits(l_prior, torch.zeros_like(l_prior)))


def _generator_gan_loss(l_rec, l_prior):
    """Non-saturating: both kinds of fake labelled 1, each term a batch mean."""
    return (F.binary_cross_entropy_with_logits(l_rec, torch.ones_like(l_rec))
            + F.binary_cross_entropy_with_logits(l_prior, torch.ones_like(l_prior)))


def _unchecked(disc, x):
    """(Dis_l(x), logit) for flat images x (N, 784) already checked, or made by the decoder."""
    f = disc.body(x)
    return f, disc.head(f).squeeze(-1)


def _logits(disc, *images):
    """Dis's logits of each batch of images (checked), (N,) each."""
    return [disc.head(disc.body(disc._images(x, name))).squeeze(-1) for x, name in images]


def discriminator_loss(disc, x, x_tilde, x_p):
    """What the discriminator MINIMISES: -L_GAN, with (Larsen et al. 2016, section 2.3)

        L_GAN = log Dis(x) + log(1 - Dis(Dec(z_p))) + log(1 - Dis(Dec(Enc(x)))),

    each term averaged over its batch. With Dis = sigmoid(logit) this is the sum of three binary
    cross-entropies: real images labelled 1, reconstructions x~ and prior samples x_p labelled 0,
    computed from the logits (log sigmoid(l) = -softplus(-l): never log 0). It falls as the real
    logits rise and the fake ones fall; 3 ln 2 = 2.08 nats when Dis answers 1/2 to everything.
    (This is the paper's sum of three means, real to fake 1:2, as in the vaegan.py of Larsen's code;
    its model/aegan.py reweights them to 1:1.)

    disc: a Discriminator; x, x_tilde, x_p: batches of images in [0, 1], (N, 784) or (N, 28, 28)
    (x_p may have another batch size). Returns a scalar, nats per image.
    """
    return _discriminator_loss(*_logits(disc, (x, "x"), (x_tilde, "x_tilde"), (x_p, "x_p")))


def generator_gan_loss(disc, x_tilde, x_p):
    """What the decoder minimises for the GAN, besides gamma * L_llike: the NON-SATURATING form

        -log Dis(x~) - log Dis(x_p),   each term a batch mean,

    the binary cross-entropy of the fakes labelled REAL. The paper states the game in its minimax
    form (the decoder's loss holds -L_GAN, Algorithm 1): the decoder minimises log(1 - Dis(x~)) +
    log(1 - Dis(x_p)), the discriminator's loss with the sign flipped. Their code trains it so
    (andersbll/autoencoding_beyond_pixels: the decoder's parameters receive the negated gradient
    of the discriminator's loss, with Dis kept away from 0 and 1 by a clip or an eps), and so does
    the much-copied lucabergamini/VAEGAN-PYTORCH (decoder loss = gamma * feature error minus the
    discriminator's cross-entropies). Both forms push Dis(fake) up and share
    their fixed points, but log(1 - Dis) is flat where Dis(fake) is near 0 — exactly when the
    discriminator wins early in training — while -log Dis is steep there (Goodfellow et al. 2014,
    section 3). This course uses the non-saturating form; that is its choice, not the paper's.

    disc: a Discriminator; x_tilde (N, 784) reconstructions, x_p (M, 784) prior samples, in [0, 1].
    Returns a scalar; 2 ln 2 = 1.39 when Dis answers 1/2.
    """
    return _generator_gan_loss(*_logits(disc, (x_tilde, "x_tilde"), (x_p, "x_p")))


def balance_updates(real_cost, fake_cost, margin):
    """Which of decoder and discriminator to update this step: (update_decoder, update_discriminator).

    The rule of Larsen's code (andersbll/autoencoding_beyond_pixels, model/aegan.py and the
    margin_train of vaegan.py), with EQUILIBRIUM = 0.68 (about ln 2: a discriminator that
    answers 1/2) and margin m (0.4 and 0.25 there):
    - real_cost = mean -log Dis(x) over real images, fake_cost = mean -log(1 - Dis(.)) over the
      fakes (reconstructions and prior samples together);
    - if either cost is below EQUILIBRIUM - m, the discriminator is far ahead: skip its update;
    - if either is above EQUILIBRIUM + m, it is far behind: skip the decoder's update (the whole
      of it, as in that code, feature reconstruction included);
    - if both would be skipped, update both.
    The encoder is always updated. margin=None: no balancing, always (True, True).
    """
    if margin is None:
        return True, True
    low, high = EQUILIBRIUM - margin, EQUILIBRIUM + margin
    update_discriminator = not (real_cost < low or fake_cost < low)
    update_decoder = not (real_cost > high or fake_cost > high)
    if not (update_decoder or update_discriminator):
        return True, True
    return update_decoder, update_discriminator


# ------------------------------------------------------------------------------ the model

class VAEGAN(nn.Module):
    """A VAE (models.VAE or models.ConvVAE with the Bernoulli decoder) and a Discriminator, with
    gamma, the weight of L_llike^{Dis_l} in the decoder's loss (Larsen et al.'s gamma: it trades
    reconstruction against fooling the discriminator).

    The players' parameters: the VAE's encoder (to mu and logvar), the VAE's decoder (to the
    logits), the discriminator. Images out of the decoder are sigmoid(logits), in (0, 1).
    """

    def __init__(self, vae, disc=None, gamma=0.1):
        super().__init__()
        if not isinstance(vae, VAE) or getattr(vae, "n_classes", 0):
            raise TypeError("vae: expected a models.VAE or models.ConvVAE (not label-conditional), "
                            f"got {describe(vae)}")
        if vae.likelihood != "bernoulli" or vae.dims[0] != 784:
            raise ValueError("vae: the VAE-GAN reads the decoder's output as Bernoulli logits of 28 x 28 images: "
                             "build it with likelihood='bernoulli' and 784 inputs "
                             f"(got {vae.likelihood!r}, {vae.dims[0]})")
        disc = Discriminator() if disc is None else disc
        if not isinstance(disc, Discriminator):
            raise TypeError(f"disc: expected a Discriminator, got {describe(disc)}")
        self.vae, self.disc = vae, disc
        self.gamma = _check_gamma(gamma)

    @property
    def latent_dim(self):
        return self.vae.latent_dim

    def player_parameters(self):
        """(encoder, decoder, discriminator) parameter lists."""
        return list(self.vae.encoder.parameters()), list(self.vae.decoder.parameters()), list(self.disc.parameters())

    @torch.no_grad()
    def sample(self, n, generator=None):
        """n images through the prior: sigmoid(Dec(z)), z ~ N(0, I), (n, 784)."""
        return self.vae.sample(n, generator=generator)

    @torch.no_grad()
    def reconstruct(self, x, generator=None):
        """sigmoid(Dec(z)), z ~ q(z|x) (one sample): x (N, 784) or (N, 28, 28) -> (N, 784)."""
        mu, logvar = self.vae.encode(x)
        return torch.sigmoid(self.vae.decode(self.vae.reparameterize(mu, logvar, generator)))


def _check_gamma(gamma):
    real_number(gamma, "gamma", minimum=0)
    return float(gamma)


def _check_margin(balance):
    if balance is None:
        return None
    real_number(balance, "balance", minimum=0, above=True)
    return float(balance)


ARCHS = ("conv", "mlp")


def make_vaegan(latent_dim=20, arch="conv", seed=0, gamma=0.1):
    """A VAEGAN with weights drawn from seed (without touching torch's global random state):
    arch="conv": models.ConvVAE(latent_dim); arch="mlp": models.VAE((784, 256, latent_dim));
    and a Discriminator."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be 'conv' or 'mlp', got {describe(arch)}")
    latent_dim = whole_number(latent_dim, "latent_dim")
    seed = whole_number(seed, "seed", minimum=0, maximum=2**63 - 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        vae = ConvVAE(latent_dim) if arch == "conv" else VAE((784, 256, latent_dim))
        disc = Discriminator()
    return VAEGAN(vae, disc, gamma)


class Optimizers(NamedTuple):
    encoder: torch.optim.Optimizer
    decoder: torch.optim.Optimizer
    discriminator: torch.optim.Optimizer


def optimizers(model, lr=1e-3, betas=(0.5, 0.999)):
    """Three Adam optimizers, over the encoder's, the decoder's and the discriminator's
    parameters, as an Optimizers tuple. betas=(0.5, 0.999): the first-moment decay usual for GANs
    (Radford et al. 2016), for all three alike."""
    real_number(lr, "lr", minimum=0, above=True)
    return Optimizers(*(torch.optim.Adam(params, lr=lr, betas=betas) for params in model.player_parameters()))


PLAYERS = ("encoder", "decoder", "discriminator")


def _check_optimizers(model, opts):
    """opts: three optimizers, each holding exactly its player's parameters (in the order
    encoder, decoder, discriminator): a swapped pair would silently train a player on another's loss."""
    if not isinstance(opts, (tuple, list)) or len(opts) != 3 or \
            not all(isinstance(o, torch.optim.Optimizer) for o in opts):
        raise TypeError(f"optimizers: expected three torch optimizers (encoder, decoder, discriminator), "
                        f"got {describe(opts)}; make them with vaegan.optimizers(model, lr)")
    for name, opt, params in zip(PLAYERS, opts, model.player_parameters()):
        held = {id(p) for group in opt.param_groups for p in group["params"]}
        if held != {id(p) for p in params}:
            raise ValueError(f"optimizers: the {name}'s optimizer does not hold exactly the {name}'s parameters "
                             "(the order is encoder, decoder, discriminator)")
    return opts


def _non_finite_message(values, model, lr):
    bad = [k for k, v in values.items() if not math.isfinite(v)]
    bad_params = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    lines = [f"non-finite loss ({', '.join(f'{k} = {values[k]}' for k in bad)}); this step changed no weights. "
             "Likely causes:",
             "- discriminator saturated: lower lr or turn on balancing (e.g. balance=0.3); a discriminator "
             "far ahead grows its weights and features until they overflow;",
             f"- learning rate too high (lr={lr:g}): the discriminator's "
             "features grow and the feature reconstruction overflows; try 10x smaller;",
             "- exp(logvar) overflowing in the encoder: a log-variance that grows without bound."]
    if bad_params:
        lines.append(f"Non-finite parameters: {', '.join(bad_params[:5])}.")
    return "\n".join(lines)


def train_step(model, x, optimizers, *, gamma=None, generator=None, balance=None):
    """One VAE-GAN step (Larsen et al. 2016, Algorithm 1) on a batch x of N grey images in
    [0, 1], (N, 784) or (N, 28, 28), with optimizers = (encoder's, decoder's, discriminator's).

    Draws, in this order, with generator: eps (N, L) for z = mu + sigma eps ~ q(z|x), then
    z_p (N, L) ~ N(0, I). Then x~ = sigmoid(Dec(z)), x_p = sigmoid(Dec(z_p)), one pass of the
    discriminator over [x, x~, x_p], and the losses
        encoder:        L_prior + L_llike                            (prior_loss, feature_reconstruction_loss)
        decoder:        gamma * L_llike + generator_gan_loss(x~, x_p)  (gamma=None: model.gamma)
        discriminator:  discriminator_loss(x, x~, x_p).
    Each player's gradient is taken with torch.autograd.grad of ITS loss with respect to ITS
    parameters only, so the GAN losses never reach the encoder, the discriminator is not
    trained on L_llike, and nobody else's step moves a player. All three gradients are taken at
    the same weights, then the steps are made (as in Larsen's code); after the call each
    parameter's .grad holds the gradient its optimizer used (None for a player not updated).

    balance: None (every player updated every step) or a margin m > 0 for balance_updates,
    decided on this step's discriminator costs. Raises training.NonFiniteLossError before any
    weight changes when a loss is NaN or infinite.

    Returns a dict of floats: "prior", "feature_recon", "discriminator", "generator_gan"
    (each a loss above), "encoder_loss", "decoder_loss"; "d_real", "d_recon", "d_prior" (mean
    Dis probability on real images, reconstructions, prior samples); "real_cost", "fake_cost"
    (the balancing rule's inputs); and "updated_encoder", "updated_decoder",
    "updated_discriminator" (1.0 or 0.0).
    """
    _check_optimizers(model, optimizers)
    gamma = model.gamma if gamma is None else _check_gamma(gamma)
    margin = _check_margin(balance)
    vae, disc = model.vae, model.disc
    x = disc._images(x)
    n = len(x)
    mu, logvar = vae.encode(x)
    z = vae.reparameterize(mu, logvar, generator)
    x_tilde = torch.sigmoid(vae.decode(z))
    z_p = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
    x_p = torch.sigmoid(vae.decode(z_p))
    # the discriminator on each batch separately (not concatenated): each player's backward pass
    # then runs through the discriminator only for the batches its loss reads (the encoder's for
    # x~ alone). x~ and x_p are sigmoids, in (0, 1), unless weights went non-finite (checked below).
    (f_x, l_real), (f_tilde, l_rec), (_, l_prior) = (_unchecked(disc, t) for t in (x, x_tilde, x_p))

    l_prior_kl = prior_loss(mu, logvar)
    l_llike = _feature_reconstruction(f_x, f_tilde)
    l_dis = _discriminator_loss(l_real, l_rec, l_prior)
    l_gen = _generator_gan_loss(l_rec, l_prior)
    losses = {"encoder": l_prior_kl + l_llike, "decoder": gamma * l_llike + l_gen, "discriminator": l_dis}

    with torch.no_grad():
        real_cost = F.binary_cross_entropy_with_logits(l_real, torch.ones_like(l_real)).item()
        fake_cost = F.binary_cross_entropy_with_logits(
            torch.cat([l_rec, l_prior]), torch.zeros(2 * n, dtype=l_rec.dtype, device=l_rec.device)).item()
        record = {"prior": l_prior_kl.item(), "feature_recon": l_llike.item(), "discriminator": l_dis.item(),
                  "generator_gan": l_gen.item(), "encoder_loss": losses["encoder"].item(),
                  "decoder_loss": losses["decoder"].item(),
                  "d_real": torch.sigmoid(l_real).mean().item(), "d_recon": torch.sigmoid(l_rec).mean().item(),
                  "d_prior": torch.sigmoid(l_prior).mean().item(), "real_cost": real_cost, "fake_cost": fake_cost}
    if not all(math.isfinite(v) for v in record.values()):
        raise NonFiniteLossError(_non_finite_message(record, model, optimizers[0].param_groups[0]["lr"]))

    update_decoder, update_discriminator = balance_updates(real_cost, fake_cost, margin)
    update = {"encoder": True, "decoder": update_decoder, "discriminator": update_discriminator}
    groups = dict(zip(PLAYERS, model.player_parameters()))
    for params in groups.values():
        for p in params:
            p.grad = None
    todo = [name for name in PLAYERS if update[name]]
    for i, name in enumerate(todo):
        grads = torch.autograd.grad(losses[name], groups[name], retain_graph=i < len(todo) - 1)
        for p, g in zip(groups[name], grads):
            p.grad = g
    for name, opt in zip(PLAYERS, optimizers):
        if update[name]:
            opt.step()
    record.update({f"updated_{name}": float(update[name]) for name in PLAYERS})
    return record


# ------------------------------------------------------------------------------ training

@dataclass
class VAEGANHistory(History):
    """One record per optimizer step (training.History's records, interrupted and seconds):
    history["discriminator"] is the list of that loss, step by step; history["updated_decoder"]
    the list of 1.0/0.0 flags. steps_per_epoch: batches in an epoch; epoch_means(key): the
    per-epoch means of a key."""
    steps_per_epoch: int = 0

    def epoch_means(self, key):
        """Mean of key over each complete epoch, a list."""
        values, k = self[key], max(self.steps_per_epoch, 1)
        return [sum(values[i:i + k]) / k for i in range(0, len(values) - k + 1, k)]

    def __repr__(self):
        if not self.records:
            return "VAEGANHistory(no steps)"
        last = ", ".join(f"{k} {self.records[-1][k]:.4g}" for k in ("prior", "feature_recon", "discriminator",
                                                                     "generator_gan"))
        return f"VAEGANHistory({len(self)} steps{', interrupted' if self.interrupted else ''}: {last})"


def train_vaegan(model, x, *, epochs, batch_size=64, lr=1e-3, gamma=None, seed=0, balance=None, progress=True):
    """Train a VAEGAN on x, grey images in [0, 1] ((N, 784) or (N, 28, 28); not binarized: see
    the module's docstring), for `epochs` passes of batches of batch_size, with train_step and
    three Adam optimizers (optimizers(model, lr)). gamma=None: model.gamma. balance: None or the
    margin of balance_updates.

    Deterministic: one torch.Generator seeded with seed shuffles the data (a permutation per
    epoch) and draws every eps and z_p, so two runs from the same weights and seed match exactly
    on one machine. The last batch of an epoch may be smaller. Returns a VAEGANHistory of every
    step. Raises training.NonFiniteLossError (before the bad step changes any weight) on a
    non-finite loss. Ctrl-C stops after the current step and returns the history so far.

    The defaults (lr 1e-3, Adam betas (0.5, 0.999), gamma 0.1 from make_vaegan, no balancing)
    are what gave digit-like prior samples within 2-4 epochs of the conv model on the bundled
    10,000 images when this module was written; with lr 3e-4 or gamma 1 the discriminator
    won (mean Dis(x_p) below 0.01) and the samples stayed faint and broken.
    """
    if not isinstance(model, VAEGAN):
        raise TypeError(f"model: expected a VAEGAN (make one with make_vaegan), got {describe(model)}")
    whole_number(epochs, "epochs")
    batch_size = whole_number(batch_size, "batch_size")
    seed = whole_number(seed, "seed", minimum=0, maximum=2**63 - 1)
    gamma = model.gamma if gamma is None else _check_gamma(gamma)
    margin = _check_margin(balance)
    device = next(model.parameters()).device
    x = model.disc._images(check_float(x, "x").to(device))
    opts = optimizers(model, lr)
    generator = torch.Generator(device=device).manual_seed(seed)
    n, steps = len(x), math.ceil(len(x) / batch_size)
    history = VAEGANHistory(steps_per_epoch=steps)
    model.train()
    start = time.perf_counter()
    bar = tqdm(range(epochs), desc="training VAE-GAN", unit="epoch", disable=not progress)
    with _StopOnInterrupt() as stop:
        try:
            for _ in bar:
                perm = torch.randperm(n, generator=generator, device=device)
                for step in range(steps):
                    batch = x[perm[step * batch_size:(step + 1) * batch_size]]
                    history.records.append(train_step(model, batch, opts, gamma=gamma, generator=generator,
                                                      balance=margin))
                    if stop.requested:
                        break
                if stop.requested:
                    history.interrupted = True
                    break
                bar.set_postfix({k: f"{history.epoch_means(k)[-1]:.3g}"
                                 for k in ("feature_recon", "discriminator", "d_real", "d_prior")})
        except KeyboardInterrupt:
            history.interrupted = True
        finally:
            bar.close()
            model.eval()
            history.seconds = time.perf_counter() - start
    if history.interrupted:
        print(f"Interrupted after {len(history)} steps; the model and history are usable.")
    elif progress:  # a line that survives where the progress widget does not (a saved notebook)
        shown = ("prior", "feature_recon", "discriminator", "d_real", "d_prior", "updated_decoder",
                 "updated_discriminator")
        means = {k: history.epoch_means(k)[-1] for k in shown}
        print(f"trained {epochs} epochs ({len(history)} steps) in {history.seconds:.1f} s on {device.type}; "
              "last epoch: " + ", ".join(f"{k} {v:.3g}" for k, v in means.items()))
    return history
