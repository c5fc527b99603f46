"""A training run's files: OUT/checkpoint.pt and its JSON summaries, written so that a kill or a
power cut never leaves a broken one, and read so that a corrupted or crafted one ends in one line.

A checkpoint (format 6) is a dict:

    format     6
    config     every option of the run (vae_lessons.options), checked as the command line checks it
    model      the state dict of the VAE (a ConditionalVAE when the config says conditional, a
               ConvVAE when its arch is conv)
    optimizer  Adam's state dict
    history    per-epoch records (dicts of floats, the same keys each epoch); seconds: the time trained
    rng        {"torch": torch's CPU RNG state, "order": the shuffling generator's state,
                "cuda": [one state per GPU], when saved where CUDA was available}
    sha256     SHA-256 of all of the above in a canonical encoding (content_hash): a flipped byte
               in a weight, a state or an option is caught on load

Writing: a temporary file, fsync, rename over the old one, fsync of the folder. Reading:
torch.load(weights_only=True), which builds tensors and plain values and runs no code, then
every part is checked against what the config describes, before any model is built: the
options, each tensor's dtype and shape (from a model and optimizer built on the meta device,
which allocates nothing), finiteness, the RNG states, and last the hash.

Formats 2 (before --kl-warmup and --free-bits), 3 (before --conditional), 4 (before --arch) and 5
(before --lr-schedule) are read too: a run of an older format was trained without the options
added since, so its config gets their defaults (no warm-up, no free bits, not conditional, arch
mlp, a constant learning rate), which is what they describe; a --resume of such a run continues it
exactly and writes format 6. Format 1 (before the hash) is refused.
"""
import hashlib
import json
import math
import os
import re
import struct
import warnings

import torch

from .options import build_vae, check_config, make_optimizer, show_dims, with_later_options
from .training import History
from .validation import describe

FORMAT = 6
KEYS = ("format", "config", "model", "optimizer", "history", "seconds", "rng", "sha256")
FORMAT_1_KEYS = {"config", "model", "optimizer", "history", "seconds", "rng"}
# the options each format added: an older config lacks them, and their defaults describe it
ADDED_IN_FORMAT = {3: ("kl_warmup", "free_bits"), 4: ("conditional",), 5: ("arch",), 6: ("lr_schedule",)}
READ_FORMATS = (2, 3, 4, 5, FORMAT)


class RunFileError(Exception):
    """A run's file cannot be read, is not a valid checkpoint, or cannot be written as asked;
    the message is one line that starts with the file's path."""


class _Invalid(ValueError):
    """What is wrong inside a checkpoint; load() adds the path."""


# ---------------------------------------------------------------------------------------- writing

def capture(config, model, optimizer, history, order):
    """Everything needed to continue a run exactly, sealed with its hash."""
    rng = {"torch": torch.get_rng_state(), "order": order.get_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    payload = {"format": FORMAT, "config": config, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
               "history": history.records, "seconds": history.seconds, "rng": rng}
    return seal(payload)


def seal(payload):
    """payload with its sha256 entry set (to the hash of everything else)."""
    return {**payload, "sha256": content_hash(payload)}


def save(payload, path):
    """Write a checkpoint atomically and durably."""
    _write_atomically(path, lambda f: torch.save(payload, f))


def write_json(path, obj):
    """Write obj as JSON, atomically; refuse (RunFileError) a NaN or infinity anywhere in it,
    which JSON cannot hold (json.dumps would write a bare NaN that other readers reject)."""
    bad = _non_finite(obj)
    if bad is not None:
        name, value = bad
        raise RunFileError(f"{path}: not written: {name} is {value}, and JSON has no NaN or infinity")
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    _write_atomically(path, lambda f: f.write(text.encode()))


def _non_finite(obj, name=""):
    """(name, value) of the first non-finite float in nested dicts and lists, or None."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return name or "the value", obj
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for key, value in items:
        found = _non_finite(value, f"{name}.{key}" if name else str(key))
        if found is not None:
            return found
    return None


def _write_atomically(path, write):
    """write(file) into path's temporary sibling, flush it to disk, rename it over path, and
    flush the folder, so that after a crash path holds the old content or the new, whole."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder):
    if os.name == "nt":  # Windows cannot open a folder; NTFS journals the rename itself
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)  # makes the rename itself durable
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------- hashing

