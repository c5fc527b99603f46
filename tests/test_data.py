import dataclasses
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from vae_lessons import data
from vae_lessons.data import (FASHION_MNIST, MNIST, binarize_dynamic, binarize_static, load_fashion_mnist,
                              load_full, load_mnist)
from vae_lessons.download import sha256_of
from vae_lessons.idx import DataFileError, read_idx
from vae_lessons.subset import build_subset, first_per_class


BUNDLED = [(load_mnist, MNIST), (load_fashion_mnist, FASHION_MNIST)]  # each loader and its spec
bundled = pytest.mark.parametrize("load, spec", BUNDLED, ids=[spec.folder for _, spec in BUNDLED])


@bundled
@pytest.mark.parametrize("split, n", [("train", 10_000), ("test", 2_000)])
def test_bundled_subset_loads_offline(split, n, load, spec):
    x, y = load(split)
    assert x.shape == (n, 28, 28) and x.dtype == torch.float32
    assert y.shape == (n,) and y.dtype == torch.int64
    assert x.min() == 0 and x.max() == 1
    assert torch.equal(torch.bincount(y), torch.full((10,), n // 10))


@bundled
def test_bundled_images_are_the_original_bytes_over_255(load, spec):
    x, _ = load("test")
    assert torch.equal(torch.round(x * 255) / 255, x)


@bundled
def test_bundled_checksums_list_exactly_the_files(load, spec):
    folder = data.subset_folder(spec)
    sums = {name: digest for digest, name in map(str.split, (folder / "SHA256SUMS").read_text().splitlines())}
    assert sorted(sums) == sorted(p.name for p in folder.glob("*.gz")) and len(sums) == 4
    assert all(sha256_of(folder / name) == digest for name, digest in sums.items())


def test_the_two_subsets_are_different_data():
    assert data.subset_folder() == data.subset_folder(MNIST)  # the default, as before
    assert not torch.equal(load_mnist("test")[0], load_fashion_mnist("test")[0])
    assert len(data.FASHION_CLASSES) == 10 and data.FASHION_CLASSES[9] == "Ankle boot"
    with pytest.raises(ValueError, match="no subset of Fake is bundled"):
        data.subset_folder(data.DatasetSpec("Fake", "fake", {}, (), {}))


def test_unknown_split_is_named():
    for call in (lambda: load_mnist("valid"), lambda: load_mnist("Train", full=True),
                 lambda: load_fashion_mnist("dev")):
        with pytest.raises(ValueError, match="split must be 'train' or 'test', got"):
            call()


@bundled
def test_corrupt_bundled_file_is_caught(tmp_path, monkeypatch, load, spec):
    copy = tmp_path / spec.subset
    shutil.copytree(data.subset_folder(spec), copy)
    raw = bytearray((copy / "t10k-labels-idx1-ubyte.gz").read_bytes())
    raw[-12] ^= 0xFF
    (copy / "t10k-labels-idx1-ubyte.gz").write_bytes(bytes(raw))
    monkeypatch.setattr(data, "subset_folder", lambda s: copy if s is spec else None)
    with pytest.raises(DataFileError, match="t10k-labels-idx1-ubyte.gz: checksum mismatch"):
        load("test")
    load("train")  # the other split's files are untouched


def write_files(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, blob in files.items():
        (folder / name).write_bytes(blob)


def test_full_load_from_root_gz_or_raw(tmp_path, fake_spec):
    spec, files = fake_spec
    write_files(tmp_path / "fake", files)
    x, y = load_full(spec, "train", root=tmp_path)
    assert x.shape == (40, 28, 28) and y.tolist()[:11] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    # decompressed files, and files directly in root, are found and checked too
    flat = tmp_path / "flat"
    flat.mkdir()
    for name, blob in files.items():
        (flat / name[:-3]).write_bytes(gzip.decompress(blob))
    x2, y2 = load_full(spec, "train", root=flat)
    assert torch.equal(x, x2) and torch.equal(y, y2)


def test_full_load_reads_env_var(tmp_path, fake_spec, monkeypatch):
    spec, files = fake_spec
    write_files(tmp_path / "fake", files)
    monkeypatch.setenv("VAE_LESSONS_DATA", str(tmp_path))
    assert load_full(spec, "test")[0].shape == (20, 28, 28)


def test_missing_full_files_say_what_to_put_where(tmp_path, fake_spec):
    spec, _ = fake_spec
    with pytest.raises(FileNotFoundError) as err:
        load_full(spec, "test", root=tmp_path)
    msg = str(err.value)
    assert "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz" in msg
    assert str(tmp_path / "fake") in msg and "download=True" in msg


def test_corrupt_full_file_fails_its_checksum(tmp_path, fake_spec):
    spec, files = fake_spec
    write_files(tmp_path / "fake", files)
    (tmp_path / "fake" / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b not really")
    with pytest.raises(DataFileError, match="train-images-idx3-ubyte.gz: checksum mismatch.*delete it"):
        load_full(spec, "train", root=tmp_path)


def test_wrong_image_count_is_caught(tmp_path, fake_spec):
    spec, files = fake_spec
    write_files(tmp_path / "fake", files)
    spec = dataclasses.replace(spec, sizes={"train": 60_000, "test": 10_000})
    with pytest.raises(DataFileError, match="wrong size"):
        load_full(spec, "train", root=tmp_path)


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("VAE_LESSONS_DATA", str(tmp_path))
    assert data.default_root() == tmp_path
    monkeypatch.delenv("VAE_LESSONS_DATA")
    assert data.default_root().name == "vae_lessons"


def test_first_per_class_keeps_file_order():
    labels = np.array([3, 1, 3, 0, 1, 1, 0, 3, 0])
    assert first_per_class(labels, 2).tolist() == [0, 1, 2, 3, 4, 6]
    with pytest.raises(ValueError, match="only 3 examples of class 0, need 4"):
        first_per_class(labels, 4)


def test_build_subset_is_reproducible(tmp_path):
    from conftest import fake_mnist_files
    files, _ = fake_mnist_files(n_train=50, n_test=30)
    write_files(tmp_path / "src", files)
    per_class = {"train": 3, "test": 2}
    build_subset(tmp_path / "src", tmp_path / "a", per_class)
    build_subset(tmp_path / "src", tmp_path / "b", per_class)
    for name in ("SHA256SUMS", "train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert read_idx(tmp_path / "a" / "train-labels-idx1-ubyte.gz").tolist() == list(range(10)) * 3
    original = read_idx(tmp_path / "src" / "t10k-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(read_idx(tmp_path / "a" / "t10k-images-idx3-ubyte.gz"), original[:20])


def source_of(spec, full_data_root):
    """<root>/mnist or <root>/fashion-mnist; the test skips when that folder is missing."""
    folder = Path(full_data_root) / spec.folder
    if not folder.is_dir():
        pytest.skip(f"full {spec.name} files not available in {folder}")
    return folder


@bundled
def test_bundled_subset_rebuilds_byte_for_byte(tmp_path, full_data_root, load, spec):
    written = build_subset(source_of(spec, full_data_root), tmp_path)
    assert sorted(written) == sorted(p.name for p in data.subset_folder(spec).glob("*.gz"))
    for path in data.subset_folder(spec).glob("*.gz"):
        assert gzip.decompress((tmp_path / path.name).read_bytes()) == gzip.decompress(path.read_bytes()), path.name


@bundled
def test_full_data_loads_and_holds_the_subset(full_data_root, load, spec):
    x, y = load("test", full=True, root=source_of(spec, full_data_root).parent)
    assert x.shape == (10_000, 28, 28) and len(y.bincount()) == 10 and y.bincount().sum() == 10_000
    xs, ys = load("test")
    keep = torch.from_numpy(first_per_class(y.numpy(), 200))
    assert torch.equal(x[keep], xs) and torch.equal(y[keep], ys)


def test_full_mnist_and_fashion_mnist_differ(full_data_root):
    x, _ = load_mnist("test", full=True, root=full_data_root)
    xf, _ = load_fashion_mnist("test", full=True, root=source_of(FASHION_MNIST, full_data_root).parent)
    assert xf.shape == (10_000, 28, 28) and not torch.equal(xf, x)


def test_static_binarization_is_fixed_per_seed():
    x, _ = load_mnist("test")
    b0, b0_again, b1 = binarize_static(x, seed=0), binarize_static(x, seed=0), binarize_static(x, seed=1)
    assert torch.equal(b0, b0_again) and not torch.equal(b0, b1)
    assert set(b0.unique().tolist()) == {0.0, 1.0}
    # E[b] = x: the mean ink agrees within 5 standard errors of a Bernoulli sum
    se = torch.sqrt((x * (1 - x)).sum()) / x.numel()
    assert abs(b0.mean() - x.mean()) < 5 * se


def test_dynamic_binarization_draws_afresh():
    x, _ = load_mnist("test")
    g = torch.Generator().manual_seed(0)
    a, b = binarize_dynamic(x[:100], g), binarize_dynamic(x[:100], g)
    assert not torch.equal(a, b)
    # pixels that are exactly 0 or 1 never change
    fixed = (x[:100] == 0) | (x[:100] == 1)
    assert torch.equal(a[fixed], x[:100][fixed])


def test_binarize_rejects_unscaled_pixels():
    with pytest.raises(ValueError, match=r"x: values must lie in \[0, 1\].*divide by 255"):
        binarize_static(torch.full((2, 28, 28), 255.0))
    with pytest.raises(TypeError, match="uint8 pixels"):
        binarize_dynamic(torch.zeros(2, 28, 28, dtype=torch.uint8))
