"""Fetching a file from a list of mirrors, checked by SHA-256 and written atomically.

The rule: a file appears at its final path only once its checksum is right. Bytes go to a
temporary file in the same folder, which is renamed over the target (os.replace is atomic
on one file system) after the hash matches, and deleted on any failure.
"""
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from http.client import HTTPException
from pathlib import Path

from tqdm.auto import tqdm

CHUNK = 1 << 16


class DownloadError(RuntimeError):
    """No mirror gave a file with the expected checksum."""


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch_to(url, tmp, timeout, progress, label):
    """Stream url into the open file tmp; return the SHA-256 of what was written."""
    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=label, disable=not progress,
                  leave=False) as bar:
            for block in iter(lambda: response.read(CHUNK), b""):
                tmp.write(block)
                digest.update(block)
                bar.update(len(block))
    return digest.hexdigest()


def fetch(filename, sha256, folder, mirrors, *, timeout=30.0, progress=True):
    """Download `filename` into `folder` from the first mirror that serves it intact.

    mirrors: base URLs, tried in order; the file's URL is base + filename.
    Returns the final Path. Raises DownloadError naming every mirror's failure.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    failures = []
    for base in mirrors:
        url = base + filename
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as tmp:
                got = _fetch_to(url, tmp, timeout, progress, filename)
            if got != sha256:
                failures.append(f"{url}: checksum mismatch (got sha256 {got[:12]}…, want {sha256[:12]}…)")
                continue
            os.replace(tmp_name, target)
            return target
        except (urllib.error.URLError, HTTPException, OSError, ValueError) as err:
            failures.append(f"{url}: {getattr(err, 'reason', None) or err}")
        finally:
            if os.path.exists(tmp_name):
                os.remove(tmp_name)
    raise DownloadError(
        f"could not download {filename}; every mirror failed:\n  " + "\n  ".join(failures)
    )
