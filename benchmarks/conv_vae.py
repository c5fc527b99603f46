"""Full-MNIST benchmark of the convolutional VAE (lesson 14) against the MLP of the quality run.

    python benchmarks/conv_vae.py [--epochs 30] [--k 5000] [--n-test 1000]

Both are trained by `python -m vae_lessons train` with the quality run's first recipe (before
--preset quality: dynamic binarization, batch 100, Adam at a constant 1e-3, seed 0, the given
epochs), 50 latent units:
the MLP 784-200-200-50 (tanh), the ConvVAE --dims 784-50 (its ReLUs). An existing run folder in
runs/benchmarks/ is reused. Then, on the test set binarized once with seed 0: the ELBO (one
sampled z) on all 10,000 images, and IWAE-k on the first --n-test images, the same images and
the same seeds for both models, so their difference has a paired standard error. On a CPU,
IWAE-5000 of the ConvVAE costs about 0.5 s per image: all 10,000 would take over an hour.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from common import machine
from vae_lessons import checkpoint, data
from vae_lessons.objectives import elbo, iwae_bound

OUT = Path("runs/benchmarks")
RECIPE = ["--dataset", "mnist", "--binarize", "dynamic", "--batch-size", "100", "--lr", "1e-3", "--seed", "0"]
MODELS = {"mlp": ["--dims", "784-200-200-50", "--activation", "tanh"], "conv": ["--arch", "conv", "--dims", "784-50"]}


def train(name, args):
    run = OUT / (f"quality_{args.epochs}ep" if name == "mlp" else f"conv_{args.epochs}ep")
    if not (run / "checkpoint.pt").exists():
        cmd = [sys.executable, "-m", "vae_lessons", "train", *MODELS[name], *RECIPE, "--epochs", str(args.epochs),
               "--data-root", args.data_root, "--out", str(run), "--no-progress"]
        print("$", " ".join(cmd[1:]), flush=True)
        subprocess.run(cmd, check=True)
    ckpt = checkpoint.load(run / "checkpoint.pt")
    return checkpoint.trained_model(ckpt), ckpt


@torch.inference_mode()
def per_image(model, x, k):
    torch.manual_seed(0)
    elbos = torch.cat([elbo(model, b) for b in x.split(1000)])
    start = time.perf_counter()
    g = torch.Generator().manual_seed(0)
    iwae = torch.cat([iwae_bound(model, x[i:i + 10], k, generator=g) for i in range(0, args.n_test, 10)])
    return elbos, iwae, time.perf_counter() - start


def mean_se(v):
    return v.mean().item(), v.std().item() / math.sqrt(len(v))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=os.environ.get("VAE_LESSONS_DATA"))
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--k", type=int, default=5000)
    parser.add_argument("--n-test", type=int, default=1000)
    args = parser.parse_args()
    if not args.data_root:
        sys.exit("set $VAE_LESSONS_DATA or pass --data-root: the folder holding mnist/")
    x, _ = data.load_mnist("test", full=True, root=args.data_root)
    x = data.binarize_static(x.reshape(len(x), -1), seed=0)
    results = {}
    for name in MODELS:
        model, ckpt = train(name, args)
        elbos, iwae, seconds = per_image(model, x, args.k)
        results[name] = {"parameters": sum(p.numel() for p in model.parameters()),
                         "train_seconds": round(ckpt["seconds"], 1), "epochs": len(ckpt["history"]),
                         "elbo": mean_se(elbos), "iwae": mean_se(iwae), "iwae_seconds": round(seconds, 1),
                         "_elbos": elbos, "_iwae": iwae}
    d_elbo = results["conv"]["_elbos"] - results["mlp"]["_elbos"]
    d_iwae = results["conv"]["_iwae"] - results["mlp"]["_iwae"]
    summary = {"machine": machine(), "epochs": args.epochs, "k": args.k, "n_test": args.n_test,
               "binarization": "train: dynamic; test: static, seed 0",
               "models": {n: {k: v for k, v in r.items() if not k.startswith("_")} for n, r in results.items()},
               "conv_minus_mlp": {"elbo": mean_se(d_elbo), "iwae": mean_se(d_iwae)}}
    (OUT / "conv_vae.json").write_text(json.dumps(summary, indent=2))
    print(f"\n{machine()}; {args.epochs} epochs each; test set binarized once (seed 0); nats per image")
    print(f"| model | parameters | training | test ELBO (10,000) | IWAE-{args.k} (first {args.n_test}) |")
    print("|---|---:|---:|---:|---:|")
    for name, label in (("mlp", "MLP 784-200-200-50, tanh"), ("conv", "ConvVAE, L = 50")):
        r = results[name]
        print(f"| {label} | {r['parameters']:,} | {r['train_seconds'] / 60:.1f} min | {r['elbo'][0]:.2f} ± {r['elbo'][1]:.2f} "
              f"| {r['iwae'][0]:.2f} ± {r['iwae'][1]:.2f} |")
    print(f"conv minus MLP (paired): ELBO {d_elbo.mean():+.2f} ± {mean_se(d_elbo)[1]:.2f}, "
          f"IWAE-{args.k} {d_iwae.mean():+.2f} ± {mean_se(d_iwae)[1]:.2f}")
