"""Weights trained longer than a lesson can afford, shipped inside the package so that the
comparison runs offline in a minute (COURSE.md: committed weights, their SHA-256, the command).

`make pretrained` (scripts/make_pretrained.py) trains each model with the command line,
`python -m vae_lessons train ...`, on the bundled MNIST subset, one epoch per call with
--resume (bit for bit the same as one call), scores the test set after every epoch, and writes

    vae_lessons/pretrained/NAME.pt        {"format": 2, "name", "config", "model"}: the run's options
                                          and the VAE's state dict, float32, no optimizer; for a
                                          VAE-GAN (lesson 15), config is {"kind": "vaegan",
                                          "latent_dim", "arch", "gamma"}, make_vaegan's arguments
    vae_lessons/pretrained/MANIFEST.json  per NAME: the file's SHA-256, the command, the machine,
                                          the training time, the per-epoch training history and
                                          test ELBO, and the final evaluation (ELBO, IWAE-k)

A format-1 file was written before --lr-schedule existed: its config lacks it, and is read as a
constant-rate run, which it was (the committed VAEs are format 1: trained before training.adam
made Adam fused, so `make pretrained` now trains the same runs with float32 rounding that differs
from theirs, and writes statistically equivalent weights, not the same bytes).

load(NAME) checks the file's SHA-256 against the manifest before torch.load(weights_only=True)
reads it, then checks every tensor against the model its config describes: a stale, corrupt or
foreign file ends in one line (PretrainedError), not in a traceback from load_state_dict.
"""
import json
from pathlib import Path

import torch

from .download import sha256_of
from .options import build_vae, check_config, with_later_options

FOLDER = Path(__file__).parent / "pretrained"
FORMAT = 2
READ_FORMATS = (1, FORMAT)
ADDED_IN_FORMAT = {2: ("lr_schedule",)}  # the options a VAE's config gained in each format
KEYS = {"format", "name", "config", "model"}
VAEGAN_KEYS = {"kind", "latent_dim", "arch", "gamma"}


class PretrainedError(Exception):
    """A committed weights file is missing, differs from its manifest, or does not fit its model."""


sha256 = sha256_of  # hex SHA-256 of a file's bytes, read in blocks (the data files' check)


def manifest(folder=FOLDER):
    """The manifest as a dict {name: entry}; {} when the folder has none."""
    path = Path(folder) / "MANIFEST.json"
    return json.loads(path.read_text()) if path.exists() else {}


def names(folder=FOLDER):
    """The names load() accepts."""
    return sorted(manifest(folder))


def info(name, folder=FOLDER):
    """The manifest's entry for one name: command, sha256, history, test scores, ..."""
    entries = manifest(folder)
    if name not in entries:
        raise PretrainedError(f"no pretrained weights named {name!r}; there are: {', '.join(sorted(entries)) or 'none'}")
    return entries[name]


def write(path, name, config, model):
    """Write NAME.pt: the run's options and the model's weights (float32, on the CPU)."""
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    torch.save({"format": FORMAT, "name": name, "config": dict(config), "model": state}, path)


def _upgraded(config, version):
    """A VAE's config of a format-`version` file with the options added by later formats at their
    defaults (what its run had); one that holds such an option already was not written by that
    format: refused. A VAE-GAN's config has no such options."""
    if isinstance(config, dict) and config.get("kind") == "vaegan":
        return config
    return with_later_options(config, ADDED_IN_FORMAT, version, "file")


def _build(config):
    """The untrained model a stored config describes: a VAE from the command line's options, or a
    VAEGAN from make_vaegan's arguments."""
    if isinstance(config, dict) and config.get("kind") == "vaegan":
        from .vaegan import make_vaegan  # only a VAE-GAN needs it
        if set(config) != VAEGAN_KEYS:
            raise ValueError(f"a VAE-GAN's config has the keys {sorted(VAEGAN_KEYS)}")
        return make_vaegan(config["latent_dim"], config["arch"], gamma=config["gamma"])
    return build_vae(check_config(config))


def load(name, folder=FOLDER):
    """The model stored as NAME, a VAE (or a VAEGAN) in eval mode on the CPU, after checking the file's SHA-256
    against the manifest and every tensor against the model its config describes."""
    entry = info(name, folder)
    path = Path(folder) / entry["file"]
    if not path.exists():
        raise PretrainedError(f"{path}: missing; `make pretrained` writes it")
    if sha256(path) != entry["sha256"]:
        raise PretrainedError(f"{path}: SHA-256 differs from MANIFEST.json (a changed or corrupt file); "
                              "`git checkout` it, or run `make pretrained` to write both again")
    try:
        stored = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # weights_only refuses anything that would run code
        raise PretrainedError(f"{path}: not a weights file torch can read safely ({type(err).__name__})") from None
    if not isinstance(stored, dict) or set(stored) != KEYS or stored["format"] not in READ_FORMATS:
        raise PretrainedError(f"{path}: not a vae_lessons pretrained file of format {' or '.join(map(str, READ_FORMATS))}")
    try:
        model = _build(_upgraded(stored["config"], stored["format"]))
    except (TypeError, ValueError) as err:
        raise PretrainedError(f"{path}: its config is invalid: {err}") from None
    expected = model.state_dict()
    weights = stored["model"]
    if set(weights) != set(expected):
        raise PretrainedError(f"{path}: its tensors do not match the model its config describes")
    for key, tensor in weights.items():
        if tensor.shape != expected[key].shape or tensor.dtype != torch.float32 or not torch.isfinite(tensor).all():
            raise PretrainedError(f"{path}: tensor {key} is not finite float32 of shape {tuple(expected[key].shape)}")
    model.load_state_dict(weights)
    return model.eval()
