"""Full-MNIST benchmark of sample quality: the MLP VAE, the ConvVAE and the VAE-GAN side by side,
with real-vs-real as the floor and uniform noise as the ceiling (lessons 14 and 15 on the bundled
subset; this is the same comparison at full scale).

    python benchmarks/vaegan_samples.py [--vaegan-epochs 10] [--n 10000]

The MLP VAE (784-200-200-50, tanh) and the ConvVAE (--dims 784-50) are the runs of
benchmarks/conv_vae.py (runs/benchmarks/quality_30ep,
conv_30ep: 30 epochs on dynamically binarized images); run those first. The VAE-GAN (the
ConvVAE's architecture with L = 50 and a discriminator, vaegan.train_vaegan: lr 1e-3, gamma 0.1,
batch 64, seed 0) is trained here on the 60,000 grey training images, or loaded from
runs/benchmarks/vaegan_<E>ep.pt. Every model decodes --n prior draws (Bernoulli means); each set
is scored against the 10,000 grey test images in the features of the course classifier (trained
on the 60,000 training images, 5 epochs): Fréchet distance (bootstrap SE), precision and recall
(binomial SE), sharpness (mean Laplacian variance, SE over images) and the label entropy of the
classifier's predictions (bootstrap SE; ln 10 = 2.303 is an even spread over the digits).
"""
import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import torch

from common import machine
from vae_lessons import checkpoint, data
from vae_lessons.classifier import features, train_classifier
from vae_lessons.metrics import bootstrap_se, label_entropy, laplacian_variance, sample_quality
from vae_lessons.vaegan import make_vaegan, train_vaegan

OUT = Path("runs/benchmarks")


def load_run(folder):
    ckpt = checkpoint.load(OUT / folder / "checkpoint.pt")
    return checkpoint.trained_model(ckpt), ckpt["seconds"]


def vaegan(x_train, epochs):
    path = OUT / f"vaegan_{epochs}ep.pt"
    model = make_vaegan(50, "conv", seed=0, gamma=0.1)
    if path.exists():
        stored = torch.load(path, weights_only=True)
        model.load_state_dict(stored["model"])
        return model.eval(), stored["seconds"]
    history = train_vaegan(model, x_train, epochs=epochs, lr=1e-3, batch_size=64, seed=0)
    torch.save({"model": model.state_dict(), "seconds": history.seconds}, path)
    return model.eval(), history.seconds


def score(name, images, classifier, real_feats, seconds):
    q = sample_quality(real_feats, features(classifier, images), generator=torch.Generator().manual_seed(0))
    sharp = laplacian_variance(images)
    with torch.no_grad():
        probs = torch.softmax(classifier(images.reshape(len(images), -1)), 1)
    q.update({"sharpness": sharp.mean().item(), "sharpness_se": sharp.std().item() / math.sqrt(len(sharp)),
              "label_entropy": label_entropy(probs),
              "label_entropy_se": bootstrap_se(label_entropy, probs, generator=torch.Generator().manual_seed(0)),
              "train_seconds": seconds})
    print(f"{name}: " + ", ".join(f"{k} {v:.4g}" for k, v in q.items() if v is not None), flush=True)
    return q


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=os.environ.get("VAE_LESSONS_DATA"))
    parser.add_argument("--vaegan-epochs", type=int, default=10)
    parser.add_argument("--n", type=int, default=10000, help="samples per model")
    args = parser.parse_args()
    if not args.data_root:
        sys.exit("set $VAE_LESSONS_DATA or pass --data-root: the folder holding mnist/")
    x_train, y_train = data.load_mnist("train", full=True, root=args.data_root)
    x_test, _ = data.load_mnist("test", full=True, root=args.data_root)
    x_train, x_test = x_train.reshape(len(x_train), -1), x_test.reshape(len(x_test), -1)
    gan, gan_seconds = vaegan(x_train, args.vaegan_epochs)
    classifier = train_classifier(x_train, y_train, epochs=5)
    real_feats = features(classifier, x_test)
    z = torch.randn(args.n, 50, generator=torch.Generator().manual_seed(1))
    results = {"real (training images)": score("real", x_train[:args.n], classifier, real_feats, None)}
    for name, (model, seconds) in {"MLP VAE 784-200-200-50, 30 epochs": load_run("quality_30ep"),
                                   "ConvVAE L = 50, 30 epochs": load_run("conv_30ep"),
                                   f"VAE-GAN L = 50, {args.vaegan_epochs} epochs": (gan.vae, gan_seconds)}.items():
        with torch.no_grad():
            results[name] = score(name, torch.sigmoid(model.decode(z)), classifier, real_feats, seconds)
    noise = torch.rand(args.n, 784, generator=torch.Generator().manual_seed(2))
    results["noise (uniform pixels)"] = score("noise", noise, classifier, real_feats, None)
    (OUT / "vaegan_samples.json").write_text(json.dumps({"machine": machine(), "n": args.n, "results": results}, indent=2))
    print(f"\n{machine()}; {args.n} samples per row, scored against the 10,000 grey test images")
    print("| samples | Fréchet distance | precision | recall | sharpness | label entropy (nats) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, q in results.items():
        print(f"| {name} | {q['fd']:.2f} ± {q['fd_se']:.2f} | {q['precision']:.3f} ± {q['precision_se']:.3f} | "
              f"{q['recall']:.3f} ± {q['recall_se']:.3f} | {q['sharpness']:.4f} ± {q['sharpness_se']:.4f} | "
              f"{q['label_entropy']:.3f} ± {q['label_entropy_se']:.3f} |")
