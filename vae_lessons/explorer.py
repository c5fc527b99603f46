"""An interactive latent explorer: sliders set some coordinates of a code z, the decoder draws
the means of p(x | z) as an image, and the prior density N(z; 0, I) at z is shown beside it,
with the share of prior draws that are less dense than z (a density alone has no scale).

The pieces work without a browser, so they can be tested and checked in a notebook:

    code_from_sliders(values, coords, base) -> z (1, L)       slider values -> a code
    decode_point(model, z) -> DecodedPoint(image, log_prior, share_less_dense)
                                                              one code -> (28, 28) image, log p(z)
    image_png(image) -> PNG bytes                             what the Image widget shows
    top_kl_coordinates(model, x, k) -> [l, ...]               which coordinates deserve a slider
    latent_explorer(model, coords, ...) -> ipywidgets.VBox    the widget itself

Coordinates are 0-based Python indices everywhere in code (coords=[0, 1] for a 2-D model);
the sliders are labelled 1-based, z_1 ... z_L, as in the lessons' formulas and figures.
The model is an unconditional VAE with a Bernoulli decoder (models.VAE, models.ConvVAE).
ipywidgets is imported only inside latent_explorer: the package imports without it.
"""
import io
import math
from typing import NamedTuple

import numpy as np
import torch

from .diagnostics import kl_per_dimension
from .distributions import LOG_2PI, log_standard_normal
from .validation import describe, whole_number


class DecodedPoint(NamedTuple):
    image: torch.Tensor  # (28, 28) float32 on the CPU: Bernoulli means sigmoid(logits), in [0, 1]
    log_prior: float     # log N(z; 0, I) in nats
    share_less_dense: float  # P(log p(eps) < log p(z)) for eps ~ N(0, I): see prior_share_less_dense


def prior_share_less_dense(z):
    """The share of prior draws eps ~ N(0, I_L) that are less dense than the code z: 1 at z = 0,
    falling towards 0 in the tails. z: (L,) or (1, L). log p(eps) < log p(z) exactly when
    |eps|^2 > |z|^2, and |eps|^2 is chi-squared with L degrees of freedom, so the share is its
    survival function, the regularized upper incomplete gamma function Q(L/2, |z|^2/2)
    (in 2-D, exp(-|z|^2 / 2)). A Python float."""
    z = torch.as_tensor(z).detach().double().reshape(-1)
    return float(torch.special.gammaincc(torch.tensor(len(z) / 2, dtype=torch.float64), (z**2).sum() / 2))


def _latent_dim(model):
    if not callable(getattr(model, "decode", None)) or not hasattr(model, "latent_dim"):
        raise TypeError(f"model must be a VAE (with decode and latent_dim), got {type(model).__name__}")
    if getattr(model, "likelihood", None) != "bernoulli":
        # an Autoencoder has no prior and its decode already returns pixels; a Gaussian VAE's
        # decoder returns means, not logits: either would be drawn wrong without an error
        raise ValueError(f"the explorer needs a VAE with a Bernoulli decoder (its decode returns logits), "
                         f"got {type(model).__name__} with likelihood={getattr(model, 'likelihood', None)!r}")
    if getattr(model, "n_classes", 0):
        raise ValueError("the explorer draws p(x | z) of an unconditional VAE; this model also needs a "
                         "class label y (a ConditionalVAE)")
    return model.latent_dim


def _check_coords(coords, latent_dim):
    """coords as a list of distinct Python ints in [0, latent_dim), else a ValueError."""
    try:
        coords = [whole_number(c, "coordinate", minimum=0, maximum=latent_dim - 1) for c in coords]
    except TypeError as e:  # a float or str among them, or coords not iterable at all
        raise ValueError(f"coords must be distinct coordinate indices from 0 to {latent_dim - 1}, "
                         f"got {describe(coords)}") from e
    except ValueError as e:
        raise ValueError(f"coords: {e} (the code has L = {latent_dim} coordinates, 0-based)") from None
    if len(set(coords)) != len(coords):
        # a repeated coordinate would have two sliders fighting over one number
        raise ValueError(f"coords must not repeat a coordinate, got {coords}")
    return coords