def content_hash(payload):
    """SHA-256 (hex) of every entry but sha256, in a canonical encoding: dict keys sorted,
    each value tagged with its type and length, tensors by dtype, shape and bytes (on the CPU,
    whatever device they were saved from), floats by their 8 bytes."""
    h = hashlib.sha256()
    _feed(h, {k: v for k, v in payload.items() if k != "sha256"})
    return h.hexdigest()


def _feed(h, obj):
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous().reshape(-1)
        h.update(f"T{str(obj.dtype)}{tuple(obj.shape)}:".encode())
        h.update(t.view(torch.uint8).numpy())
    elif isinstance(obj, dict):
        h.update(b"D%d:" % len(obj))
        for key in sorted(obj, key=lambda k: (type(k).__name__, k)):
            _feed(h, key)
            _feed(h, obj[key])
    elif isinstance(obj, (list, tuple)):
        h.update(b"L%d:" % len(obj))
        for item in obj:
            _feed(h, item)
    elif obj is None or isinstance(obj, bool):
        h.update(b"B" + repr(obj).encode())
    elif isinstance(obj, int):
        h.update(b"I%d:" % obj)
    elif isinstance(obj, float):
        h.update(b"F" + struct.pack("<d", obj))
    elif isinstance(obj, str):
        data = obj.encode("utf-8", "surrogatepass")
        h.update(b"S%d:" % len(data) + data)
    elif isinstance(obj, bytes):
        h.update(b"Y%d:" % len(obj) + obj)
    else:  # load() checks every part before hashing, so this is reached only by a bug
        raise TypeError(f"content_hash: cannot encode {describe(obj)}")


# ---------------------------------------------------------------------------------------- reading

def load(path):
    """The checkpoint at path, checked in every part (see the module's docstring); its config
    in canonical form. RunFileError, one line naming the file and the problem, otherwise."""
    raw = _read(path)
    try:
        return _checked(raw)
    except (ValueError, TypeError) as err:  # _Invalid is a ValueError; a TypeError would be a check that slipped
        raise RunFileError(f"{path}: {err}") from None


def trained_model(ckpt):
    """The VAE a loaded checkpoint holds: built from its config, with its weights, in eval mode,
    on the CPU."""
    model = build_vae(ckpt["config"])
    model.load_state_dict(ckpt["model"])
    return model.eval()


