"""Reading and writing the IDX format that MNIST and Fashion-MNIST ship in.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the data in C order.
LeCun's page (yann.lecun.com/exdb/mnist) describes it. Only unsigned bytes
(type 0x08) occur in these datasets, so only those are supported.
"""
import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

UBYTE = 0x08


class DataFileError(ValueError):
    """A data file is missing, truncated, corrupt or not what it claims to be."""


def _read_bytes(path):
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"{path}: no such file")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip magic: decompress, however the file is named
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise DataFileError(f"{path}: corrupt or truncated gzip data ({err})") from None
    return raw


def parse_idx(raw, name="<bytes>", expected_shape=None):
    """Parse IDX bytes into a uint8 numpy array, checking magic, dimensions and length.

    expected_shape: a tuple whose entries are ints or None (any size); checked if given.
    """
    if len(raw) < 4:
        raise DataFileError(f"{name}: {len(raw)} bytes is too short to be an IDX file")
    zero, dtype_code, ndim = raw[:2], raw[2], raw[3]
    if zero != b"\x00\x00" or dtype_code != UBYTE or not 1 <= ndim <= 4:
        raise DataFileError(
            f"{name}: wrong magic number {raw[:4].hex()} (expected 0000080N: unsigned bytes, N dims)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"{name}: truncated header ({len(raw)} bytes, need {header})")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    if expected_shape is not None:
        ok = len(shape) == len(expected_shape) and all(
            e is None or e == s for s, e in zip(shape, expected_shape)
        )
        if not ok:
            want = tuple("any" if e is None else e for e in expected_shape)
            raise DataFileError(f"{name}: wrong size: header says shape {shape}, expected {want}")
    n_data = int(np.prod(shape))
    if len(raw) - header != n_data:
        kind = "truncated" if len(raw) - header < n_data else "too long"
        raise DataFileError(
            f"{name}: {kind}: {len(raw) - header} data bytes, the header's shape {shape} needs {n_data}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx(path, expected_shape=None):
    """Read an IDX file (gzip or raw) into a uint8 numpy array of the shape in its header."""
    return parse_idx(_read_bytes(path), name=str(path), expected_shape=expected_shape)


def idx_bytes(array):
    """The IDX encoding (uncompressed) of a uint8 array: the inverse of parse_idx."""
    array = np.ascontiguousarray(array)
    if array.dtype != np.uint8:
        raise TypeError(f"array: IDX writing supports uint8 only, got {array.dtype}")
    header = bytes([0, 0, UBYTE, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write_idx_gz(path, array):
    """Write a uint8 array as gzipped IDX, reproducibly: no timestamp or file name in the header."""
    data = gzip.compress(idx_bytes(array), compresslevel=9, mtime=0)
    Path(path).write_bytes(data)