def code_from_sliders(values, coords, base):
    """The code z (1, L), float32, equal to base (L,) except z[0, coords[i]] = values[i].

    base: a code (L,) (e.g. torch.zeros(L), the prior mean, or one image's mu); coords: distinct
    0-based coordinate indices; values: one finite number per coordinate (the sliders' values,
    in latent units). base itself is not changed.
    """
    base = torch.as_tensor(base)
    if base.dim() != 1 or not base.is_floating_point():
        raise ValueError(f"base must be a float code of shape (L,), got {describe(base)}")
    coords = _check_coords(coords, len(base))
    values = [float(v) for v in values]
    if len(values) != len(coords):
        raise ValueError(f"got {len(values)} slider values for {len(coords)} coordinates {coords}: one each")
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"slider values must be finite numbers, got {values}")
    z = base.detach().to(torch.float32).clone().reshape(1, -1)
    z[0, coords] = torch.tensor(values, dtype=torch.float32)
    return z


@torch.no_grad()
def decode_point(model, z):
    """Decode one code. z: (1, L) or (L,), L = model.latent_dim. Returns DecodedPoint:
    image (28, 28), float32 on the CPU, sigmoid(model.decode(z)): the Bernoulli means in [0, 1];
    log_prior = log N(z; 0, I) = -1/2 sum_l (log 2 pi + z_l^2), in nats, a Python float
    (computed in float64 from z as given)."""
    L = _latent_dim(model)
    if not isinstance(z, torch.Tensor) or not z.is_floating_point():
        raise ValueError(f"z must be a float tensor of shape (1, {L}) or ({L},), got {describe(z)}")
    if z.shape not in ((L,), (1, L)):
        raise ValueError(f"z must be one code of shape (1, {L}) or ({L},) for this model (L = {L}), "
                         f"got shape {tuple(z.shape)}")
    if not torch.isfinite(z).all():
        raise ValueError(f"z must be finite, got {z.tolist()}")
    weight = next(model.parameters())
    logits = model.decode(z.reshape(1, L).to(dtype=weight.dtype, device=weight.device))
    image = torch.sigmoid(logits).reshape(28, 28).float().cpu()
    log_prior = float(log_standard_normal(z.detach().double().cpu().reshape(-1)))
    return DecodedPoint(image, log_prior, prior_share_less_dense(z))


def image_png(image, scale=8):
    """PNG bytes of a (28, 28) image with values in [0, 1], shown as the lessons' figures show
    digits (cmap gray_r: 0 white, 1 black), each pixel a scale x scale block (nearest neighbour:
    28 pixels are too small to see, and smoothing would invent detail). The PNG is RGB, 8 bits:
    every channel holds round(255 * (1 - image)), so matplotlib.image.imread gives back
    1 - image within 0.5/255 per pixel, at (28 x scale, 28 x scale) pixels."""
    scale = whole_number(scale, "scale")
    image = torch.as_tensor(image).detach().cpu().double()
    if image.shape != (28, 28):
        raise ValueError(f"image must have shape (28, 28), got {tuple(image.shape)}")
    if not ((image >= 0) & (image <= 1)).all():
        raise ValueError("image values must lie in [0, 1] (Bernoulli means)")
    import matplotlib.image  # here, not at import: the package's other modules do not need it

    grey = np.round(255 * (1 - image.numpy())).astype(np.uint8)
    grey = np.kron(grey, np.ones((scale, scale), dtype=np.uint8))  # nearest-neighbour upscaling
    buffer = io.BytesIO()
    matplotlib.image.imsave(buffer, np.stack([grey] * 3, axis=-1), format="png")
    return buffer.getvalue()


