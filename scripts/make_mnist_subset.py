"""Rebuild the bundled MNIST subset from the original files.

    python scripts/make_mnist_subset.py [SOURCE] [--out vae_lessons/mnist_subset]

SOURCE is a folder with the four original MNIST files (default: $VAE_LESSONS_DATA/mnist).
The rule is in vae_lessons/subset.py. Run it and `git diff` shows nothing.
"""
import argparse
import os
from pathlib import Path

from vae_lessons.subset import build_subset

here = Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("source", nargs="?", default=Path(os.environ.get("VAE_LESSONS_DATA", "")) / "mnist")
parser.add_argument("--out", default=here / "vae_lessons" / "mnist_subset")
args = parser.parse_args()
for name in build_subset(args.source, args.out):
    print(f"wrote {Path(args.out) / name}")
