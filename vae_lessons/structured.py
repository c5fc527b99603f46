"""Structured output prediction (lesson 12; Sohn, Lee & Yan 2015, "Learning structured output
representation using deep conditional generative models"): predict one part of an image, the
target y, from the rest, the condition x. Here x and y are pixel sets of one binarized digit,
say its top half and its bottom half.

Two models of p(y | x), both Bernoulli in every target pixel:

- OutputMLP, the deterministic baseline: one network gives y's pixel probabilities from x,
  so log p(y | x) is exact, a sum of Bernoulli terms. Trained by maximum likelihood, its
  probabilities are the average of the completions that fit x: a blur where several do.
- StructuredCVAE, the conditional VAE: a conditional prior p(z | x), a generation network
  p(y | x, z), and a recognition network q(z | x, y) used to train it and to estimate its
  likelihood. Each z gives one completion; different z give different, sharp ones.

      p(y | x) = integral of p(y | x, z) p(z | x) dz,
      log p(y | x) >= E_q(z|x,y)[ log p(y | x, z) ] - KL( q(z | x, y) || p(z | x) )   (the ELBO),
      log p(y | x) >= L_k = E[ log (1/k) sum_i p(y | x, z_i) p(z_i | x) / q(z_i | x, y) ],
                           z_i ~ q(z | x, y)   (importance sampling, Burda et al. 2015).

A mask (784,) bool says which pixels are the condition (True) and which the target (False);
quadrant_mask builds one. Log-likelihoods are in nats per image, summed over target pixels.
"""
import math

import torch
from torch import nn

from .distributions import gaussian_kl, log_bernoulli, log_normal_diag
from .models import mlp
from .objectives import log_mean_exp
from .validation import (check_float, check_matches, check_pixels, check_tensor, describe, flatten_images,
                         whole_number)

IMAGE_SIZE, SIDE = 784, 28
QUADRANTS = ("top-left", "top-right", "bottom-left", "bottom-right")
HALVES = {"top": ("top-left", "top-right"), "bottom": ("bottom-left", "bottom-right"),
          "left": ("top-left", "bottom-left"), "right": ("top-right", "bottom-right")}


def quadrant_mask(given):
    """The mask (784,) bool of a 28 x 28 image whose `given` quadrants are the condition (True)
    and the others the target (False). given: names from QUADRANTS and HALVES, e.g. ("top",)
    for the top half, or ("top-left", "bottom-left") (Pyro's CVAE tutorial's 2 quadrants)."""
    if isinstance(given, str):
        given = (given,)
    names = set()
    for name in given:
        if name in HALVES:
            names.update(HALVES[name])
        elif name in QUADRANTS:
            names.add(name)
        else:
            raise ValueError(f"given: unknown part {describe(name)}: choose from {', '.join(QUADRANTS + tuple(HALVES))}")
    mask = torch.zeros(SIDE, SIDE, dtype=torch.bool)
    half = SIDE // 2
    for name in names:
        rows = slice(0, half) if name.startswith("top") else slice(half, SIDE)
        cols = slice(0, half) if name.endswith("left") else slice(half, SIDE)
        mask[rows, cols] = True
    return check_mask(mask.reshape(-1))


def check_mask(mask):
    """mask, checked: a bool tensor of shape (784,) with at least one pixel given (True) and
    one to predict (False)."""
    check_tensor(mask, "mask")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask: expected a bool tensor (True = given, the condition), got {describe(mask)}")
    if tuple(mask.shape) != (IMAGE_SIZE,):
        raise ValueError(f"mask: expected one flag per pixel, shape ({IMAGE_SIZE},), got {tuple(mask.shape)}")
    if mask.all():
        raise ValueError("mask: every pixel is given: there is nothing to predict")
    if not mask.any():
        raise ValueError("mask: no pixel is given: there is nothing to condition on (that is a VAE of the "
                         "whole image)")
    return mask


