"""Command-line trainer and evaluator: the notebooks' code, at full scale.

    python -m vae_lessons train --epochs 3 --out runs/first          # the bundled subset, seconds
    python -m vae_lessons train --out runs/first --resume --epochs 6 # continue it: options from its checkpoint
    python -m vae_lessons evaluate runs/first --k 1000
    python -m vae_lessons train --conditional --epochs 3 --out runs/cond # p(x | y): the label goes in too
    python -m vae_lessons train --arch conv --dims 784-20 --epochs 3 --out runs/conv # convolutional encoder, decoder
    python -m vae_lessons train --dataset mnist --download --dims 784-400-20 --epochs 50 --out runs/mnist20
    python -m vae_lessons train --preset quality --download --out runs/quality     # full MNIST: 6 min on 2 cores
    python -m vae_lessons evaluate runs/quality --k 5000                            # IWAE-5000: 4 min on 2 cores

A checkpoint (weights, optimizer, RNG states, every option, history, and a SHA-256 of them) is
written atomically after every epoch to OUT/checkpoint.pt and checked in full when read back
(vae_lessons.checkpoint); OUT/summary.json describes the run. Bad input, on the command line or
in a checkpoint, ends in one line and exit status 2; Ctrl-C in one line and status 130.
"""
import argparse
import math
import sys
import time
from pathlib import Path

import torch

from . import checkpoint, data
from .checkpoint import RunFileError
from .download import DownloadError
from .idx import DataFileError
from .diagnostics import active_units, kl_per_dimension
from .objectives import bits_per_dim, elbo, iwae_bound
from .options import (BY_NAME, OPTIONS, PRESETS, TrainingLoss, build_vae, learning_rate, make_optimizer, new_config,
                      parse_int, resumed_config, whole)
from .training import History, NonFiniteLossError, default_device, seed_everything, train

MAX_K = 1_000_000  # importance samples; 5000 is the published convention
ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. (2015)
PROG = "python -m vae_lessons"


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(message)


def argument_type(check, parse=str):
    """An argparse type that parses the text, then checks it; a failure names the option."""
    def convert(text):
        try:
            return check(parse(text))
        except (ValueError, TypeError) as err:
            raise argparse.ArgumentTypeError(str(err).strip()) from None
    return convert


def show_options(options):
    """A preset's options as flags: --dataset mnist --dims 784-200-200-50 ..."""
    return " ".join(f"{BY_NAME[name].flag} {BY_NAME[name].show(value)}" for name, value in options.items())


def count(minimum, maximum):
    return argument_type(whole(minimum, maximum), parse_int)


