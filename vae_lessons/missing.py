"""Filling in missing pixels with a trained VAE (lesson 11): four ways, all keeping the
observed pixels fixed.

A mask says which pixels are seen: mask (N, D) bool, True = observed. Write x_obs for the
observed pixels of an image and x_mis for the others; x_hat = (x_obs, x_mis) is the image
with its current fill. The values of x at missing pixels are never read (they may be NaN).

(a) fill_with_mean: x_mis = the training mean.
(b) one_pass: one encode-decode pass of the image filled with the mean.
(c) pseudo_gibbs (Rezende et al. 2014, "Stochastic backpropagation and approximate inference
    in deep generative models"): alternate z ~ q(z | x_hat) and x_mis ~ p(x_mis | z). When q
    is the exact posterior p(z | x_hat) this is a Gibbs sampler of p(z, x_mis | x_obs); with
    any other q its draws settle to some other distribution.
(d) metropolis_within_gibbs (Mattei & Frellsen 2018, "Leveraging the exact likelihood of deep
    latent variable models", their Algorithm 1): the same two steps, but the proposal
    z' ~ q(z | x_hat) is accepted or rejected so that the chain targets p(z, x_mis | x_obs)
    exactly, whatever q (given that q has mass wherever the posterior has). See
    log_acceptance_ratio.

For a Bernoulli model the observed pixels should be 0 or 1: grey levels in [0, 1] are
accepted, but then "p(x_obs | z)" is the negative cross-entropy, not a probability.

All chains run in parallel, one per image, and draw every random number from `generator`
(torch's global generator when None), so a seeded generator repeats a run exactly.
Log-densities are in nats.
"""
from typing import NamedTuple, Optional

import torch

from .distributions import log_normal_diag, log_standard_normal
from .validation import (check_finite, check_float, check_matches, check_pixels, check_tensor, describe,
                         flatten_images, whole_number)


class Imputation(NamedTuple):
    """What a chain returns; every image keeps its observed pixels as given."""
    x: torch.Tensor                       # (N, D) missing pixels: the last draw x_mis_T
    mean: torch.Tensor                    # (N, D) missing pixels: E[x_mis | z_T], the decoder's mean
    acceptance: Optional[torch.Tensor]    # (N,) fraction of the proposals accepted, for (d); None for (c)
    samples: Optional[torch.Tensor]       # (steps, N, D) the completed image after every step, if kept


def check_mask(mask, x, dim):
    """mask as (N, dim) bool, checked against x (same shape as x, (N, dim) or (N, 28, 28)):
    every image must have at least one observed and one missing pixel."""
    check_tensor(mask, "mask")
    if mask.dtype != torch.bool:
        zero_one = mask.numel() > 0 and not mask.is_complex() and bool(((mask == 0) | (mask == 1)).all())
        fix = " (its values are 0 and 1: pass mask.bool())" if zero_one else ""
        raise TypeError(f"mask: expected a bool tensor (True = observed), got {describe(mask)}{fix}")
    if mask.shape != x.shape:
        raise ValueError(f"mask: shape {tuple(mask.shape)} does not match x's {tuple(x.shape)}: "
                         "one True (observed) or False (missing) per pixel")
    if mask.device != x.device:
        raise ValueError(f"mask: on {mask.device} but x is on {x.device}: pass mask.to('{x.device}')")
    mask = mask.reshape(mask.shape[0], dim)
    for fault, images in (("no missing pixel: nothing to fill in", mask.all(1)),
                          ("no observed pixel: nothing to condition on (model.sample draws "
                           "from the model without conditioning)", ~mask.any(1))):
        if images.any():
            raise ValueError(f"mask: image {int(images.nonzero()[0])} has {fault}")
    return mask


def _check_inputs(model, x, mask):
    """(x, mask) as (N, D): the observed pixels finite (and in [0, 1] for a Bernoulli model);
    the missing ones set to 0, so that nothing downstream can read them."""
    x_flat = check_matches(flatten_images(x, model.dims[0]), model.encoder[0].weight, "x")
    mask = check_mask(mask, x, model.dims[0])
    x_obs = torch.where(mask, x_flat, torch.zeros((), dtype=x_flat.dtype, device=x_flat.device))
    check_finite(x_obs, "x (its observed pixels)")
    if model.likelihood == "bernoulli":
        check_pixels(x_obs, "x (its observed pixels)", " (a Bernoulli model's pixels are 0 or 1)")
    return x_obs, mask


def _decoder_mean(model, out):
    """E[x | z] from the decoder's output: sigmoid(logits) for Bernoulli, the mean for Gaussian."""
    return torch.sigmoid(out) if model.likelihood == "bernoulli" else out