def split(images, mask):
    """(x, y) = (the condition pixels, the target pixels) of images (N, 784) or (N, 28, 28):
    x (N, mask.sum()), y (N, 784 - mask.sum()), in raster order."""
    images = flatten_images(images, IMAGE_SIZE, "images")
    mask = check_mask(mask).to(images.device)
    return images[:, mask], images[:, ~mask]


def join(x, y, mask):
    """The images (N, 784) whose condition pixels are x and target pixels are y (the inverse of
    split). y may carry leading sample dimensions, (..., N, n_target): x is shared by them."""
    mask = check_mask(mask)
    n_given = int(mask.sum())
    check_float(x, "x")
    check_float(y, "y")
    if x.dim() != 2 or x.shape[1] != n_given:
        raise ValueError(f"x: expected (N, {n_given}) condition pixels, got {tuple(x.shape)}")
    if y.dim() < 2 or y.shape[-1] != IMAGE_SIZE - n_given or y.shape[-2] != len(x):
        raise ValueError(f"y: expected (..., {len(x)}, {IMAGE_SIZE - n_given}) target pixels, got {tuple(y.shape)}")
    out = torch.empty(y.shape[:-1] + (IMAGE_SIZE,), dtype=y.dtype, device=y.device)
    mask = mask.to(y.device)
    out[..., mask] = x.to(y.dtype).expand(y.shape[:-1] + (n_given,))
    out[..., ~mask] = y
    return out


def _hidden_sizes(hidden):
    """hidden widths as a tuple of positive ints: an int (one hidden layer) or a sequence."""
    sizes = (hidden,) if not isinstance(hidden, (tuple, list)) else tuple(hidden)
    if not sizes:
        raise ValueError("hidden: give at least one hidden width, e.g. 256 or (500, 500)")
    return tuple(whole_number(h, "hidden") for h in sizes)


def _check_pair(x, y, x_dim, y_dim, weight):
    """x (N, x_dim) and y (N, y_dim) binary or grey pixels, of the model's dtype and device."""
    for t, name, dim in ((x, "x", x_dim), (y, "y", y_dim)):
        check_float(t, name)
        if t.dim() != 2 or t.shape[1] != dim:
            raise ValueError(f"{name}: expected (N, {dim}) pixels, got {tuple(t.shape)}")
        check_matches(t, weight, name)
    if len(x) != len(y):
        raise ValueError(f"x and y: {len(x)} conditions but {len(y)} targets: one target per condition")
    if len(x) == 0:
        raise ValueError("x: an empty batch: pass at least one image")
    check_pixels(x, "x")
    check_pixels(y, "y")
    return x, y


class OutputMLP(nn.Module):
    """The deterministic baseline: Bernoulli logits of the target pixels from the condition,
    mlp((x_dim, *hidden, y_dim)) (hidden: an int or a tuple of widths), and

        log p(y | x) = sum_d [ y_d log p_d + (1 - y_d) log(1 - p_d) ],   p = sigmoid(logits)."""

    def __init__(self, x_dim, y_dim, hidden=256, activation="relu"):
        super().__init__()
        self.x_dim, self.y_dim = whole_number(x_dim, "x_dim"), whole_number(y_dim, "y_dim")
        self.net = mlp((self.x_dim, *_hidden_sizes(hidden), self.y_dim), activation)

    def forward(self, x):
        """x (N, x_dim) -> logits (N, y_dim)."""
        check_float(x, "x")
        if x.dim() != 2 or x.shape[1] != self.x_dim:
            raise ValueError(f"x: expected (N, {self.x_dim}) condition pixels, got {tuple(x.shape)}")
        return self.net(check_matches(x, self.net[0].weight, "x"))

    def log_likelihood(self, x, y):
        """log p(y | x) in nats, exactly, (N,)."""
        x, y = _check_pair(x, y, self.x_dim, self.y_dim, self.net[0].weight)
        return log_bernoulli(y, self(x))


