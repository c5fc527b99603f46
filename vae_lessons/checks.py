"""One-line numeric verdicts for the notebooks, of two kinds that the line tells apart:

    PASS   name: value vs reference, tolerance
        agreement with an independent reference: a closed form, another algorithm, an
        inequality that theory guarantees, or a measured baseline with its standard error;
    BOUND  name: value >= threshold (a threshold we chose, not a reference)
        a smoke test, e.g. that training worked at all; the number is ours, not the truth's;
    FAIL   ...
        either kind, failed: raises CheckFailed (an AssertionError), so nbval turns a wrong
        claim into a failed notebook.

Tolerances are always stated by the caller: there is no default that could hide a wrong
constant. An exercise's `answer` still holding the stub's `...` gets a one-line hint
(NotFilledIn) instead of a type error.
"""
import math

import torch


class CheckFailed(AssertionError):
    pass


class NotFilledIn(CheckFailed):
    """The value is still the exercise stub's `...`."""


def _verdict(kind, name, ok, detail):
    line = f"{kind if ok else 'FAIL':<5}  {name}: {detail}"
    print(line)
    if not ok:
        raise CheckFailed(line)


def filled(value, name="answer"):
    """value, unless it is (or holds) the exercise stub's `...`: then NotFilledIn, with a hint.
    A self-check that computes with `answer` before its first check starts with
    `answer = checks.filled(answer)`."""
    if value is Ellipsis or (isinstance(value, (tuple, list)) and any(e is Ellipsis for e in value)):
        raise NotFilledIn(f"{name}: `answer` is still `...`: fill in `answer` in the cell above first")
    return value


def _num(v):
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().to(torch.float64)
    return torch.as_tensor(v, dtype=torch.float64)


def _float(v):
    return _num(v).item()


def _fmt(t):
    return f"{t.item():.6g}" if t.numel() == 1 else f"{tuple(t.shape)} tensor"


def close(name, value, reference, *, atol=0.0, rtol=0.0):
    """PASS if |value - reference| <= atol + rtol * |reference| everywhere (elementwise)."""
    filled(value, name)
    if atol <= 0 and rtol <= 0:
        raise ValueError("close: state a tolerance (atol or rtol > 0)")
    v, r = _num(value), _num(reference)
    if v.shape != r.shape and v.numel() != 1 and r.numel() != 1:
        _verdict("PASS", name, False, f"shape {tuple(v.shape)} vs reference shape {tuple(r.shape)}")
    err = (v - r).abs()
    bound = atol + rtol * r.abs()
    ok = bool(torch.isfinite(v).all() and (err <= bound).all())
    nonzero = r.expand_as(err) != 0
    rel = f", max relative {(err[nonzero] / r.expand_as(err)[nonzero].abs()).max().item():.3g}" if nonzero.any() else ""
    _verdict("PASS", name, ok, f"{_fmt(v)} vs {_fmt(r)}, max |diff| {err.max().item():.3g}{rel} "
                               f"(tolerance atol={atol:g}, rtol={rtol:g})")


def within_se(name, estimate, reference, stderr, *, n_se=3.0):
    """PASS if a Monte Carlo (or sampled) estimate is within n_se standard errors of the
    reference value."""
    filled(estimate, name)
    e, r, s = _float(estimate), _float(reference), _float(stderr)
    if not s > 0:
        raise ValueError(f"within_se: stderr must be positive, got {s}")
    z = abs(e - r) / s
    _verdict("PASS", name, math.isfinite(z) and z <= n_se,
             f"{e:.6g} vs {r:.6g}, |diff| = {z:.2f} standard errors (tolerance {n_se:g} SE, SE={s:.3g})")


def at_most(name, value, limit, *, tol=0.0):
    """PASS if value <= limit + tol, where the limit is a reference, not a number we chose:
    an inequality theory guarantees (ELBO <= log p(x)) or a measured quantity. For a
    threshold we picked, use bound_at_most."""
    filled(value, name)
    v, b = _float(value), _float(limit)
    _verdict("PASS", name, v <= b + tol, f"{v:.6g} <= {b:.6g}" + (f" (tolerance {tol:g})" if tol else ""))


def at_least(name, value, limit, *, tol=0.0):
    """PASS if value >= limit - tol (the mirror of at_most)."""
    filled(value, name)
    v, b = _float(value), _float(limit)
    _verdict("PASS", name, v >= b - tol, f"{v:.6g} >= {b:.6g}" + (f" (tolerance {tol:g})" if tol else ""))


