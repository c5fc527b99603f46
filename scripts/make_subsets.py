"""Rebuild the bundled MNIST and Fashion-MNIST subsets from the original files.

    python scripts/make_subsets.py [SOURCE] [--only mnist|fashion-mnist] [--out vae_lessons]

SOURCE holds the four original files of each dataset in mnist/ and fashion-mnist/
(default: $VAE_LESSONS_DATA). Each subset is written to OUT/mnist_subset/ and
OUT/fashion_mnist_subset/ (default: the package's folder). The rule is in
vae_lessons/subset.py. Run it and `git diff` shows nothing.
"""
import argparse
import os
from pathlib import Path

from vae_lessons.data import FASHION_MNIST, MNIST
from vae_lessons.subset import build_subset

SPECS = {spec.folder: spec for spec in (MNIST, FASHION_MNIST)}
here = Path(__file__).resolve().parent.parent
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("source", nargs="?", default=os.environ.get("VAE_LESSONS_DATA"),
                    help="folder with mnist/ and fashion-mnist/ (default: $VAE_LESSONS_DATA)")
parser.add_argument("--only", choices=sorted(SPECS), help="rebuild this dataset's subset only (default: both)")
parser.add_argument("--out", type=Path, default=here / "vae_lessons",
                    help="folder to write the subset folders into (default: the package)")
args = parser.parse_args()
if not args.source:
    parser.error("give SOURCE or set $VAE_LESSONS_DATA")  # else 'mnist/' would be read from the cwd
for spec in [SPECS[args.only]] if args.only else SPECS.values():
    out = args.out / spec.subset
    for name in build_subset(Path(args.source) / spec.folder, out):
        print(f"wrote {out / name}")