def _sample_pixels(model, out, generator):
    """One draw x ~ p(x | z) of every pixel, from the decoder's output at z, (N, D)."""
    if model.likelihood == "bernoulli":
        u = torch.rand(out.shape, generator=generator, dtype=out.dtype, device=out.device)
        return (u < torch.sigmoid(out)).to(out.dtype)
    eps = torch.randn(out.shape, generator=generator, dtype=out.dtype, device=out.device)
    return out + torch.exp(0.5 * model.log_sigma2) * eps


def _initial_fill(model, x_obs, init):
    """The missing pixels' values at step 0: init (broadcast to (N, D)), or by default the
    decoder's mean at z = 0, the prior's mode (deterministic, and needs no data)."""
    if init is None:
        z0 = torch.zeros(1, model.latent_dim, dtype=x_obs.dtype, device=x_obs.device)
        init = _decoder_mean(model, model.decode(z0))
    check_matches(check_finite(init, "init"), x_obs, "init")
    try:
        return init.expand_as(x_obs)
    except RuntimeError:
        raise ValueError(f"init: shape {tuple(init.shape)} does not broadcast to x's {tuple(x_obs.shape)}: "
                         f"pass ({x_obs.shape[1]},) or (N, {x_obs.shape[1]})") from None


@torch.no_grad()
def fill_with_mean(x, mask, mean):
    """(a) x_mis = mean, e.g. the training mean (D,) (or (N, D)); observed pixels kept: (N, D)."""
    dim = check_float(mean, "mean").shape[-1]
    x_obs, mask = flatten_images(x, dim), check_mask(mask, x, dim)
    return torch.where(mask, x_obs, mean.expand_as(x_obs))


@torch.no_grad()
def one_pass(model, x, mask, mean):
    """(b) One encode-decode pass: x_hat = (x_obs, mean), z = mu(x_hat), the encoder's mean,
    and x_mis = E[x_mis | z], the decoder's mean. mean: (D,) or (N, D), e.g. the training mean
    (None: the decoder's mean at z = 0). Observed pixels kept: (N, D)."""
    x_obs, mask = _check_inputs(model, x, mask)
    x_hat = torch.where(mask, x_obs, _initial_fill(model, x_obs, mean))
    mu, _ = model.encode(x_hat)
    return torch.where(mask, x_obs, _decoder_mean(model, model.decode(mu)))


def _log_ratio(model, x_hat, mu, logvar, z_new, z_old):
    """log rho for the proposal z_new ~ q = N(mu, diag e^logvar) from z_old (see log_acceptance_ratio), (N,)."""
    z = torch.stack([z_new, z_old])                                             # (2, N, L): one decode of 2N codes
    log_weight = (model.log_likelihood(x_hat, z) + log_standard_normal(z)      # log p(x_hat, z)
                  - log_normal_diag(z, mu, logvar))                             # - log q(z | x_hat)
    return log_weight[0] - log_weight[1]


@torch.no_grad()
def log_acceptance_ratio(model, x_hat, z_new, z_old):
    """log rho of one Metropolis-within-Gibbs step, (N,), in nats: x_hat (N, D) the image
    completed with the current x_mis; z_old (N, L) the current code; z_new (N, L) a proposal
    drawn from q(z | x_hat). The proposal is accepted with probability min(1, rho),

        rho = p(x_hat | z_new) p(z_new) q(z_old | x_hat) / [ p(x_hat | z_old) p(z_old) q(z_new | x_hat) ].

    This is an independence Metropolis-Hastings step whose target is p(z | x_obs, x_mis)
    ∝ p(x_hat | z) p(z), for the x_mis held fixed during the step: proposal q(z | x_hat) and target
    are both fixed for the step, so detailed balance holds for that conditional. The next step
    draws x_mis ~ p(x_mis | z) = p(x_mis | z, x_obs) exactly (the decoder makes pixels independent
    given z). Each step leaves p(z, x_mis | x_obs) invariant, so the chain targets it, and x_mis
    alone targets p(x_mis | x_obs).

    The likelihood is p(x_hat | z) over all pixels, the current x_mis included. With p(x_obs | z)
    alone, rho would be multiplied by p(x_mis | z_old) / p(x_mis | z_new): that step would be
    reversible for p(z | x_obs) only if the proposal did not depend on x_mis, but x_mis was drawn
    given z_old and steers q(z | x_hat). (Seen as a move on (z, x_mis) with x_mis ~ p(x_mis | z)
    an auxiliary variable, the reverse move needs p(x_mis | z_new), which brings back exactly the
    full likelihood.) tests/test_missing.py measures that variant's bias. When q(z | x_hat) is
    the exact p(z | x_hat), p(x_hat | z) p(z) / q(z | x_hat) = p(x_hat) for every z, so rho = 1:
    every proposal is accepted and (d) is (c).
    """
    x_hat = flatten_images(x_hat, model.dims[0])
    mu, logvar = model.encode(x_hat)
    return _log_ratio(model, x_hat, mu, logvar, z_new, z_old)


