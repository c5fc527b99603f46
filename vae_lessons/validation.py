"""Argument checks that turn bad input into an error naming the argument and the fix,
instead of a shape or dtype error from deep inside torch."""
import torch


def check_tensor(t, name):
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(t).__name__}")
    return t


def check_float(t, name):
    check_tensor(t, name)
    if not t.is_floating_point():
        hint = " (uint8 pixels? divide by 255.0 first)" if t.dtype == torch.uint8 else ""
        raise TypeError(f"{name}: expected a floating-point tensor, got {t.dtype}{hint}")
    return t


def check_pixels(x, name="x"):
    """x must be a float tensor with every value in [0, 1] (a Bernoulli mean or a binary pixel)."""
    check_float(x, name)
    if not x.numel():
        return x
    lo, hi = torch.aminmax(x)  # one pass; NaN and +-inf fail the comparison below
    if not (lo >= 0 and hi <= 1):
        hint = " (pixels in 0..255? divide by 255.0)" if hi > 1.5 else ""
        raise ValueError(
            f"{name}: values must lie in [0, 1] (pixel intensities or Bernoulli means), "
            f"got range [{lo.item():.4g}, {hi.item():.4g}]{hint}"
        )
    return x


def flatten_images(x, dim, name="x"):
    """Accept (N, dim), (N, 28, 28) or (N, 1, 28, 28) with 28*28 = dim; return (N, dim)."""
    check_float(x, name)
    if x.dim() >= 2 and x[0].numel() == dim and x.dim() <= 4:
        return x.reshape(x.shape[0], dim)
    raise ValueError(
        f"{name}: expected a batch of shape (N, {dim}) or (N, 28, 28), got {tuple(x.shape)}"
        + (" (a single image? add a batch dimension: x[None])" if x.numel() == dim else "")
    )


def broadcast_shape(a, b, name_a, name_b):
    """The broadcast shape of two tensors, or a ValueError naming both."""
    try:
        return torch.broadcast_shapes(a.shape, b.shape)
    except RuntimeError:
        raise ValueError(
            f"{name_a} has shape {tuple(a.shape)} and {name_b} has shape {tuple(b.shape)}: "
            "they must have the same shape (or broadcast)"
        ) from None
