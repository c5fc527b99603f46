"""One-line numeric verdicts for the notebooks.

Each check prints  PASS|FAIL  name: value vs reference, tolerance  and raises CheckFailed
(an AssertionError) when it fails, so nbval turns a wrong claim into a failed notebook.
Tolerances are always stated by the caller: there is no default that could hide a wrong
constant.
"""
import math

import torch


class CheckFailed(AssertionError):
    pass


def _verdict(name, ok, detail):
    line = f"{'PASS' if ok else 'FAIL'}  {name}: {detail}"
    print(line)
    if not ok:
        raise CheckFailed(line)


def _num(v):
    return torch.as_tensor(v, dtype=torch.float64).detach().cpu()


def _fmt(t):
    return f"{t.item():.6g}" if t.numel() == 1 else f"{tuple(t.shape)} tensor"


def close(name, value, reference, *, atol=0.0, rtol=0.0):
    """|value - reference| <= atol + rtol * |reference| everywhere (elementwise for tensors)."""
    if atol <= 0 and rtol <= 0:
        raise ValueError("close: state a tolerance (atol or rtol > 0)")
    v, r = _num(value), _num(reference)
    if v.shape != r.shape and v.numel() != 1 and r.numel() != 1:
        _verdict(name, False, f"shape {tuple(v.shape)} vs reference shape {tuple(r.shape)}")
    err = (v - r).abs()
    bound = atol + rtol * r.abs()
    ok = bool(torch.isfinite(v).all() and (err <= bound).all())
    _verdict(name, ok, f"{_fmt(v)} vs {_fmt(r)}, max |diff| {err.max().item():.3g} "
                       f"(tolerance atol={atol:g}, rtol={rtol:g})")


def within_se(name, estimate, reference, stderr, *, n_se=3.0):
    """A Monte Carlo estimate within n_se standard errors of the exact value."""
    e, r, s = float(estimate), float(reference), float(stderr)
    if not s > 0:
        raise ValueError(f"within_se: stderr must be positive, got {s}")
    z = abs(e - r) / s
    _verdict(name, math.isfinite(z) and z <= n_se,
             f"{e:.6g} vs {r:.6g}, |diff| = {z:.2f} standard errors (tolerance {n_se:g} SE, SE={s:.3g})")


def at_most(name, value, bound, *, tol=0.0):
    """value <= bound + tol."""
    v, b = float(value), float(bound)
    _verdict(name, v <= b + tol, f"{v:.6g} <= {b:.6g}" + (f" (+ tolerance {tol:g})" if tol else ""))


def at_least(name, value, bound, *, tol=0.0):
    """value >= bound - tol."""
    v, b = float(value), float(bound)
    _verdict(name, v >= b - tol, f"{v:.6g} >= {b:.6g}" + (f" (- tolerance {tol:g})" if tol else ""))


def decreasing(name, values, *, min_step=0.0):
    """Each value smaller than the one before by more than min_step."""
    vs = [float(v) for v in values]
    ok = all(b < a - min_step for a, b in zip(vs, vs[1:]))
    _verdict(name, ok, " > ".join(f"{v:.4g}" for v in vs) + (f" (each step > {min_step:g})" if min_step else ""))


def shape(name, tensor, expected):
    got = tuple(tensor.shape)
    _verdict(name, got == tuple(expected), f"shape {got}, expected {tuple(expected)}")


def dtype(name, tensor, expected):
    _verdict(name, tensor.dtype == expected, f"dtype {tensor.dtype}, expected {expected}")


def in_range(name, tensor, lo, hi):
    """Every value finite and within [lo, hi]."""
    t = _num(tensor)
    ok = bool(torch.isfinite(t).all() and t.min() >= lo and t.max() <= hi)
    _verdict(name, ok, f"range [{t.min().item():.4g}, {t.max().item():.4g}] within [{lo:g}, {hi:g}]")
