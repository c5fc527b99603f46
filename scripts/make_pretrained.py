"""Train the models whose weights ship in vae_lessons/pretrained/ (lessons 14 and 15 load them).

    python scripts/make_pretrained.py [--epochs E] [--k 1000] [--only NAME] [--out FOLDER] [--work FOLDER]

The two VAEs (60 epochs each unless --epochs) are trained by the command line a learner can run, on the bundled MNIST subset
(10,000 training images, dynamic binarization, seed 0): `python -m vae_lessons train ARGS
--epochs 1 --out WORK/NAME`, then `... train --out WORK/NAME --resume --epochs e` for e = 2, 3, ...
(bit for bit the same run as one call with --epochs E), with the test ELBO scored after every
epoch (2,000 test images binarized once with seed 0, one sampled z, torch seeded with 0).
After the last epoch `python -m vae_lessons evaluate WORK/NAME --k K` gives the final ELBO and
IWAE-K. The VAE-GAN (20 epochs unless --epochs: about the ConvVAE's training time) is trained
by vaegan.train_vaegan on the same 10,000 images, grey (it has no pixel likelihood to binarize
for), on one thread, and scored by the sharpness of its prior samples. The weights go to
OUT/NAME.pt and everything else to OUT/MANIFEST.json, with the file's SHA-256
(vae_lessons.pretrained reads them). Training is deterministic on one machine with the same
number of threads; another machine's float rounding may move the numbers slightly.
"""
import argparse
import contextlib
import io
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from vae_lessons import checkpoint, cli, data, pretrained
from vae_lessons.metrics import laplacian_variance
from vae_lessons.vaegan import make_vaegan, train_vaegan

# name -> the options of its `train` command (the rest are the defaults: mnist-subset, dynamic
# binarization, Bernoulli decoder, ReLU, Adam at 1e-3, batch 128, seed 0)
MODELS = {
    "mlp_L20": ["--arch", "mlp", "--dims", "784-256-20"],
    "conv_L20": ["--arch", "conv", "--dims", "784-20"],
}
VAE_EPOCHS = 60
# the VAE-GAN: make_vaegan's arguments, and train_vaegan's
VAEGANS = {"vaegan_L20": ({"latent_dim": 20, "arch": "conv", "gamma": 0.1},
                          {"lr": 1e-3, "batch_size": 64, "seed": 0, "balance": None})}
VAEGAN_EPOCHS = 20
here = Path(__file__).resolve().parent.parent


def run_cli(argv):
    with contextlib.redirect_stdout(io.StringIO()):  # one bar per model, not a line per call
        status = cli.main(argv)
    if status != 0:
        sys.exit(f"make_pretrained: `{cli.PROG} {' '.join(argv)}` failed (exit status {status})")


def trained_model(run):
    ckpt = checkpoint.load(run / "checkpoint.pt")
    return checkpoint.trained_model(ckpt), ckpt


def test_elbo(model, config):
    torch.manual_seed(0)  # the one sampled z per test image
    return cli.test_elbo(model, cli.test_images(config))


def command(args):
    """The command line this script was run with, exactly."""
    return " ".join(["python", "scripts/make_pretrained.py", *map(shlex.quote, sys.argv[1:])])


def machine():
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads")


def make_vaegan_weights(name, args):
    build, options = VAEGANS[name]
    epochs = args.epochs or VAEGAN_EPOCHS
    x_train, _ = data.load_mnist("train")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a thread count every machine has: the run then repeats bit for bit
    try:
        model = make_vaegan(**build, seed=options["seed"])
        history = train_vaegan(model, x_train.reshape(-1, 784), epochs=epochs, **options, progress=True)
        sharpness = laplacian_variance(model.sample(2000, generator=torch.Generator().manual_seed(1)))
        entry_machine = machine()
    finally:
        torch.set_num_threads(threads)
    file = args.out / f"{name}.pt"
    pretrained.write(file, name, {"kind": "vaegan", **build}, model)
    return {
        "file": file.name, "sha256": pretrained.sha256(file), "command": command(args),
        "train_call": f"train_vaegan(make_vaegan({', '.join(f'{k}={v!r}' for k, v in build.items())}), "
                      f"x_train, epochs={epochs}, {', '.join(f'{k}={v!r}' for k, v in options.items())})",
        "config": {"kind": "vaegan", **build}, "training": options, "data": "mnist-subset, 10,000 grey training images",
        "parameters": sum(p.numel() for p in model.parameters()), "epochs": epochs,
        "train_seconds": round(history.seconds, 1),
        "history": [{k: history.epoch_means(k)[e] for k in history.keys()} for e in range(epochs)],
        "sample_sharpness": sharpness.mean().item(), "sample_sharpness_se": (sharpness.std() / len(sharpness) ** 0.5).item(),
        "machine": entry_machine,
    }