def mlp_loss(model, x, y):
    """-log p(y | x) of an OutputMLP, batch mean, nats per image (binary cross-entropy, summed
    over target pixels)."""
    nll = -model.log_likelihood(x, y).mean()
    return nll, {"nll": nll}


class StructuredCVAE(nn.Module):
    """The conditional VAE of Sohn et al. (2015) for y given x: three MLPs with the hidden
    widths `hidden` (an int for one layer, or a tuple), Gaussians with diagonal covariance
    given as (mu, logvar):

        prior_net:        x      -> (mu, logvar) of p(z | x)       (the conditional prior)
        recognition_net:  x, y   -> (mu, logvar) of q(z | x, y)    (used in training and evaluation)
        generation_net:   x, z   -> Bernoulli logits of p(y | x, z)

    Predicting draws z ~ p(z | x), then y from p(y | x, z) (sample returns its mean).
    """

    def __init__(self, x_dim, y_dim, hidden=256, latent_dim=20, activation="relu"):
        super().__init__()
        self.x_dim, self.y_dim = whole_number(x_dim, "x_dim"), whole_number(y_dim, "y_dim")
        self.latent_dim, hidden = whole_number(latent_dim, "latent_dim"), _hidden_sizes(hidden)
        L = self.latent_dim
        self.prior_net = mlp((self.x_dim, *hidden, 2 * L), activation)
        self.recognition_net = mlp((self.x_dim + self.y_dim, *hidden, 2 * L), activation)
        self.generation_net = mlp((self.x_dim + L, *hidden, self.y_dim), activation)

    def _condition(self, x):
        check_float(x, "x")
        if x.dim() != 2 or x.shape[1] != self.x_dim:
            raise ValueError(f"x: expected (N, {self.x_dim}) condition pixels, got {tuple(x.shape)}")
        return check_matches(x, self.prior_net[0].weight, "x")

    def prior(self, x):
        """(mu, logvar) of p(z | x), each (N, L)."""
        return tuple(self.prior_net(self._condition(x)).chunk(2, dim=-1))

    def posterior(self, x, y):
        """(mu, logvar) of q(z | x, y), each (N, L)."""
        x, y = _check_pair(x, y, self.x_dim, self.y_dim, self.prior_net[0].weight)
        return tuple(self.recognition_net(torch.cat([x, y], dim=-1)).chunk(2, dim=-1))

    def decode(self, x, z):
        """Bernoulli logits of p(y | x, z): x (N, x_dim), z (N, L) or (K, N, L) -> (N, y_dim) or
        (K, N, y_dim); x is shared by the K codes of its image."""
        x = self._condition(x)
        check_float(z, "z")
        if z.dim() not in (2, 3) or z.shape[-1] != self.latent_dim or z.shape[-2] != len(x):
            raise ValueError(f"z: expected codes of shape (N, {self.latent_dim}) or (K, N, {self.latent_dim}) "
                             f"with N = {len(x)}, got {tuple(z.shape)}")
        return self.generation_net(torch.cat([x.expand(z.shape[:-1] + (self.x_dim,)), z], dim=-1))

    def log_likelihood(self, x, y, z):
        """log p(y | x, z) in nats, summed over target pixels: (N,), or (K, N) for z (K, N, L)."""
        x, y = _check_pair(x, y, self.x_dim, self.y_dim, self.prior_net[0].weight)
        return log_bernoulli(y, self.decode(x, z))

    @torch.no_grad()
    def sample(self, x, n=1, generator=None):
        """n predictions per condition: z ~ p(z | x), returned as the means sigmoid(logits) of
        p(y | x, z), (n, N, y_dim)."""
        n = whole_number(n, "n")
        mu, logvar = self.prior(x)
        eps = torch.randn((n,) + mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return torch.sigmoid(self.decode(x, mu + torch.exp(0.5 * logvar) * eps))


def conditional_elbo_parts(model, x, y, kl="analytic"):
    """The two terms of the ELBO of log p(y | x), one z ~ q(z | x, y) per image (reparameterized):

        ELBO = log p(y | x, z) - KL( q(z | x, y) || p(z | x) )

    Returns (log p(y|x,z), KL), each (N,), nats. kl="analytic": the closed form between the two
    diagonal Gaussians; kl="mc": log q(z|x,y) - log p(z|x) at the same z (then the ELBO equals
    conditional_iwae with k = 1 at the same z)."""
    if kl not in ("analytic", "mc"):
        raise ValueError(f"kl must be 'analytic' or 'mc', got {describe(kl)}")
    mu_q, logvar_q = model.posterior(x, y)
    mu_p, logvar_p = model.prior(x)
    z = mu_q + torch.exp(0.5 * logvar_q) * torch.randn_like(mu_q)
    log_py = model.log_likelihood(x, y, z)
    if kl == "analytic":
        return log_py, gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)
    return log_py, log_normal_diag(z, mu_q, logvar_q) - log_normal_diag(z, mu_p, logvar_p)