def restore(ckpt, model, optimizer):
    """Put a loaded checkpoint's weights, optimizer state and RNG states in place; returns
    (history, order), the shuffling generator to pass to train(). The optimizer takes the stored
    settings (torch's load_state_dict), its learning rate included: for a scheduled run, the rate
    of its last step, so pass the schedule to train(lr_at=options.learning_rate(...)) to go on."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    history = History(records=list(ckpt["history"]), seconds=ckpt["seconds"])
    torch.set_rng_state(ckpt["rng"]["torch"])
    if torch.cuda.is_available() and "cuda" in ckpt["rng"]:
        torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
    order = torch.Generator()
    order.set_state(ckpt["rng"]["order"])
    return history, order


def _read(path):
    if not path.is_file():
        raise RunFileError(f"{path}: no checkpoint there")
    try:
        with warnings.catch_warnings():
            # torch warns about a pickle's protocol before refusing it; the refusal is what we report
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # zip, pickle and tensor errors of many kinds: all mean "not ours"
        code = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        why = f"it asks for {code.group(1)}, which no checkpoint needs; nothing was run" if code else type(err).__name__
        raise RunFileError(f"{path}: not a readable vae_lessons checkpoint ({why})") from None


def _checked(ckpt):
    if not isinstance(ckpt, dict):
        raise _Invalid(f"holds {describe(ckpt)}, not a vae_lessons checkpoint (a dict)")
    if "format" not in ckpt and FORMAT_1_KEYS <= set(ckpt):
        raise _Invalid("written by an earlier vae_lessons (format 1, without a SHA-256 of its contents), "
                       "which this version does not read; no checkpoints were released in that format: train again")
    missing = [k for k in KEYS if k not in ckpt]
    if missing:
        raise _Invalid(f"not a vae_lessons checkpoint: no {', '.join(missing)}")
    unexpected = [k for k in ckpt if k not in KEYS]
    if unexpected:
        raise _Invalid(f"not a vae_lessons checkpoint: unexpected entry {describe(unexpected[0])}")
    if type(ckpt["format"]) is not int or ckpt["format"] not in READ_FORMATS:
        raise _Invalid(f"checkpoint format {describe(ckpt['format'])}; this vae_lessons reads formats "
                       f"{READ_FORMATS[0]} to {FORMAT}")
    try:
        config = check_config(_upgraded(ckpt["config"], ckpt["format"]))
    except ValueError as err:
        raise _Invalid(f"config: {err}") from None
    model_template, optimizer_template = _templates(config)
    kind = "convolutional architecture" if config["arch"] == "conv" else \
        "label-conditional architecture" if config["conditional"] else "architecture"
    architecture = f"the {kind} {show_dims(config['dims'])}"
    _check_like(ckpt["model"], model_template, "model", architecture)
    _check_like(ckpt["optimizer"], _as_stored(optimizer_template, ckpt["optimizer"], config), "optimizer",
                f"Adam for {architecture}")
    _check_history(ckpt["history"], config["epochs"])
    _check_number(ckpt["seconds"], "seconds")
    _check_rng(ckpt["rng"])
    digest = ckpt["sha256"]
    if not (isinstance(digest, str) and re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise _Invalid(f"sha256: expected 64 hex digits, got {describe(digest)}")
    if content_hash(ckpt) != digest:
        raise _Invalid("its contents do not match the SHA-256 stored in it: the file is corrupted or was edited")
    return {**ckpt, "config": config}


def _upgraded(config, version):
    """The config of a format-`version` checkpoint with the options added by later formats at
    their defaults (a run of that format used none of them). One that holds such an option
    already was not written by that format: refused."""
    return with_later_options(config, ADDED_IN_FORMAT, version, "checkpoint")


def _templates(config):
    """State dicts of the model and its optimizer (after one step, so Adam's state exists) as
    the config describes them, built on the meta device: shapes and dtypes, no memory, no RNG."""
    with torch.device("meta"):
        model = build_vae(config)
        optimizer = make_optimizer(model, config)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # outside the meta context: Adam keeps its step counts on the CPU
    return model.state_dict(), optimizer.state_dict()


def _as_stored(template, stored, config):
    """The optimizer template with two entries of each parameter group as stored, once checked:
    Adam's `fused` flag, None (the unfused kernel, before training.adam) or True, which says how a
    step is computed, not what the run is (restore() keeps it, so a run is continued by the kernel
    that trained it); and, for a run with a learning-rate schedule, `lr`, the rate of its last
    step, a float in (0, --lr] (the schedule sets every step's rate anew). _Invalid otherwise."""
    groups = stored.get("param_groups") if isinstance(stored, dict) else None
    if not (isinstance(groups, list) and len(groups) == len(template["param_groups"])
            and all(isinstance(g, dict) for g in groups)):
        return template  # _check_like says what does not fit
    as_stored = []
    for i, (t, g) in enumerate(zip(template["param_groups"], groups)):
        where = f"optimizer.param_groups.{i}"
        if "fused" in g and not (g["fused"] is None or g["fused"] is True):
            raise _Invalid(f"{where}.fused: expected None (unfused Adam) or True (fused), got {describe(g['fused'])}")
        t = {**t, "fused": g.get("fused")}
        if config["lr_schedule"] != "constant" and "lr" in g:
            lr = g["lr"]
            if not (type(lr) is float and 0 < lr <= config["lr"]):
                raise _Invalid(f"{where}.lr: expected a rate in (0, {config['lr']:g}], the {config['lr_schedule']} "
                               f"schedule's range, got {describe(lr)}")
            t["lr"] = lr
        as_stored.append(t)
    return {**template, "param_groups": as_stored}


def _check_like(value, template, where, needs):
    """value must have template's structure: the same dict keys, list lengths, tensor dtypes
    and shapes (with finite values), and equal plain values of the same type. needs: what the
    template stands for, to say what does not fit ("the architecture 784-256-20")."""
    if isinstance(template, torch.Tensor):
        _check_tensor(value, template.dtype, template.shape, where, needs)
    elif isinstance(template, dict):
        if not isinstance(value, dict):
            raise _Invalid(f"{where}: expected a dict, got {describe(value)}")
        missing = [k for k in template if k not in value]
        unexpected = [k for k in value if k not in template]
        if missing or unexpected:
            what = f"no {describe(missing[0])}" if missing else f"unexpected entry {describe(unexpected[0])}"
            raise _Invalid(f"{where}: {what}: it does not fit {needs}")
        for key in template:
            _check_like(value[key], template[key], f"{where}.{key}", needs)
    elif isinstance(template, (list, tuple)):
        if type(value) is not type(template) or len(value) != len(template):
            raise _Invalid(f"{where}: expected a {type(template).__name__} of {len(template)}, got {describe(value)}")
        for i, (v, t) in enumerate(zip(value, template)):
            _check_like(v, t, f"{where}.{i}", needs)
    elif type(value) is not type(template) or value != template:
        raise _Invalid(f"{where}: {describe(value)}, but {needs} has {describe(template)}")


def _check_tensor(value, dtype, shape, where, needs):
    if not isinstance(value, torch.Tensor) or value.layout != torch.strided or value.is_quantized \
            or value.device.type != "cpu":
        raise _Invalid(f"{where}: expected a tensor, got {describe(value)}")
    if value.dtype != dtype or value.shape != shape:
        raise _Invalid(f"{where}: {describe(value)}, but {needs} needs shape {tuple(shape)}, "
                       f"{str(dtype).replace('torch.', '')}")
    if value.is_floating_point() and not torch.isfinite(value).all():
        raise _Invalid(f"{where}: holds NaN or infinite values")


def _check_number(value, where):
    if type(value) not in (int, float) or not (math.isfinite(value) and value >= 0):
        raise _Invalid(f"{where}: expected a finite number >= 0, got {describe(value)}")


def _check_history(history, epochs):
    if type(history) is not list:
        raise _Invalid(f"history: expected a list of per-epoch records, got {describe(history)}")
    if len(history) > epochs:
        raise _Invalid(f"history: {len(history)} epochs recorded, more than the config's {epochs}")
    for i, record in enumerate(history):
        if not isinstance(record, dict) or "loss" not in record:
            raise _Invalid(f"history.{i}: expected a dict with a loss, got {describe(record)}")
        if set(record) != set(history[0]):
            raise _Invalid(f"history.{i}: its keys differ from the first epoch's")
        for key, value in record.items():
            if type(key) is not str or type(value) not in (int, float) or not math.isfinite(value):
                raise _Invalid(f"history.{i}: expected finite numbers, got {describe(key)}: {describe(value)}")


def _check_rng(rng):
    if not isinstance(rng, dict) or not {"torch", "order"} <= set(rng) <= {"torch", "order", "cuda"}:
        raise _Invalid(f"rng: expected the entries torch, order (and cuda), got {describe(rng)}")
    template = torch.Generator().get_state()
    for name in ("torch", "order"):
        _check_generator_state(rng[name], template, torch.Generator(), f"rng.{name}")
    cuda = rng.get("cuda", [])
    if type(cuda) is not list or not all(isinstance(s, torch.Tensor) for s in cuda):
        raise _Invalid(f"rng.cuda: expected a list of tensors, got {describe(cuda)}")
    if torch.cuda.is_available() and "cuda" in rng:  # only then is it used
        if len(cuda) != torch.cuda.device_count():
            raise _Invalid(f"rng.cuda: {len(cuda)} GPU states, but this machine has {torch.cuda.device_count()} GPUs")
        for i, state in enumerate(cuda):
            _check_generator_state(state, torch.cuda.get_rng_state(i), torch.Generator(f"cuda:{i}"), f"rng.cuda.{i}")


def _check_generator_state(state, template, generator, where):
    """state must be a state torch accepts for this kind of generator (tried on a spare one)."""
    _check_tensor(state, template.dtype, template.shape, where, "a generator")
    try:
        generator.set_state(state)
    except RuntimeError:  # "Invalid mt19937 state", say
        raise _Invalid(f"{where}: not a valid random-number generator state") from None
