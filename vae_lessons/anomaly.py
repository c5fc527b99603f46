"""Anomaly scores from a trained VAE, and three repairs for the likelihood's failure (lesson 10).

A score is one number per image, (N,), with higher meaning "more anomalous", so that
metrics.auroc(scores_normal, scores_anomalous) reads it directly. Scores that are negative
log-probabilities are in nats per image.

- negative_elbo, negative_iwae, reconstruction_error: three different scores from one model;
- input_complexity (Serrà et al. 2020): -log p(x) minus the length of a lossless compression;
- flip_pixels: the perturbation that trains the background model of a likelihood ratio
  (Ren et al. 2019), whose score is -log p_theta(x) + log p_theta0(x);
- typicality_scores (Nalisnick et al. 2019b): a batch of M inputs is flagged when its mean
  -log p lies far from the in-distribution entropy.
"""
import math
import zlib

import numpy as np
import torch

from .metrics import auroc
from .objectives import elbo, iwae_bound
from .validation import check_float, flatten_images, real_number, whole_number

NATS_PER_BYTE = 8 * math.log(2)


def check_binary(x, name="x"):
    """x must be a float tensor of 0s and 1s (a binarized image batch)."""
    check_float(x, name)
    if not ((x == 0) | (x == 1)).all():
        raise ValueError(f"{name}: expected binary pixels (0 or 1), got values such as "
                         f"{x[(x != 0) & (x != 1)][0].item():.4g}: binarize first (binarize_static)")
    return x


@torch.no_grad()
def _batched(fn, x, batch_size):
    return torch.cat([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def negative_elbo(model, x, *, samples=1, batch_size=1000):
    """-ELBO per image (objectives.elbo: one sampled z ~ q(z|x)), averaged over `samples`
    independent draws of z, (N,), nats. On average over z it bounds -log p(x) from above;
    one draw is a noisy score, and more draws shrink that noise like 1/sqrt(samples).
    Uses torch's global random state (seed it to repeat)."""
    x = flatten_images(x, model.dims[0])
    samples = whole_number(samples, "samples")
    return _batched(lambda b: -sum(elbo(model, b) for _ in range(samples)) / samples, x, batch_size)


def negative_iwae(model, x, k, *, batch_size=100, generator=None):
    """-IWAE-k per image (objectives.iwae_bound), (N,), nats: a tighter bound on -log p(x)
    than -ELBO, approaching it as k grows (lesson 08)."""
    x = flatten_images(x, model.dims[0])
    return _batched(lambda b: -iwae_bound(model, b, k, generator=generator), x, batch_size)


def reconstruction_error(model, x, *, batch_size=1000):
    """Squared error sum_d (x_d - p_d)^2 between x and the decoder's mean p = sigmoid(decode(mu))
    at the encoder's mean mu: (N,), squared pixel units. Not a log-probability, and no KL term:
    a third score, the one an autoencoder would give."""
    x = flatten_images(x, model.dims[0])

    def error(b):
        mu, _ = model.encode(b)
        return (b - torch.sigmoid(model.decode(mu))).square().sum(-1)
    return _batched(error, x, batch_size)


def compressed_nats(x, level=9):
    """L(x): the length of zlib's DEFLATE compression of each binary image, in nats, (N,).

    Each image is compressed on its own as its 784 bytes (one byte, 0 or 1, per pixel, row by
    row): the DEFLATE stream a PNG file of the image would hold (filter type "none"), without
    the file's headers. A code length of b bytes is 8 b ln 2 nats.
    """
    check_binary(x, "x")
    whole_number(level, "level", minimum=0, maximum=9)
    images = x.reshape(len(x), -1).to(torch.uint8).cpu().numpy()
    lengths = [len(zlib.compress(np.ascontiguousarray(image).tobytes(), level)) for image in images]
    return torch.tensor(lengths, dtype=torch.float64) * NATS_PER_BYTE


def input_complexity(nll, x, level=9):
    """S(x) = -log p(x) - L(x) (Serrà et al. 2020, eq. 2 in nats): the model's code length
    minus a generic compressor's. nll (N,) nats (e.g. negative_elbo), x (N, ...) binary images.
    Subtracting L(x) removes what any compressor finds easy (empty background, few strokes),
    which is what makes simple images look likely."""
    check_float(nll, "nll")
    lengths = compressed_nats(x, level)
    if nll.shape != lengths.shape:
        raise ValueError(f"nll: expected one score per image, shape {tuple(lengths.shape)}, got {tuple(nll.shape)}")
    return nll.double() - lengths


def flip_pixels(x, rate, generator=None):
    """Flip each pixel of binary images x independently with probability rate: the
    perturbation that trains a background model (Ren et al. 2019, who replace a fraction mu
    of pixels by noise). x (N, ...) of 0s and 1s; rate in [0, 1]. Returns the same shape."""
    check_binary(x, "x")
    real_number(rate, "rate", minimum=0, maximum=1)
    flips = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) < rate
    return torch.where(flips, 1 - x, x)


def typicality_scores(nll, entropy, batch_size, n_batches, generator=None):
    """|mean of nll over a batch - entropy| for n_batches random batches of batch_size images
    (Nalisnick et al. 2019b, "Detecting out-of-distribution inputs to deep generative models
    using typicality"), (n_batches,) nats.

    nll (N,): per-image -log p (or its bound) of the images to draw batches from; entropy: the
    mean -log p of held-out in-distribution images (an estimate of the model's entropy).
    Batches are drawn with replacement, each image uniformly. A batch is atypical when its mean
    lies far from the entropy on *either* side: too likely is as suspicious as too unlikely.
    """
    check_float(nll, "nll")
    whole_number(batch_size, "batch_size")
    whole_number(n_batches, "n_batches")
    if nll.dim() != 1 or len(nll) == 0:
        raise ValueError(f"nll: expected a non-empty (N,) tensor, got shape {tuple(nll.shape)}")
    idx = torch.randint(len(nll), (n_batches, batch_size), generator=generator)
    return (nll[idx].mean(1) - entropy).abs()


def typicality_auroc(nll_heldout, nll_normal, nll_anomalous, batch_size, *, n_batches=1000, n_boot=50,
                     generator=None):
    """The AUROC of the typicality test at one batch size M, and its bootstrap standard error.

    The entropy is estimated as the mean of nll_heldout (in-distribution images the batches
    never use); normal batches are drawn from nll_normal, anomalous ones from nll_anomalous
    (typicality_scores, n_batches each). The standard error repeats the whole procedure on
    images resampled with replacement (all three sets), so it includes the uncertainty of the
    entropy estimate and the reuse of each image in many batches, which resampling the batch
    scores alone would ignore. Returns (auroc, se), floats.
    """
    whole_number(n_boot, "n_boot", minimum=2)

    def one(heldout, normal, anomalous):
        entropy = heldout.mean()
        return auroc(typicality_scores(normal, entropy, batch_size, n_batches, generator),
                     typicality_scores(anomalous, entropy, batch_size, n_batches, generator))

    def resample(s):
        return s[torch.randint(len(s), (len(s),), generator=generator)]
    sets = [s.detach().cpu().double() for s in (nll_heldout, nll_normal, nll_anomalous)]
    value = one(*sets)
    boots = torch.tensor([one(*map(resample, sets)) for _ in range(n_boot)], dtype=torch.float64)
    return value, boots.std().item()