def cvae_loss(model, x, y):
    """The negative conditional ELBO, batch mean, nats per image: -log p(y|x,z) + KL(q || p(z|x))."""
    log_py, kl = conditional_elbo_parts(model, x, y)
    recon, kl = -log_py.mean(), kl.mean()
    return recon + kl, {"recon": recon, "kl": kl}


@torch.no_grad()
def conditional_iwae(model, x, y, k, *, chunk=None, generator=None):
    """The importance-weighted estimate of log p(y | x), per image (N,), nats:

        L_k = log (1/k) sum_{i=1}^{k} p(y | x, z_i) p(z_i | x) / q(z_i | x, y),   z_i ~ q(z | x, y),

    the recognition network as the proposal and the conditional prior as the prior. E[L_k] is
    a lower bound on log p(y | x) that rises with k (Burda et al. 2015); L_1 is the one-sample
    ELBO with kl="mc". Samples are drawn `chunk` at a time (default: about 2^24 numbers per
    chunk) and combined with a running log-sum-exp. k, chunk: positive ints."""
    k = whole_number(k, "k")
    chunk = None if chunk is None else whole_number(chunk, "chunk")
    mu_q, logvar_q = model.posterior(x, y)
    mu_p, logvar_p = model.prior(x)
    chunk = chunk or max(1, (1 << 24) // (len(x) * model.y_dim))
    total = torch.full((len(x),), -math.inf, dtype=mu_q.dtype, device=mu_q.device)
    for start in range(0, k, chunk):
        n = min(chunk, k - start)
        eps = torch.randn((n,) + mu_q.shape, generator=generator, dtype=mu_q.dtype, device=mu_q.device)
        z = mu_q + torch.exp(0.5 * logvar_q) * eps                                      # (n, N, L)
        log_w = model.log_likelihood(x, y, z) + log_normal_diag(z, mu_p, logvar_p) - log_normal_diag(z, mu_q, logvar_q)
        total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))
    return total - math.log(k)


@torch.no_grad()
def prior_sampling_estimate(model, x, y, k, *, generator=None):
    """The naive Monte Carlo estimate log (1/k) sum_i p(y | x, z_i), z_i ~ p(z | x): also a lower
    bound in expectation, far looser than conditional_iwae for the same k when the prior is
    broad (most z_i explain y badly). (N,), nats."""
    k = whole_number(k, "k")
    mu_p, logvar_p = model.prior(x)
    eps = torch.randn((k,) + mu_p.shape, generator=generator, dtype=mu_p.dtype, device=mu_p.device)
    return log_mean_exp(model.log_likelihood(x, y, mu_p + torch.exp(0.5 * logvar_p) * eps), dim=0)
