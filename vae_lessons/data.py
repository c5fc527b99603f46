"""The course's data: bundled MNIST and Fashion-MNIST subsets (offline), and the full datasets.

    x, y = load_mnist("train")             # bundled subset: 10,000 images, 1,000 per digit
    x, y = load_mnist("test", full=True)   # the full 10,000 test images, from a local folder
    x, y = load_fashion_mnist("train")     # bundled subset: 10,000 images, 1,000 per class

Images come back as float32 tensors in [0, 1] of shape (N, 28, 28), labels as int64 (N,).
The pixels are grey levels (value / 255), not binarized: binarize_static and
binarize_dynamic make binary data for a Bernoulli likelihood (lesson 00 says which to use).
"""
import os
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from .download import fetch, sha256_of
from .idx import DataFileError, read_idx
from .validation import check_pixels

SPLITS = ("train", "test")
# split -> (images file, labels file), the names the original distributions use
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
SIZES = {"train": 60_000, "test": 10_000}
# Fashion-MNIST's labels 0-9, as its authors name them (Xiao et al. 2017)
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


@dataclass(frozen=True)
class DatasetSpec:
    """Where a full dataset lives and how to recognise its files.

    sha256: file name -> SHA-256 of the file as distributed (the .gz), and of its
    decompressed content (the name without .gz), so either form is checked.
    subset: the folder of its bundled subset inside the package (None: none is bundled).
    """
    name: str
    folder: str
    sha256: dict
    mirrors: tuple
    sizes: dict
    subset: str | None = None


MNIST = DatasetSpec(
    name="MNIST",
    folder="mnist",
    sha256={
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    sizes=SIZES,
    subset="mnist_subset",
)

FASHION_MNIST = DatasetSpec(
    name="Fashion-MNIST",
    folder="fashion-mnist",
    sha256={
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    sizes=SIZES,
    subset="fashion_mnist_subset",
)


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")


def default_root():
    """$VAE_LESSONS_DATA if set, else the user's cache folder (…/vae_lessons)."""
    env = os.environ.get("VAE_LESSONS_DATA")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vae_lessons"


def _to_tensors(images, labels):
    x = torch.from_numpy(images.astype(np.float32) / 255.0)  # (N, 28, 28) in [0, 1]
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def _read_pair(image_path, label_path, n=None):
    images = read_idx(image_path, expected_shape=(n, 28, 28))
    labels = read_idx(label_path, expected_shape=(images.shape[0],))
    if labels.max(initial=0) > 9:
        raise DataFileError(f"{label_path}: labels must be classes 0-9, found {labels.max()}")
    return _to_tensors(images, labels)


def find_file(folder, stem):
    """The file for stem in folder, gzipped or not; None if neither exists."""
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _verified(spec, path):
    got = sha256_of(path)
    if got != spec.sha256[path.name]:
        raise DataFileError(
            f"{path}: checksum mismatch (sha256 {got[:12]}…, expected {spec.sha256[path.name][:12]}…); "
            f"the file is corrupt or not the original {spec.name} file: delete it and "
            f"download again (download=True) or copy a good one"
        )
    return path


def load_full(spec, split="train", *, root=None, download=False, progress=True):
    """Load the full split of a dataset described by spec (see load_mnist)."""
    _check_split(split)
    root = Path(root).expanduser() if root is not None else default_root()
    folder = root / spec.folder
    stems = FILES[split]
    paths = [find_file(folder, s) or find_file(root, s) for s in stems]
    if None in paths and download:
        paths = [p or fetch(s + ".gz", spec.sha256[s + ".gz"], folder, spec.mirrors, progress=progress)
                 for p, s in zip(paths, stems)]
    if None in paths:
        missing = ", ".join(s + ".gz" for s, p in zip(stems, paths) if p is None)
        raise FileNotFoundError(
            f"full {spec.name} ({split}) not found: put {missing} in {folder}/ "
            f"(set root= or $VAE_LESSONS_DATA to use another folder), "
            f"or pass download=True when a network is available"
        )
    return _read_pair(*(_verified(spec, p) for p in paths), n=spec.sizes[split])


def subset_folder(spec=MNIST):
    """The folder of spec's bundled subset inside the installed package (MNIST's by default)."""
    if spec.subset is None:
        raise ValueError(f"no subset of {spec.name} is bundled: load it with full=True")
    return Path(str(resources.files("vae_lessons") / spec.subset))


def _bundled_sums(folder):
    lines = (folder / "SHA256SUMS").read_text().split("\n")
    return {name: digest for digest, name in (line.split() for line in lines if line.strip())}


def load_bundled(spec, split="train"):
    """The subset of spec shipped in the package (see its NOTICE.md), checksum-verified."""
    _check_split(split)
    folder = subset_folder(spec)
    sums = _bundled_sums(folder)
    paths = []
    for stem in FILES[split]:
        path = folder / (stem + ".gz")
        if not path.is_file():
            raise DataFileError(f"{path}: the bundled subset file is missing; reinstall the package")
        if sha256_of(path) != sums[path.name]:
            raise DataFileError(f"{path}: checksum mismatch: the bundled subset file is corrupt; "
                                "restore it (git checkout) or reinstall the package")
        paths.append(path)
    return _read_pair(*paths)


def load_mnist(split="train", *, full=False, root=None, download=False):
    """MNIST images (N, 28, 28) float32 in [0, 1] and labels (N,) int64.

    full=False: the bundled subset (train: first 1,000 of each digit = 10,000 images;
    test: first 200 of each digit = 2,000), no files or network needed.
    full=True: the original 60,000 / 10,000 from root, else $VAE_LESSONS_DATA, else the
    user cache folder (files in <root>/mnist/); download=True fetches missing files.
    """
    if full:
        return load_full(MNIST, split, root=root, download=download)
    return load_bundled(MNIST, split)


def load_fashion_mnist(split="train", *, full=False, root=None, download=False):
    """Fashion-MNIST images (N, 28, 28) float32 in [0, 1] and labels (N,) int64 (FASHION_CLASSES).

    full=False: the bundled subset (train: first 1,000 of each class = 10,000 images;
    test: first 200 of each class = 2,000), no files or network needed.
    full=True: the original 60,000 / 10,000 from root, else $VAE_LESSONS_DATA, else the
    user cache folder (files in <root>/fashion-mnist/); download=True fetches missing files.
    Fashion-MNIST is (c) 2017 Zalando SE, MIT licence (fashion_mnist_subset/NOTICE.md).
    """
    if full:
        return load_full(FASHION_MNIST, split, root=root, download=download)
    return load_bundled(FASHION_MNIST, split)


def _bernoulli(x, generator):
    # b = [u < x] with u ~ U[0, 1) is Bernoulli(x) exactly (pixels at 0 and 1 never change),
    # and on a CPU it is over twice as fast as torch.bernoulli: it runs on every batch.
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    return (u < x).to(x.dtype)


def binarize_static(x, seed=0):
    """One fixed Bernoulli draw per pixel: b ~ Bernoulli(x), the same every call for a seed.

    The binarized-MNIST convention of Larochelle & Murray (2011): sample once, keep it.
    """
    check_pixels(x, "x")
    return _bernoulli(x, torch.Generator(device=x.device).manual_seed(seed))


def binarize_dynamic(x, generator=None):
    """A fresh Bernoulli draw per call (call it on every batch): Burda et al. (2015)'s
    dynamic binarization, which acts as data augmentation and reduces over-fitting."""
    check_pixels(x, "x")
    return _bernoulli(x, generator)