def build_parser():
    parser = Parser(prog=PROG, description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    t = sub.add_parser("train", help="train a VAE, checkpointing every epoch",
                       description="Train a VAE on 28x28 images, checkpointing every epoch. With --resume, "
                                   "the options come from the run's checkpoint: give only --out (and a new "
                                   "--epochs total to train further).")
    for option in OPTIONS:  # default None: then we know which options were given (for --resume)
        if option.switch:
            t.add_argument(option.flag, action="store_const", const=True, help=option.help_text)
        else:
            t.add_argument(option.flag, type=argument_type(option.check, option.parse), choices=option.choices,
                           help=option.help_text)
    t.add_argument("--preset", choices=sorted(PRESETS),
                   help="a set of options, each overridden by the same option given: quality = "
                        + show_options(PRESETS["quality"]))
    t.add_argument("--out", type=Path, required=True, help="folder for checkpoint.pt and summary.json")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    add_machine_options(t)
    t.add_argument("--download", action="store_true", help="fetch missing full data files (checked by SHA-256)")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    e = sub.add_parser("evaluate", help="test ELBO and importance-weighted bound of a trained run "
                                        "(of log p(x | y) for a --conditional one)")
    e.add_argument("run", type=Path, help="a folder written by train")
    e.add_argument("--k", type=count(1, MAX_K), default=1000,
                   help="importance samples for the IWAE bound (default: 1000)")
    e.add_argument("--n-test", type=count(2, 10**9), default=None,
                   help="evaluate on the first N test images only (default: all)")
    add_machine_options(e)
    return parser


def add_machine_options(p):
    """Options of where a run is computed, which may differ between a run and its --resume."""
    p.add_argument("--data-root", help="folder with mnist/ and fashion-mnist/ (default: $VAE_LESSONS_DATA, "
                                       "else ~/.cache/vae_lessons)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="auto: a GPU when there is one (default: auto)")


def load_split(config, split, root=None, download=False):
    name = config["dataset"]  # "mnist-subset": the bundled subset of "mnist"; same for fashion-mnist
    load = data.load_fashion_mnist if name.startswith("fashion-mnist") else data.load_mnist
    if name.endswith("-subset"):
        x, y = load(split)
    else:
        x, y = load(split, full=True, root=root, download=download)
    return x.reshape(len(x), -1), y


def test_images(config, root=None):
    """The test set as the run's likelihood sees it: binary (static, seed 0) unless trained on grey levels."""
    return test_set(config, root)[0]


def test_set(config, root=None):
    """(images, labels) of the test set, the images as test_images gives them."""
    x, y = load_split(config, "test", root)
    return (x if config["binarize"] == "none" else data.binarize_static(x, seed=0)), y


def bound_of(config):
    """What the run's ELBO and IWAE-k bound: log p(x), or log p(x | y) for a conditional run."""
    return "log p(x | y)" if config["conditional"] else "log p(x)"


def batches(x, y, size, device):
    """(x[i:i + size], y[i:i + size]) on device for i = 0, size, 2 size, ...; y may be None."""
    for i in range(0, len(x), size):
        yield x[i:i + size].to(device), None if y is None else y[i:i + size].to(device)


def pick_device(name):
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available")
    return default_device() if name == "auto" else torch.device(name)


def make_folder(out):
    """Make --out (and its parents), or say which file stands where a folder should."""
    blocker = next((p for p in (out, *out.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UsageError(f"--out {out}: {blocker} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)


def run_config(args, ckpt):
    """The run's options: from the command line for a new run; from the checkpoint for
    --resume, where only --epochs may change."""
    given = {o.name: getattr(args, o.name) for o in OPTIONS if getattr(args, o.name) is not None}
    if args.preset is not None:
        if ckpt is not None:
            raise UsageError(f"--preset with --resume: the run in {args.out} has its options already; leave --preset out")
        given = {**PRESETS[args.preset], **given}
    if ckpt is None:
        try:
            return new_config(given)  # each option is checked already: what is left is how they combine
        except ValueError as err:
            preset = f" (with the options of --preset {args.preset})" if args.preset is not None else ""
            raise UsageError(f"{err}{preset}") from None
    try:
        config = resumed_config(ckpt["config"], given)
    except ValueError as err:
        raise UsageError(f"--resume {args.out}: {err}") from None
    done = len(ckpt["history"])
    if config["epochs"] < done:
        raise UsageError(f"--epochs {config['epochs']}: the run in {args.out} has trained {done} epochs already; "
                         "give a larger total, or leave --epochs out")
    return config


def train_command(args):
    ckpt_path = args.out / "checkpoint.pt"
    if args.resume:
        ckpt = checkpoint.load(ckpt_path)
    elif ckpt_path.exists():
        raise UsageError(f"{args.out} already holds a run: pass --resume to continue it, or choose another --out")
    else:
        ckpt = None
    config = run_config(args, ckpt)
    device = pick_device(args.device)
    x_train, y_train = load_split(config, "train", args.data_root, args.download)
    x_test, y_test = test_set(config, args.data_root)
    if not config["conditional"]:  # the labels go to the model only when it takes them
        y_train = y_test = None
    steps_per_epoch = math.ceil(len(x_train) / config["batch_size"])
    if config["lr_schedule"] == "one-cycle" and config["epochs"] * steps_per_epoch < 2:
        raise UsageError(f"--lr-schedule one-cycle needs at least 2 steps to rise and fall; --epochs {config['epochs']} "
                         f"of {len(x_train):,} images in batches of --batch-size {config['batch_size']} make 1")
    make_folder(args.out)
    model, optimizer, history, order = start(config, ckpt, device, args.out)
    # steps taken so far: where a resumed warm-up goes on
    loss_fn = TrainingLoss(config, steps_per_epoch, step=len(history) * steps_per_epoch)

    if config["binarize"] == "static":
        x_train = data.binarize_static(x_train, seed=config["seed"])
    train_data = x_train if y_train is None else (x_train, y_train)  # train() passes y on: loss_fn(model, x, y)

    saved = [len(history)]  # epochs in the checkpoint on disk (a second Ctrl-C can stop a write)

    def save(hist):
        checkpoint.save(checkpoint.capture(config, model, optimizer, hist, order), ckpt_path)
        saved[0] = len(hist)
        loss_fn.step = len(hist) * steps_per_epoch

    remaining = config["epochs"] - len(history)
    if remaining > 0:
        history = train(model, train_data, loss_fn, epochs=remaining, batch_size=config["batch_size"], lr=config["lr"],
                        seed=config["seed"], device=device, progress=not args.no_progress, optimizer=optimizer,
                        order=order, history=history, on_epoch_end=save, announce_interrupt=False,
                        lr_at=learning_rate(config, steps_per_epoch))
    if history.interrupted:
        return interrupted(f"{ckpt_path} holds epoch {saved[0]} of {config['epochs']}; continue with: "
                           f"{PROG} train --out {args.out} --resume" if ckpt_path.exists() else
                           "during epoch 1, before a checkpoint was written; start again with the same command")
    last_weight = loss_fn.kl_weight(max(len(history) * steps_per_epoch - 1, 0))
    summarize(args.out, config, model, history, device, len(x_train), x_test, last_weight, y_test)
    return 0


def start(config, ckpt, device, out):
    """(model, optimizer, history, shuffling generator): seeded afresh, or as the checkpoint
    left them. The order of the seeding and RNG draws is what makes --resume bit for bit."""
    seed_everything(config["seed"])
    model = build_vae(config).to(device)
    optimizer = make_optimizer(model, config)
    if ckpt is None:
        torch.manual_seed(config["seed"])
        return model, optimizer, History(), torch.Generator().manual_seed(config["seed"])
    history, order = checkpoint.restore(ckpt, model, optimizer)
    print(f"resuming {out} after epoch {len(history)}")
    return model, optimizer, history, order


def summarize(out, config, model, history, device, n_train, x_test, last_kl_weight, y_test=None):
    """Write OUT/summary.json: the run, its test ELBO (of log p(x | y_test) for a conditional
    run), and the KL weight of its last step."""
    elbo_mean, se = test_elbo(model, x_test, y_test)
    summary = {"config": config, "epochs": len(history), "seconds": round(history.seconds, 2),
               "device": str(device), "train_images": n_train, "test_images": len(x_test),
               "test_binarization": "none" if config["binarize"] == "none" else "static, seed 0",
               "final": history.records[-1] if len(history) else None, "final_kl_weight": last_kl_weight,
               "test_elbo_nats": elbo_mean, "test_elbo_se": se, "test_bits_per_dim": bits_per_dim(-elbo_mean),
               "bound_of": bound_of(config)}
    checkpoint.write_json(out / "summary.json", summary)
    of = f" of {bound_of(config)}" if config["conditional"] else ""
    print(f"test ELBO{of} {elbo_mean:.2f} ± {se:.2f} nats per image (sampled z); summary in {out / 'summary.json'}")


@torch.no_grad()
def test_elbo(model, x, y=None, batch_size=1000):
    """Mean ELBO per image with one sampled z, and its standard error over images; given the
    labels y for a conditional model (an ELBO of log p(x | y))."""
    model.eval()
    device = next(model.parameters()).device
    values = torch.cat([elbo(model, xb, y=yb).cpu() for xb, yb in batches(x, y, batch_size, device)])
    return values.mean().item(), values.std().item() / math.sqrt(len(values))


def evaluate_command(args):
    ckpt = checkpoint.load(args.run / "checkpoint.pt")
    config = ckpt["config"]
    device = pick_device(args.device)
    model = checkpoint.trained_model(ckpt).to(device)
    x, y = (t[: args.n_test] for t in test_set(config, args.data_root))
    y = y if config["conditional"] else None  # the labels go to the model only when it takes them
    torch.manual_seed(0)
    start = time.perf_counter()
    elbo_mean, elbo_se = test_elbo(model, x, y)
    iwae = torch.cat([iwae_bound(model, xb, args.k, y=yb).cpu() for xb, yb in batches(x, y, 100, device)])
    active, variances = active_units(model, x, ACTIVE_UNIT_THRESHOLD, y=y)  # no random numbers: the above stay
    kl_dims = kl_per_dimension(model, x, y=y)
    result = {"test_images": len(x), "k": args.k, "elbo_nats": elbo_mean, "elbo_se": elbo_se,
              "iwae_nats": iwae.mean().item(), "iwae_se": iwae.std().item() / math.sqrt(len(x)),
              "iwae_bits_per_dim": bits_per_dim(-iwae.mean().item()), "seconds": round(time.perf_counter() - start, 1),
              "binarization": "none" if config["binarize"] == "none" else "static, seed 0",
              "active_units": active, "active_unit_threshold": ACTIVE_UNIT_THRESHOLD,
              "active_unit_variances": variances.tolist(), "kl_per_dimension": kl_dims.tolist(),
              "bound_of": bound_of(config)}
    checkpoint.write_json(args.run / f"evaluation_k{args.k}.json", result)
    given = f" (bounds on {bound_of(config)}, each image given its label)" if config["conditional"] else ""
    print(f"{len(x)} test images{given}: ELBO {elbo_mean:.2f} ± {elbo_se:.2f}, "
          f"IWAE-{args.k} {result['iwae_nats']:.2f} "
          f"± {result['iwae_se']:.2f} nats per image ({result['iwae_bits_per_dim']:.4f} bits/dim); "
          f"{active} of {len(variances)} latent units active (variance of the mean > {ACTIVE_UNIT_THRESHOLD})")
    return 0


def interrupted(what):
    """The one line a Ctrl-C gets, wherever it lands; exit status 130 (128 + SIGINT)."""
    print(f"vae_lessons: interrupted: {what}", file=sys.stderr)
    return 130


def main(argv=None):
    try:
        args = build_parser().parse_args(argv)
        return {"train": train_command, "evaluate": evaluate_command}[args.command](args)
    except (UsageError, RunFileError, DataFileError, DownloadError, NonFiniteLossError, OSError) as err:
        message = str(err)
    except (MemoryError, torch.OutOfMemoryError):
        message = "out of memory: try a smaller --batch-size or --dims"
    except KeyboardInterrupt:  # before training started (loading data, say) or while evaluating
        return interrupted("nothing was written")
    print(f"vae_lessons: error: {' '.join(message.split())}", file=sys.stderr)  # one line, no traceback
    return 2
