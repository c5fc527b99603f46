"""One training loop for every model in the course: seeded, on the best device, with a
progress bar, a loss history, a clean stop on Ctrl-C, and a clear error on a non-finite loss."""
import math
import random
import signal
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from .validation import check_float, real_number, whole_number


def seed_everything(seed):
    """Seed Python, NumPy and torch (CPU and CUDA) so a run repeats exactly on one machine.
    seed: an int from 0 to 2**32 - 1 (NumPy's range)."""
    whole_number(seed, "seed", minimum=0, maximum=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def default_device():
    """CUDA when a GPU is present, else the CPU. The course never requires a GPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# Devices where torch has a fused Adam kernel that this course runs on (the meta device, on which
# checkpoint.py builds templates, and any other get torch's default implementation).
FUSED_ADAM_DEVICES = ("cpu", "cuda")


def adam(params, lr):
    """torch.optim.Adam(params, lr) with torch's other defaults, computed by its fused kernel when
    every parameter is a float tensor on the CPU or a GPU: one pass over each parameter per step
    instead of about ten. The update is Adam's (Kingma & Ba 2015, Algorithm 1) either way; only
    the float32 rounding differs. Measured on 2 cores, 784-400-20, 469 steps: 1.1-1.4 s -> 0.10-0.11 s
    (python benchmarks/vae_mnist.py adam). A checkpoint keeps the flag, so a run saved by the
    unfused Adam is continued by it (checkpoint.restore)."""
    params = list(params)
    fused = all(p.device.type in FUSED_ADAM_DEVICES and p.is_floating_point() for p in params)
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


class NonFiniteLossError(FloatingPointError):
    """Training produced a NaN or infinite loss; the message names likely causes."""


@dataclass
class History:
    """Per-epoch batch-mean values: history["loss"] is a list with one entry per epoch.
    Keys: "loss", each part the loss function reports, and "val_" versions of both when
    validation data was given. interrupted is True if Ctrl-C stopped training early."""
    records: list = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0

    def __getitem__(self, key):
        return [r[key] for r in self.records]

    def keys(self):
        return list(self.records[0]) if self.records else []

    def __len__(self):
        return len(self.records)

    def __repr__(self):  # short: a notebook cell ending in train(...) shows this line
        last = ", ".join(f"{k} {v:.4g}" for k, v in self.records[-1].items()) if self.records else "no epochs"
        return f"History({len(self)} epochs{', interrupted' if self.interrupted else ''}: {last})"


def _non_finite_message(loss, x, model, epoch, step, lr):
    bad_params = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    lines = [
        f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; training stopped "
        "(the model holds the weights from before this step). Likely causes:",
        f"- learning rate too high (lr={lr:g}): try 10x smaller;",
        f"- inputs outside the expected range (this batch spans [{x.min().item():.3g}, "
        f"{x.max().item():.3g}]; pixels must be in [0, 1]);",
        "- log(0) in a likelihood: pass logits, not probabilities, to log_bernoulli;",
        "- exp(logvar) overflowing: a log-variance that grows without bound.",
    ]
    if bad_params:
        lines.append(f"Non-finite parameters: {', '.join(bad_params[:5])}.")
    return "\n".join(lines)


class _StopOnInterrupt:
    """First Ctrl-C: finish the current step, then stop. A second Ctrl-C aborts at once.
    Only the main thread can own signal handlers; elsewhere this does nothing."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
        return False


def _scalar(v):
    return v.detach().item() if isinstance(v, torch.Tensor) else float(v)


def _as_tuple(data, name):
    """A tensor, or a tuple of tensors of one length (e.g. (x, y)), as a tuple."""
    tensors = tuple(data) if isinstance(data, (tuple, list)) else (data,)
    check_float(tensors[0], name)
    if len(tensors[0]) == 0:
        raise ValueError(f"{name}: no examples")
    if any(len(t) != len(tensors[0]) for t in tensors):
        raise ValueError(f"{name}: tensors of different lengths {[len(t) for t in tensors]}")
    return tensors


@torch.no_grad()
def evaluate(model, data, loss_fn, batch_size=1000):
    """Mean loss and parts over all of data (a tensor or tuple of tensors), without
    gradients; returns a dict of floats."""
    tensors = _as_tuple(data, "data")
    device = next(model.parameters()).device
    model.eval()
    totals, n = {}, len(tensors[0])
    for i in range(0, n, batch_size):
        batch = [t[i:i + batch_size].to(device) for t in tensors]
        loss, parts = loss_fn(model, *batch)
        for k, v in {"loss": loss, **parts}.items():
            totals[k] = totals.get(k, 0.0) + _scalar(v) * len(batch[0]) / n
    model.train()
    return totals


def _device(device):
    """torch.device(device), or a ValueError naming the argument (torch's says only 'Expected one of ...')."""
    try:
        return torch.device(device) if device is not None else default_device()
    except (RuntimeError, TypeError):
        raise ValueError(f"device must be a torch.device or a name such as 'cpu' or 'cuda', got {device!r}") from None


def _check_train_arguments(loss_fn, epochs, batch_size, lr, seed, on_epoch_end, lr_at):
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be a function loss_fn(model, x) -> (loss, parts), got {type(loss_fn).__name__}")
    whole_number(epochs, "epochs")
    whole_number(batch_size, "batch_size")
    real_number(lr, "lr", minimum=0, above=True)
    whole_number(seed, "seed", minimum=0, maximum=2**64 - 1)  # what torch.manual_seed accepts
    if on_epoch_end is not None and not callable(on_epoch_end):
        raise TypeError(f"on_epoch_end must be a function of the history, or None, got {type(on_epoch_end).__name__}")
    if lr_at is not None and not callable(lr_at):
        raise TypeError(f"lr_at must be a function of the step, or None, got {type(lr_at).__name__}")


def train(model, x, loss_fn, *, epochs=10, batch_size=128, lr=1e-3, seed=0, device=None,
          x_val=None, progress=True, optimizer=None, order=None, history=None, on_epoch_end=None,
          announce_interrupt=True, lr_at=None):
    """Train model on x with Adam (training.adam), minimising loss_fn(model, x_batch) -> (loss, parts).

    x: a tensor of N examples, or a tuple such as (x, y) whose batches are passed on as
    loss_fn(model, x_batch, y_batch). x_val: the same form, evaluated after each epoch.

    Returns a History of per-epoch means. The data is moved to the device once and batches
    are slices of a seeded permutation, so a run with the same seed repeats exactly.
    Ctrl-C stops after the current step and returns the history so far (interrupted=True).
    Raises NonFiniteLossError on a NaN/inf loss, before that step changes the weights.

    To continue a run (the command-line trainer's --resume), pass its optimizer, its
    shuffling generator `order` and its history, with the torch RNG state restored: then
    nothing is re-seeded and the run goes on as if never stopped. on_epoch_end(history) is
    called after each complete epoch (to write a checkpoint, say). announce_interrupt=False
    leaves the line about a Ctrl-C to the caller (the command-line trainer names its checkpoint).
    lr_at(step) -> the learning rate of optimizer step `step`, counted from 0 over the whole run
    (a resumed one included), set before each step (a schedule, such as schedules.one_cycle_lr);
    None keeps the optimizer's own.
    """
    tensors = _as_tuple(x, "x")
    _check_train_arguments(loss_fn, epochs, batch_size, lr, seed, on_epoch_end, lr_at)
    device = _device(device)
    if order is None:  # a fresh run; a resumed one brings its generator and RNG state
        torch.manual_seed(seed)
        order = torch.Generator().manual_seed(seed)
    model.to(device).train()
    tensors = [t.to(device) for t in tensors]
    val = [t.to(device) for t in _as_tuple(x_val, "x_val")] if x_val is not None else None
    n = len(tensors[0])
    optimizer = optimizer if optimizer is not None else adam(model.parameters(), lr)
    history = history if history is not None else History()
    start, first, base_seconds = time.perf_counter(), len(history), history.seconds
    steps = math.ceil(n / batch_size)
    bar = tqdm(range(epochs), desc="training", unit="epoch", disable=not progress)
    with _StopOnInterrupt() as stop:
        try:
            for epoch in bar:
                sums = {}
                perm = torch.randperm(n, generator=order).to(device)
                for step in range(steps):
                    idx = perm[step * batch_size:(step + 1) * batch_size]
                    batch = [t[idx] for t in tensors]
                    loss, parts = loss_fn(model, *batch)
                    if not torch.isfinite(loss):
                        rate = optimizer.param_groups[0]["lr"]  # of the step that led here (a schedule moves it)
                        raise NonFiniteLossError(_non_finite_message(loss, batch[0], model, epoch, step, rate))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    if lr_at is not None:
                        for group in optimizer.param_groups:
                            group["lr"] = lr_at((first + epoch) * steps + step)
                    optimizer.step()
                    for k, v in {"loss": loss, **parts}.items():
                        sums[k] = sums.get(k, 0.0) + _scalar(v) * len(idx)
                    if stop.requested:
                        break
                if stop.requested:  # a partial epoch is not recorded
                    history.interrupted = True
                    break
                record = {k: v / n for k, v in sums.items()}
                if val is not None:
                    record.update({f"val_{k}": v for k, v in evaluate(model, val, loss_fn).items()})
                history.records.append(record)
                bar.set_postfix({k: f"{v:.4g}" for k, v in record.items() if "loss" in k})
                history.seconds = base_seconds + time.perf_counter() - start
                if on_epoch_end is not None:
                    on_epoch_end(history)
        except KeyboardInterrupt:
            history.interrupted = True
        finally:
            bar.close()
            model.eval()
            history.seconds = base_seconds + time.perf_counter() - start
    if history.interrupted and announce_interrupt:
        print(f"Interrupted: stopped after {len(history) - first} complete epoch(s); the model and "
              "history are usable (the partial epoch is not recorded).")
    elif progress:  # a line that survives where the progress widget does not (a saved notebook)
        last = ", ".join(f"{k} {v:.4g}" for k, v in history.records[-1].items())
        print(f"trained {len(history) - first} epochs in {time.perf_counter() - start:.1f} s on {device.type}: {last}")
    return history