def _check_steps(steps):
    return whole_number(steps, "steps")


@torch.no_grad()
def pseudo_gibbs(model, x, mask, steps, *, init=None, keep_samples=False, generator=None):
    """(c) Pseudo-Gibbs sampling: starting from x_hat_0 = (x_obs, init), repeat `steps` times

        z_t ~ q(z | x_hat_{t-1}),   x_mis_t ~ p(x_mis | z_t),   x_hat_t = (x_obs, x_mis_t).

    x: (N, D) or (N, 28, 28); mask: bool, x's shape, True = observed; steps: a positive int;
    init: the missing pixels' values at step 0, (D,) or (N, D) (default: the decoder's mean
    at z = 0). Returns Imputation(x, mean, None, samples): x the last x_hat_T, mean its
    missing pixels replaced by E[x_mis | z_T], samples (steps, N, D) every x_hat_t with
    keep_samples=True. Not a sampler of p(x_mis | x_obs) unless q is the exact posterior.
    """
    x_obs, mask = _check_inputs(model, x, mask)
    steps = _check_steps(steps)
    x_hat = torch.where(mask, x_obs, _initial_fill(model, x_obs, init))
    samples = []
    for _ in range(steps):
        z = model.reparameterize(*model.encode(x_hat), generator=generator)
        out = model.decode(z)
        x_hat = torch.where(mask, x_obs, _sample_pixels(model, out, generator))
        if keep_samples:
            samples.append(x_hat)
    mean = torch.where(mask, x_obs, _decoder_mean(model, out))
    return Imputation(x_hat, mean, None, torch.stack(samples) if keep_samples else None)


@torch.no_grad()
def metropolis_within_gibbs(model, x, mask, steps, *, init=None, keep_samples=False, generator=None):
    """(d) Metropolis-within-Gibbs (Mattei & Frellsen 2018, algorithm 1), targeting
    p(z, x_mis | x_obs). Start: x_hat_0 = (x_obs, init), z_0 ~ q(z | x_hat_0) and
    x_mis_0 ~ p(x_mis | z_0) (one pseudo-Gibbs step). Then, `steps` times:

        z' ~ q(z | x_hat_{t-1});
        z_t = z' with probability min(1, rho) (log_acceptance_ratio), else z_{t-1};
        x_mis_t ~ p(x_mis | z_t),   x_hat_t = (x_obs, x_mis_t).

    Arguments and return value as pseudo_gibbs, with acceptance (N,): the fraction of the
    `steps` proposals each chain accepted. The chain's draws are correlated and start away from
    the target: average over a chain only after a burn-in, or run many chains and keep their
    last states. How fast it forgets its start depends on q: an independence proposal mixes
    well when q's tails cover the posterior's (q wider than the posterior), and can stick for
    many steps where the posterior has mass that q barely proposes.
    """
    x_obs, mask = _check_inputs(model, x, mask)
    steps = _check_steps(steps)
    x_hat = torch.where(mask, x_obs, _initial_fill(model, x_obs, init))
    z = model.reparameterize(*model.encode(x_hat), generator=generator)
    out = model.decode(z)
    x_hat = torch.where(mask, x_obs, _sample_pixels(model, out, generator))
    accepted = torch.zeros(x_obs.shape[0], dtype=x_obs.dtype, device=x_obs.device)
    samples = []
    for _ in range(steps):
        mu, logvar = model.encode(x_hat)
        z_new = model.reparameterize(mu, logvar, generator=generator)
        log_rho = _log_ratio(model, x_hat, mu, logvar, z_new, z)
        u = torch.rand(log_rho.shape, generator=generator, dtype=log_rho.dtype, device=log_rho.device)
        accept = torch.log(u) < log_rho                                   # u < rho; a NaN rho rejects
        z = torch.where(accept[:, None], z_new, z)
        accepted += accept
        out = model.decode(z)
        x_hat = torch.where(mask, x_obs, _sample_pixels(model, out, generator))
        if keep_samples:
            samples.append(x_hat)
    mean = torch.where(mask, x_obs, _decoder_mean(model, out))
    return Imputation(x_hat, mean, accepted / steps, torch.stack(samples) if keep_samples else None)