def paired_se(a, b):
    """The standard error of mean(a - b) for paired measurements a, b (N,) of the same items
    (two models scored on the same test images, say): std(a - b) / sqrt(N). Pairing removes
    the spread between items that both share, which is most of it. The stderr to give greater()."""
    a, b = _num(a), _num(b)
    if a.shape != b.shape or a.dim() != 1 or len(a) < 2:
        raise ValueError(f"paired_se: expected two (N,) tensors of one shape, N >= 2, got {tuple(a.shape)}, {tuple(b.shape)}")
    return ((a - b).std() / math.sqrt(len(a))).item()


def greater(name, value, baseline, stderr, *, n_se=3.0):
    """PASS if value exceeds a measured baseline by more than n_se standard errors of the
    difference (stderr: the standard error of value - baseline, e.g. over paired images)."""
    filled(value, name)
    v, b, s = _float(value), _float(baseline), _float(stderr)
    if not s > 0:
        raise ValueError(f"greater: stderr must be positive, got {s}")
    z = (v - b) / s
    _verdict("PASS", name, math.isfinite(z) and z > n_se,
             f"{v:.6g} vs {b:.6g}: difference {v - b:.4g} = {z:.1f} standard errors "
             f"(must exceed {n_se:g} SE, SE={s:.3g})")


def decreasing(name, values, *, stderr, n_se=3.0):
    """PASS if each value is below the one before by more than n_se standard errors of that
    step. stderr: one standard error per step (len(values) - 1 of them), or one for all."""
    vs = [_float(v) for v in values]
    ses = [_float(s) for s in stderr] if isinstance(stderr, (list, tuple)) else [_float(stderr)] * (len(vs) - 1)
    if len(ses) != len(vs) - 1 or not all(s > 0 for s in ses):
        raise ValueError(f"decreasing: need {len(vs) - 1} positive standard errors, got {ses}")
    zs = [(a - b) / s for a, b, s in zip(vs, vs[1:], ses)]
    _verdict("PASS", name, all(z > n_se for z in zs),
             " > ".join(f"{v:.4g}" for v in vs) + ", steps of " + ", ".join(f"{z:.1f}" for z in zs)
             + f" standard errors (each must exceed {n_se:g} SE)")


def bound_at_least(name, value, threshold):
    """BOUND if value >= threshold, a number we chose (a smoke test, not a reference)."""
    filled(value, name)
    v, t = _float(value), _float(threshold)
    _verdict("BOUND", name, v >= t, f"{v:.6g} >= {t:.6g} (a threshold we chose, not a reference)")


def bound_at_most(name, value, threshold):
    """BOUND if value <= threshold, a number we chose (a smoke test, not a reference)."""
    filled(value, name)
    v, t = _float(value), _float(threshold)
    _verdict("BOUND", name, v <= t, f"{v:.6g} <= {t:.6g} (a threshold we chose, not a reference)")


def shape(name, tensor, expected):
    filled(tensor, name)
    got = tuple(tensor.shape)
    _verdict("PASS", name, got == tuple(expected), f"shape {got}, expected {tuple(expected)}")


def dtype(name, tensor, expected):
    filled(tensor, name)
    _verdict("PASS", name, tensor.dtype == expected, f"dtype {tensor.dtype}, expected {expected}")


def in_range(name, tensor, lo, hi):
    """PASS if every value is finite and within [lo, hi]."""
    filled(tensor, name)
    t = _num(tensor)
    ok = bool(torch.isfinite(t).all() and t.min() >= lo and t.max() <= hi)
    _verdict("PASS", name, ok, f"range [{t.min().item():.4g}, {t.max().item():.4g}] within [{lo:g}, {hi:g}]")


def equal(name, value, reference):
    """PASS if two tensors are exactly equal, element for element (for results that must
    repeat bit for bit, such as a seeded draw)."""
    filled(value, name)
    v, r = torch.as_tensor(value), torch.as_tensor(reference)
    ok = v.shape == r.shape and bool(torch.equal(v.cpu(), r.cpu()))
    differ = "shapes differ" if v.shape != r.shape else f"{int((v.cpu() != r.cpu()).sum())} elements differ"
    _verdict("PASS", name, ok, f"{tuple(v.shape)} tensors, {differ} (exact equality)")


def not_equal(name, value, other):
    """PASS if two tensors differ somewhere (e.g. two different seeds give different draws)."""
    filled(value, name)
    v, o = torch.as_tensor(value).cpu(), torch.as_tensor(other).cpu()
    n = int((v != o).sum()) if v.shape == o.shape else v.numel()
    _verdict("PASS", name, n > 0, f"{n} of {v.numel()} elements differ (must be > 0)")