def top_kl_coordinates(model, x, k):
    """The k coordinates (0-based ints) with the largest mean KL( q(z_l | x) || N(0, 1) ) over
    the images x (diagnostics.kl_per_dimension, in nats), largest first: the coordinates the
    codes of x use most, so the ones worth a slider. x: (N, 784) or (N, 28, 28) as the encoder
    takes it (binarized for a model trained on binary images); 1 <= k <= L."""
    k = whole_number(k, "k", minimum=1, maximum=_latent_dim(model))
    kl = kl_per_dimension(model, x)
    return torch.argsort(kl, descending=True, stable=True)[:k].tolist()


def _density_html(point, latent_dim):
    # A density has no scale of its own: give the peak (z = 0), the typical value of a prior draw
    # (E log p(eps) = -L/2 (log 2 pi + 1), far below the peak in many dimensions), and the share
    # of prior draws less dense than this point.
    peak = -0.5 * latent_dim * LOG_2PI
    return (f"log p(z) = {point.log_prior:.3f} nats (p(z) = {math.exp(point.log_prior):.3g}); "
            f"{100 * point.share_less_dense:.1f}% of prior draws are less dense than this point.<br>"
            f"For scale: the prior's peak, at z = 0, is {peak:.3f} nats; a typical prior draw "
            f"has {peak - 0.5 * latent_dim:.3f}.")


def latent_explorer(model, coords, base=None, value_range=(-3.0, 3.0), step=0.05, scale=8):
    """An ipywidgets.VBox: one FloatSlider per coordinate in coords (0-based; labelled 1-based,
    "z_{l+1}"), the decoded image, and the prior log-density of the current code.

    base: the code (L,) the other coordinates keep (default zeros, the prior mean); each slider
    starts at base's value, which must lie in value_range (latent units, a (low, high) pair);
    step: the sliders' step. CSS classes, for browser tests: "vae-explorer-slider" on each
    slider, "vae-explorer-image" on the Image (PNG), "vae-explorer-density" on the HTML.

    Every slider move calls one function, box.update(), which decodes once. The box carries,
    for use without a browser: box.sliders (list), box.image (Image), box.density (HTML),
    box.update(change=None) (redraws from the sliders' current values), box.z (the current
    code, (1, L)) and box.point (its DecodedPoint).
    """
    import ipywidgets as widgets  # here, not at import: ipywidgets is an optional dependency

    L = _latent_dim(model)
    coords = _check_coords(coords, L)
    if not coords:
        raise ValueError("coords: give at least one coordinate to put on a slider")
    base = torch.zeros(L) if base is None else torch.as_tensor(base).detach().cpu().reshape(-1)
    if base.shape != (L,) or not base.is_floating_point() or not torch.isfinite(base).all():
        raise ValueError(f"base must be a finite float code of shape ({L},), got {describe(base)}")
    step = float(step)
    low, high = (float(v) for v in value_range)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"value_range must be (low, high) with low < high, got {describe(value_range)}")
    if not (math.isfinite(step) and 0 < step <= high - low):
        raise ValueError(f"step must be a positive number no larger than the range {high - low}, got {step}")
    outside = [c for c in coords if not low <= base[c].item() <= high]
    if outside:
        # a slider would silently clamp its start value, and the first image would not be base's
        raise ValueError(f"base values {[round(base[c].item(), 3) for c in outside]} at coordinates {outside} "
                         f"lie outside value_range {(low, high)}")

    sliders = [widgets.FloatSlider(value=base[c].item(), min=low, max=high, step=step, description=f"z_{c + 1}",
                                   continuous_update=True, readout_format=".2f") for c in coords]
    for s in sliders:
        s.add_class("vae-explorer-slider")
    image = widgets.Image(format="png", width=28 * scale, height=28 * scale)
    image.add_class("vae-explorer-image")
    density = widgets.HTML()
    density.add_class("vae-explorer-density")
    box = widgets.VBox([*sliders, image, density])

    def update(change=None):
        box.z = code_from_sliders([s.value for s in sliders], coords, base)
        box.point = decode_point(model, box.z)
        image.value = image_png(box.point.image, scale)
        density.value = _density_html(box.point, L)

    for s in sliders:
        s.observe(update, names="value")
    box.sliders, box.image, box.density, box.update = sliders, image, density, update
    update()
    return box
