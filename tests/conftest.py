import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def full_data_root():
    """The folder with the full original files (…/mnist, …/fashion-mnist), from
    $VAE_LESSONS_DATA; tests that need it skip on a clone without it."""
    root = os.environ.get("VAE_LESSONS_DATA")
    if not root or not os.path.isdir(os.path.join(root, "mnist")):
        pytest.skip("full MNIST files not available (set VAE_LESSONS_DATA)")
    return root


def fake_mnist_files(n_train=40, n_test=20, seed=0):
    """Small IDX files with MNIST's names: {filename.gz: gz bytes}, labels cycling 0-9."""
    import gzip
    import hashlib

    import numpy as np

    from vae_lessons.idx import idx_bytes

    rng = np.random.default_rng(seed)
    files = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        files[f"{split}-images-idx3-ubyte.gz"] = gzip.compress(
            idx_bytes(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)), mtime=0)
        files[f"{split}-labels-idx1-ubyte.gz"] = gzip.compress(
            idx_bytes((np.arange(n) % 10).astype(np.uint8)), mtime=0)
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    sums.update({name[:-3]: hashlib.sha256(gzip.decompress(data)).hexdigest()
                 for name, data in files.items()})
    return files, sums


@pytest.fixture
def fake_spec():
    """A DatasetSpec for small fake files (no mirrors: tests add their own), and the files."""
    from vae_lessons.data import DatasetSpec

    files, sums = fake_mnist_files()
    spec = DatasetSpec(name="FakeMNIST", folder="fake", sha256=sums, mirrors=(),
                       sizes={"train": 40, "test": 20})
    return spec, files