def make(name, args):
    if name in VAEGANS:
        return make_vaegan_weights(name, args)
    args = argparse.Namespace(**{**vars(args), "epochs": args.epochs or VAE_EPOCHS})
    run = args.work / name
    if (run / "checkpoint.pt").exists():
        sys.exit(f"make_pretrained: {run} already holds a run; remove it first")
    first = ["train", *MODELS[name], "--epochs", "1", "--out", str(run), "--no-progress", "--device", "cpu"]
    curve = []
    for epoch in tqdm(range(1, args.epochs + 1), desc=name, unit="epoch"):
        run_cli(first if epoch == 1 else
                ["train", "--out", str(run), "--resume", "--epochs", str(epoch), "--no-progress", "--device", "cpu"])
        model, ckpt = trained_model(run)
        elbo_mean, elbo_se = test_elbo(model, ckpt["config"])
        curve.append(elbo_mean)
    run_cli(["evaluate", str(run), "--k", str(args.k), "--device", "cpu"])  # reads the checkpoint, changes nothing
    evaluation = json.loads((run / f"evaluation_k{args.k}.json").read_text())
    file = args.out / f"{name}.pt"
    pretrained.write(file, name, ckpt["config"], model)
    return {
        "file": file.name, "sha256": pretrained.sha256(file),
        "command": command(args),
        "train_command": f"{cli.PROG} train {' '.join(MODELS[name])} --epochs {args.epochs} --out runs/{name}",
        "config": ckpt["config"], "parameters": sum(p.numel() for p in model.parameters()),
        "epochs": args.epochs, "train_seconds": round(ckpt["seconds"], 1),
        "history": ckpt["history"],
        "test_elbo_per_epoch": curve,
        "test_elbo_nats": elbo_mean, "test_elbo_se": elbo_se,
        "evaluation": {k: evaluation[k] for k in ("test_images", "k", "elbo_nats", "elbo_se", "iwae_nats", "iwae_se",
                                                  "binarization", "active_units", "seconds")},
        "machine": machine(),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, help=f"epochs of every model (default: {VAE_EPOCHS} for the VAEs, "
                                                   f"{VAEGAN_EPOCHS} for the VAE-GAN)")
    parser.add_argument("--k", type=int, default=1000, help="importance samples of the final IWAE bound (default: 1000)")
    parser.add_argument("--only", choices=sorted([*MODELS, *VAEGANS]), help="one model only (default: all)")
    parser.add_argument("--out", type=Path, default=here / "vae_lessons" / "pretrained",
                        help="folder for NAME.pt and MANIFEST.json (default: the package's)")
    parser.add_argument("--work", type=Path, default=here / "runs" / "pretrained",
                        help="folder for the training runs (default: runs/pretrained)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    entries = pretrained.manifest(args.out)
    for name in [args.only] if args.only else [*MODELS, *VAEGANS]:
        start = time.perf_counter()
        entries[name] = make(name, args)
        entries[name]["script_seconds"] = round(time.perf_counter() - start, 1)
        checkpoint.write_json(args.out / "MANIFEST.json", dict(sorted(entries.items())))
        e = entries[name]
        scores = (f"sharpness of prior samples {e['sample_sharpness']:.4f}" if name in VAEGANS else
                  f"test ELBO {e['test_elbo_nats']:.2f} ± {e['test_elbo_se']:.2f}, IWAE-{args.k} "
                  f"{e['evaluation']['iwae_nats']:.2f} ± {e['evaluation']['iwae_se']:.2f} nats per image")
        print(f"{name}: {e['parameters']:,} parameters, {e['epochs']} epochs; {scores}; {e['script_seconds']:.0f} s")


if __name__ == "__main__":
    main()
