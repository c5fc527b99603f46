"""The rule that makes the bundled MNIST and Fashion-MNIST subsets from the original files.

Rule: from each original split, keep the first `per_class` images of each class 0-9, in
file order, and keep them in file order. Train: 1,000 per class (10,000 images);
test: 200 per class (2,000 images). Nothing is resampled, shuffled or altered; pixels are
the original bytes. scripts/make_subsets.py runs this for both datasets, and the
decompressed IDX files it writes are identical byte for byte on every machine (the .gz
files too, given the same zlib).
"""
from pathlib import Path

import numpy as np

from .data import FILES, find_file
from .download import sha256_of
from .idx import read_idx, write_idx_gz

PER_CLASS = {"train": 1000, "test": 200}


def first_per_class(labels, per_class):
    """Indices (ascending) of the first per_class examples of each label value present."""
    labels = np.asarray(labels)
    keep = []
    for c in np.unique(labels):
        where = np.flatnonzero(labels == c)
        if len(where) < per_class:
            raise ValueError(f"labels: only {len(where)} examples of class {c}, need {per_class}")
        keep.append(where[:per_class])
    return np.sort(np.concatenate(keep))


def build_subset(source, out, per_class=PER_CLASS):
    """Write the subset of the MNIST-format files in `source` (gz or raw) to `out`, with SHA256SUMS."""
    source, out = Path(source), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split, (image_stem, label_stem) in FILES.items():
        images = read_idx(_required(source, image_stem))
        labels = read_idx(_required(source, label_stem))
        keep = first_per_class(labels, per_class[split])
        for stem, array in ((image_stem, images[keep]), (label_stem, labels[keep])):
            write_idx_gz(out / (stem + ".gz"), array)
            written.append(stem + ".gz")
    sums = "".join(f"{sha256_of(out / name)}  {name}\n" for name in sorted(written))
    (out / "SHA256SUMS").write_text(sums)
    return written


def _required(folder, stem):
    path = find_file(folder, stem)
    if path is None:
        raise FileNotFoundError(f"{folder}: no {stem}.gz or {stem}")
    return path
