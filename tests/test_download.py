"""The download path against a real HTTP server on 127.0.0.1: good, corrupt and truncated
files, a missing file, and a mirror that is down."""
import dataclasses
import hashlib
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from vae_lessons import data
from vae_lessons.download import DownloadError, fetch

BLOB = bytes(range(256)) * 400  # 100 KiB
SHA = hashlib.sha256(BLOB).hexdigest()


class Handler(BaseHTTPRequestHandler):
    """Serves /<mode>/<name>: good, corrupt (one byte flipped), truncated (promises the full
    length, sends half, hangs up); anything else is 404."""

    files = {}

    def do_GET(self):
        _, mode, name = self.path.split("/", 2)
        body = self.files.get(name)
        if body is None or mode not in ("good", "corrupt", "truncated"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if mode == "corrupt":
            body = body[:100] + bytes([body[100] ^ 1]) + body[101:]
        if mode == "truncated":
            body = body[: len(body) // 2]
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def down_mirror():
    """A port on 127.0.0.1 with nothing listening: connections are refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(autouse=True)
def serve_blob():
    Handler.files = {"blob.bin": BLOB}


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_good_mirror(server, tmp_path):
    path = fetch("blob.bin", SHA, tmp_path, [f"{server}/good/"], progress=False)
    assert path.read_bytes() == BLOB and leftovers(tmp_path) == ["blob.bin"]


@pytest.mark.parametrize("bad", ["corrupt", "truncated", "missing"])
def test_falls_through_bad_mirrors_to_a_good_one(server, down_mirror, tmp_path, bad):
    mirrors = [down_mirror, f"{server}/{bad}/", f"{server}/good/"]
    path = fetch("blob.bin", SHA, tmp_path, mirrors, progress=False)
    assert path.read_bytes() == BLOB and leftovers(tmp_path) == ["blob.bin"]


def test_every_mirror_failing_names_each_and_leaves_nothing(server, down_mirror, tmp_path):
    mirrors = [down_mirror, f"{server}/corrupt/", f"{server}/truncated/", f"{server}/missing/"]
    with pytest.raises(DownloadError) as err:
        fetch("blob.bin", SHA, tmp_path, mirrors, timeout=5, progress=False)
    msg = str(err.value)
    assert msg.count("checksum mismatch") == 2 and "Not Found" in msg and down_mirror in msg
    assert leftovers(tmp_path) == []


def test_failed_download_keeps_an_existing_file(server, tmp_path):
    (tmp_path / "blob.bin").write_bytes(b"old")
    with pytest.raises(DownloadError):
        fetch("blob.bin", SHA, tmp_path, [f"{server}/corrupt/"], progress=False)
    assert (tmp_path / "blob.bin").read_bytes() == b"old" and leftovers(tmp_path) == ["blob.bin"]


def test_load_full_downloads_missing_files(server, down_mirror, tmp_path, fake_spec):
    spec, files = fake_spec
    Handler.files = files
    spec = dataclasses.replace(spec, mirrors=(down_mirror, f"{server}/truncated/", f"{server}/good/"))
    x, y = data.load_full(spec, "test", root=tmp_path, download=True, progress=False)
    assert x.shape == (20, 28, 28) and y.shape == (20,)
    assert leftovers(tmp_path / "fake") == ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    # a second call finds the files and needs no server
    data.load_full(dataclasses.replace(spec, mirrors=()), "test", root=tmp_path)
