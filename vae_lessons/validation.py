"""Argument checks that turn bad input into an error naming the argument and the fix,
instead of a shape or dtype error from deep inside torch. They only look: a valid input
is passed on unchanged (no casts, no copies)."""
import math
import numbers
import operator

import torch


def describe(value, limit=60):
    """A short, one-line description of any value, for error messages: the repr when it is
    short, else its type and size (a crafted checkpoint may hold a 10**5000 int or a 1 GB
    string, whose repr would be an error or a wall of text)."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}, {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an int of {value.bit_length()} bits"
    if isinstance(value, (list, tuple, dict, set, str, bytes)) and len(value) > limit:
        return f"a {type(value).__name__} of length {len(value)}"
    try:
        text = repr(value)
    except Exception:  # a repr that fails (a huge int nested in a list, say) still gets a line
        text = None
    if text is None or len(text) > limit:
        return f"a {type(value).__name__}"
    return text


def whole_number(value, name, minimum=1, maximum=None):
    """value as a Python int if it is an integer (int, NumPy integer, 0-dim integer tensor)
    in [minimum, maximum]; else TypeError (bool, float, str...) or ValueError, naming it."""
    span = f"an int >= {minimum}" if maximum is None else f"an int from {minimum} to {maximum}"
    span = "a positive int" if (minimum, maximum) == (1, None) else span
    if isinstance(value, (bool, float)) or not hasattr(value, "__index__"):
        raise TypeError(f"{name} must be {span}, got {describe(value)}")
    try:
        n = operator.index(value)
    except TypeError:  # a float tensor has __index__ but refuses it
        raise TypeError(f"{name} must be {span}, got {describe(value)}") from None
    if n < minimum or (maximum is not None and n > maximum):
        raise ValueError(f"{name} must be {span}, got {describe(n)}")
    return n


def real_number(value, name, minimum=None, maximum=None, *, above=False):
    """Check that value is a finite real number (int, float, NumPy scalar, one-element tensor;
    not bool) with minimum <= value <= maximum (minimum < value with above=True); either
    bound may be None. Returns value unchanged."""
    bounds = ([f"{'>' if above else '>='} {minimum:g}"] if minimum is not None else []) + \
             ([f"<= {maximum:g}"] if maximum is not None else [])
    span = " and ".join(["a finite number " + bounds[0]] + bounds[1:]) if bounds else "a finite number"
    scalar_tensor = isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex()
    if isinstance(value, bool) or not (isinstance(value, numbers.Real) or scalar_tensor):
        raise TypeError(f"{name} must be {span}, got {describe(value)}")
    try:
        v = float(value)
    except OverflowError:  # an int beyond float range
        v = math.inf
    ok = math.isfinite(v) and (minimum is None or (v > minimum if above else v >= minimum)) \
        and (maximum is None or v <= maximum)
    if not ok:
        raise ValueError(f"{name} must be {span}, got {describe(value)}")
    return value


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


def check_finite(t, name):
    """t must be a float tensor with no NaN or infinity."""
    check_float(t, name)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name}: holds NaN or infinite values")
    return t


def check_pixels(x, name="x", hint=""):
    """x must be a float tensor with every value in [0, 1] (a Bernoulli mean or a binary pixel).
    hint: said after the range when it is wrong (what the caller expects, or the fix)."""
    check_float(x, name)
    if not x.numel():
        return x
    lo, hi = torch.aminmax(x)  # one pass; NaN and +-inf fail the comparison below
    if not (lo >= 0 and hi <= 1):
        hint = " (pixels in 0..255? divide by 255.0)" if hi > 1.5 else hint
        raise ValueError(
            f"{name}: values must lie in [0, 1] (pixel intensities or Bernoulli means), "
            f"got range [{lo.item():.4g}, {hi.item():.4g}]{hint}"
        )
    return x


_CONVERSIONS = {torch.float32: "float()", torch.float64: "double()", torch.float16: "half()",
                torch.bfloat16: "bfloat16()"}


def check_matches(t, weight, name):
    """t must have the dtype and device of a model's weight: the model never casts its
    input, so a float64 batch into a float32 model is an error that says which way to convert."""
    if t.dtype != weight.dtype:
        have, want = (str(d).replace("torch.", "") for d in (t.dtype, weight.dtype))
        fix = _CONVERSIONS.get(weight.dtype, f"to(torch.{want})")
        raise TypeError(f"{name}: {have} but the model's weights are {want}: pass {name}.{fix} "
                        f"(or convert the model, e.g. model.to(torch.{have}))")
    if t.device != weight.device:
        raise ValueError(f"{name}: on {t.device} but the model's weights are on {weight.device}: "
                         f"pass {name}.to('{weight.device}')")
    return t


def flatten_images(x, dim, name="x"):
    """Accept (N, dim), (N, 28, 28) or (N, 1, 28, 28) with 28*28 = dim and N >= 1; return (N, dim)."""
    check_float(x, name)
    if 2 <= x.dim() <= 4 and math.prod(x.shape[1:]) == dim:
        if x.shape[0] == 0:
            raise ValueError(f"{name}: an empty batch, shape {tuple(x.shape)}: pass at least one image")
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
