"""Command-line trainer and evaluator: the notebooks' code, at full scale.

    python -m vae_lessons train --dataset mnist --dims 784-400-20 --epochs 10 --out runs/a
    python -m vae_lessons train --out runs/a --resume          # after an interruption
    python -m vae_lessons evaluate runs/a --k 5000

A checkpoint (weights, optimizer, RNG states, config, history) is written atomically after
every epoch to OUT/checkpoint.pt and read back with torch.load(weights_only=True); OUT/summary.json
describes the run. Bad input ends with a one-line error and exit status 2.
"""
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

from . import data
from .download import DownloadError
from .idx import DataFileError
from .models import VAE
from .objectives import bits_per_dim, elbo, iwae_bound, vae_loss
from .training import History, NonFiniteLossError, default_device, seed_everything, train

DATASETS = ("mnist-subset", "mnist", "fashion-mnist")
# what must match for --resume or evaluate to use a checkpoint with these options
ARCHITECTURE = ("dims", "activation", "likelihood")


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def parse_dims(text):
    try:
        dims = tuple(int(d) for d in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 784-256-2, got {text!r}") from None
    if len(dims) < 2 or min(dims) < 1:
        raise argparse.ArgumentTypeError(f"expected at least two positive sizes, got {text!r}")
    return dims


def build_parser():
    parser = Parser(prog="python -m vae_lessons", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    t = sub.add_parser("train", help="train a VAE, checkpointing every epoch")
    t.add_argument("--dataset", choices=DATASETS, default="mnist-subset")
    t.add_argument("--data-root", help="folder with mnist/ and fashion-mnist/ (default $VAE_LESSONS_DATA or the cache)")
    t.add_argument("--download", action="store_true", help="fetch missing full data files (checked by SHA-256)")
    t.add_argument("--dims", type=parse_dims, default=(784, 256, 20), help="sizes, input to code, e.g. 784-400-20")
    t.add_argument("--activation", choices=("relu", "tanh"), default="relu")
    t.add_argument("--likelihood", choices=("bernoulli", "gaussian"), default="bernoulli")
    t.add_argument("--binarize", choices=("dynamic", "static", "none"), default="dynamic",
                   help="training images: fresh Bernoulli draws per batch, one fixed draw, or grey levels")
    t.add_argument("--beta", type=float, default=1.0)
    t.add_argument("--epochs", type=int, default=10, help="total epochs (with --resume: the new total)")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    t.add_argument("--out", type=Path, required=True, help="folder for checkpoint.pt and summary.json")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    t.add_argument("--no-progress", action="store_true")
    e = sub.add_parser("evaluate", help="test ELBO and importance-weighted bound of a trained run")
    e.add_argument("run", type=Path, help="a folder written by train")
    e.add_argument("--k", type=int, default=1000, help="importance samples for the IWAE bound")
    e.add_argument("--n-test", type=int, default=None, help="evaluate on the first N test images only")
    e.add_argument("--data-root")
    e.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    return parser


def load_split(config, split, root=None, download=False):
    name = config["dataset"]
    if name == "mnist-subset":
        x, y = data.load_mnist(split)
    elif name == "mnist":
        x, y = data.load_mnist(split, full=True, root=root, download=download)
    else:
        x, y = data.load_fashion_mnist(split, root=root, download=download)
    return x.reshape(len(x), -1), y


def test_images(config, root=None):
    """The test set as the run's likelihood sees it: binary (static, seed 0) unless trained on grey levels."""
    x, _ = load_split(config, "test", root)
    return x if config["binarize"] == "none" else data.binarize_static(x, seed=0)


def pick_device(name):
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    return default_device() if name == "auto" else torch.device(name)


def save_atomically(obj, path):
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path):
    if not path.is_file():
        raise UsageError(f"{path}: no checkpoint there")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle or zip errors of many kinds: all mean "not ours"
        raise UsageError(f"{path}: not a readable vae_lessons checkpoint ({type(err).__name__})") from None


def make_model(config):
    return VAE(tuple(config["dims"]), config["activation"], config["likelihood"])


def load_weights(model, state, path):
    try:
        model.load_state_dict(state)
    except RuntimeError:
        raise UsageError(f"{path}: the checkpoint's weights do not fit the architecture "
                         f"{'-'.join(map(str, model.dims))}") from None


def train_command(args):
    config = {k: getattr(args, k) for k in ("dataset", "dims", "activation", "likelihood", "binarize", "beta",
                                            "batch_size", "lr", "seed")}
    config["dims"] = list(config["dims"])
    if config["dims"][0] != 784:
        raise UsageError(f"--dims must start with 784 (28x28 pixels), got {config['dims'][0]}")
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        raise UsageError("--epochs, --batch-size and --lr must be positive")
    device = pick_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt_path = args.out / "checkpoint.pt"
    x_train, _ = load_split(config, "train", args.data_root, args.download)
    x_test = test_images(config, args.data_root)

    seed_everything(args.seed)
    model = make_model(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    history, order = History(), None
    if args.resume:
        ckpt = load_checkpoint(ckpt_path)
        saved = ckpt.get("config", {})
        changed = [k for k in config if saved.get(k) != config[k]]
        if changed:
            raise UsageError(f"--resume: options differ from the run in {args.out}: " +
                             ", ".join(f"{k} {saved.get(k)} vs {config[k]}" for k in changed))
        load_weights(model, ckpt["model"], ckpt_path)
        optimizer.load_state_dict(ckpt["optimizer"])
        history = History(records=list(ckpt["history"]), seconds=ckpt["seconds"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        if torch.cuda.is_available() and "cuda" in ckpt["rng"]:
            torch.cuda.set_rng_state_all(ckpt["rng"]["cuda"])
        order = torch.Generator()
        order.set_state(ckpt["rng"]["order"])
        print(f"resuming {args.out} after epoch {len(history)}")
    elif ckpt_path.exists():
        raise UsageError(f"{args.out} already holds a run: pass --resume to continue it, or choose another --out")
    if order is None:
        torch.manual_seed(args.seed)
        order = torch.Generator().manual_seed(args.seed)

    def loss_fn(m, x):
        if config["binarize"] == "dynamic":
            x = data.binarize_dynamic(x)
        return vae_loss(m, x, beta=config["beta"])

    if config["binarize"] == "static":
        x_train = data.binarize_static(x_train, seed=args.seed)

    def checkpoint(hist):
        rng = {"torch": torch.get_rng_state(), "order": order.get_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        save_atomically({"config": config, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                         "history": hist.records, "seconds": hist.seconds, "rng": rng}, ckpt_path)

    remaining = args.epochs - len(history)
    if remaining > 0:
        history = train(model, x_train, loss_fn, epochs=remaining, batch_size=args.batch_size, lr=args.lr,
                        seed=args.seed, device=device, progress=not args.no_progress, optimizer=optimizer,
                        order=order, history=history, on_epoch_end=checkpoint)
    if history.interrupted:
        print(f"interrupted: {args.out / 'checkpoint.pt'} holds epoch {len(history)}; "
              f"continue with the same command and --resume", file=sys.stderr)
        return 130
    elbo_mean, se = test_elbo(model, x_test)
    summary = {"config": config, "epochs": len(history), "seconds": round(history.seconds, 2),
               "device": str(device), "train_images": len(x_train), "test_images": len(x_test),
               "test_binarization": "none" if config["binarize"] == "none" else "static, seed 0",
               "final": history.records[-1] if len(history) else None,
               "test_elbo_nats": elbo_mean, "test_elbo_se": se, "test_bits_per_dim": bits_per_dim(-elbo_mean)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"test ELBO {elbo_mean:.2f} ± {se:.2f} nats per image (sampled z); summary in {args.out / 'summary.json'}")
    return 0


@torch.no_grad()
def test_elbo(model, x, batch_size=1000):
    """Mean ELBO per image with one sampled z, and its standard error over images."""
    model.eval()
    device = next(model.parameters()).device
    values = torch.cat([elbo(model, x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])
    return values.mean().item(), values.std().item() / math.sqrt(len(values))


def evaluate_command(args):
    ckpt_path = args.run / "checkpoint.pt"
    ckpt = load_checkpoint(ckpt_path)
    config = ckpt.get("config")
    if not isinstance(config, dict) or not all(k in config for k in ARCHITECTURE + ("dataset", "binarize")):
        raise UsageError(f"{ckpt_path}: no vae_lessons configuration in this checkpoint")
    if args.k < 1 or (args.n_test is not None and args.n_test < 2):
        raise UsageError("--k must be at least 1 and --n-test at least 2")
    device = pick_device(args.device)
    model = make_model(config)
    load_weights(model, ckpt["model"], ckpt_path)
    model.to(device)
    x = test_images(config, args.data_root)[: args.n_test]
    torch.manual_seed(0)
    start = time.perf_counter()
    elbo_mean, elbo_se = test_elbo(model, x)
    iwae = torch.cat([iwae_bound(model, x[i:i + 100].to(device), args.k).cpu() for i in range(0, len(x), 100)])
    result = {"test_images": len(x), "k": args.k, "elbo_nats": elbo_mean, "elbo_se": elbo_se,
              "iwae_nats": iwae.mean().item(), "iwae_se": iwae.std().item() / math.sqrt(len(x)),
              "iwae_bits_per_dim": bits_per_dim(-iwae.mean().item()), "seconds": round(time.perf_counter() - start, 1),
              "binarization": "none" if config["binarize"] == "none" else "static, seed 0"}
    (args.run / f"evaluation_k{args.k}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"{len(x)} test images: ELBO {elbo_mean:.2f} ± {elbo_se:.2f}, IWAE-{args.k} {result['iwae_nats']:.2f} "
          f"± {result['iwae_se']:.2f} nats per image ({result['iwae_bits_per_dim']:.4f} bits/dim)")
    return 0


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        return {"train": train_command, "evaluate": evaluate_command}[args.command](args)
    except (UsageError, FileNotFoundError, DataFileError, DownloadError, NonFiniteLossError) as err:
        print(f"vae_lessons: error: {err}".replace("\n", " "), file=sys.stderr)  # one line, no traceback
        return 2
    except KeyboardInterrupt:  # before training started (while loading data, say): nothing to save
        print("vae_lessons: interrupted", file=sys.stderr)
        return 130
