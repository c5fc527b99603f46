import gzip

import numpy as np
import pytest

from vae_lessons.idx import DataFileError, idx_bytes, parse_idx, read_idx, write_idx_gz


def images(n=3):
    return np.arange(n * 28 * 28, dtype=np.int64).reshape(n, 28, 28).astype(np.uint8)


def test_round_trip_gz_and_raw(tmp_path):
    a = images()
    write_idx_gz(tmp_path / "a.gz", a)
    (tmp_path / "a").write_bytes(idx_bytes(a))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a", expected_shape=(None, 28, 28)), a)


def test_gzip_output_is_reproducible(tmp_path):
    write_idx_gz(tmp_path / "1.gz", images())
    write_idx_gz(tmp_path / "2.gz", images())
    assert (tmp_path / "1.gz").read_bytes() == (tmp_path / "2.gz").read_bytes()


def test_header_layout_matches_the_mnist_spec():
    raw = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    assert raw[:4] == bytes([0, 0, 8, 3])
    assert raw[4:16] == (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2


@pytest.mark.parametrize("mutate, message", [
    (lambda r: b"\x00\x00\x0d\x03" + r[4:], "wrong magic"),       # float type code
    (lambda r: b"PK\x03\x04" + r[4:], "wrong magic"),             # a zip file
    (lambda r: r[:-10], "truncated"),
    (lambda r: r + b"\x00", "too long"),
    (lambda r: r[:9], "truncated header"),
    (lambda r: r[:2], "too short"),
])
def test_bad_bytes_name_the_file_and_the_problem(mutate, message):
    with pytest.raises(DataFileError, match=f"train.idx: .*{message}"):
        parse_idx(mutate(idx_bytes(images())), name="train.idx")


def test_wrong_dimensions_are_reported():
    with pytest.raises(DataFileError, match=r"wrong size.*\(3, 28, 28\).*\(60000, 28, 28\)"):
        parse_idx(idx_bytes(images()), expected_shape=(60000, 28, 28))
    with pytest.raises(DataFileError, match="wrong size"):
        parse_idx(idx_bytes(np.zeros(5, np.uint8)), expected_shape=(None, 28, 28))


def test_corrupt_gzip_and_missing_file(tmp_path):
    good = gzip.compress(idx_bytes(images()))
    (tmp_path / "cut.gz").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataFileError, match="cut.gz: corrupt or truncated gzip"):
        read_idx(tmp_path / "cut.gz")
    with pytest.raises(DataFileError, match="no such file"):
        read_idx(tmp_path / "absent.gz")


def test_only_uint8_is_written():
    with pytest.raises(TypeError, match="uint8"):
        idx_bytes(np.zeros(3, np.float32))
