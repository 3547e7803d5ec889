"""load_network_pkl(URL) against a real HTTP server on 127.0.0.1 (http.server in a thread).

The file is downloaded once into $SG_EXPLORER_CACHE (a tmp folder here) with a progress bar, then
reused; an HTTP error or a server that closes early is a one-line CheckpointError that leaves no
partial file in the cache.
"""
from __future__ import annotations

import collections
import http.server
import io
import json
import os
import pathlib
import socket
import subprocess
import sys
import threading

import pytest
import torch

from networks import CheckpointError, load_network_pkl
from networks import download

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "nvidia-compat"
FIXTURE = (DATA / "sg2-32" / "network.pkl").read_bytes()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    routes: dict = {}
    hits: collections.Counter = collections.Counter()

    def log_message(self, *args):  # keep the test output clean
        pass

    def do_GET(self):
        self.hits[self.path] += 1
        kind, body = self.routes.get(self.path, ("404", b""))
        if kind == "404":
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if kind == "chunked-short":  # chunked transfer, connection dropped inside a chunk
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n" % len(body) + body[: len(body) // 2])
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body if kind == "ok" else body[: len(body) // 2])  # 'short': half, then close
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def server(tmp_path, monkeypatch):
    """(base URL, routes, hits) of a fresh server; the cache is a tmp folder and proxies are off."""
    monkeypatch.setenv("SG_EXPLORER_CACHE", str(tmp_path / "cache"))
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    handler = type("Handler", (_Handler,), {"routes": {}, "hits": collections.Counter()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler.routes, handler.hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def cache_files(tmp_path) -> list[str]:
    folder = tmp_path / "cache"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_url_is_downloaded_once_then_reused(server, tmp_path, monkeypatch):
    base, routes, hits = server
    routes["/nets/sg2-32/network.pkl"] = ("ok", FIXTURE)
    url = base + "/nets/sg2-32/network.pkl"
    bars = []

    class Recorder:
        def __init__(self, total, name):
            self.total, self.name, self.n = total, name, 0
            bars.append(self)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, n):
            self.n += n
    monkeypatch.setattr(download, "_progress", Recorder)

    out = load_network_pkl(url)
    ref = load_network_pkl(DATA / "sg2-32" / "network.pkl")
    assert out["G_ema"].arch == "stylegan2" and set(out) == set(ref)
    assert all(torch.equal(a, b) for a, b in zip(out["G_ema"].state_dict().values(), ref["G_ema"].state_dict().values()))
    assert hits[url[len(base):]] == 1
    # The progress bar knew the size and saw every byte.
    assert len(bars) == 1 and bars[0].total == len(FIXTURE) and bars[0].name == "network.pkl"
    assert bars[0].n == len(FIXTURE)
    files = cache_files(tmp_path)
    assert len(files) == 1 and files[0].endswith("_network.pkl")
    assert (tmp_path / "cache" / files[0]).read_bytes() == FIXTURE
    # Second load: from the cache; the server is not asked again.
    again = load_network_pkl(url)
    assert hits[url[len(base):]] == 1 and len(bars) == 1
    assert torch.equal(again["G_ema"].mapping.w_avg, ref["G_ema"].mapping.w_avg)


def test_progress_bar_is_drawn_on_a_terminal(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True
    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    with download._progress(4 << 20, "ffhq.pkl") as bar:
        bar.update(1 << 20)
        bar.refresh()
        assert "ffhq.pkl" in term.getvalue() and "25%" in term.getvalue()
        bar.update(3 << 20)


def test_same_file_name_at_two_urls_are_two_cache_entries(server, tmp_path):
    base, routes, hits = server
    tf = (DATA / "sg2-tf-32" / "network.pkl").read_bytes()
    routes["/a/network.pkl"], routes["/b/network.pkl"] = ("ok", FIXTURE), ("ok", tf)
    assert load_network_pkl(base + "/a/network.pkl")["format"] == "nvidia-pytorch"
    assert load_network_pkl(base + "/b/network.pkl")["format"] == "nvidia-tensorflow"
    assert len(cache_files(tmp_path)) == 2 and hits["/a/network.pkl"] == hits["/b/network.pkl"] == 1


def _one_line_error(url) -> str:
    with pytest.raises(CheckpointError) as e:
        load_network_pkl(url)
    text = str(e.value)
    assert "\n" not in text and url in text
    return text


def test_http_404_is_one_line_and_caches_nothing(server, tmp_path):
    base, routes, hits = server
    assert "HTTP 404" in _one_line_error(base + "/missing.pkl")
    assert cache_files(tmp_path) == []


@pytest.mark.parametrize("kind", ["short", "chunked-short"])
def test_server_closing_early_leaves_no_partial_file(server, tmp_path, kind):
    base, routes, hits = server
    routes["/cut.pkl"] = (kind, FIXTURE)
    text = _one_line_error(base + "/cut.pkl")
    assert "cut short" in text or "IncompleteRead" in text, text
    assert cache_files(tmp_path) == []
    # Nothing half-written is reused: once the server sends the whole file, it downloads and loads.
    routes["/cut.pkl"] = ("ok", FIXTURE)
    assert load_network_pkl(base + "/cut.pkl")["G_ema"].arch == "stylegan2"
    assert hits["/cut.pkl"] == 2 and len(cache_files(tmp_path)) == 1


def test_unreachable_host_is_one_line(server, tmp_path):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert "download failed" in _one_line_error(f"http://127.0.0.1:{port}/x.pkl")
    assert cache_files(tmp_path) == []


def test_downloaded_file_that_is_not_a_checkpoint_says_where_it_is(server, tmp_path):
    base, routes, hits = server
    routes["/page.pkl"] = ("ok", b"<html>login required</html>\n")
    text = _one_line_error(base + "/page.pkl")
    assert "not a pickle" in text and str(tmp_path / "cache") in text


def test_cli_info_on_a_url(server, tmp_path):
    base, routes, hits = server
    routes["/sg3r/network.pkl"] = ("ok", (DATA / "sg3r-32" / "network.pkl").read_bytes())
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    r = subprocess.run([sys.executable, "-m", "explorer", "info", base + "/sg3r/network.pkl", "--json"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["architecture"] == "stylegan3-r" and hits["/sg3r/network.pkl"] == 1
    r = subprocess.run([sys.executable, "-m", "explorer", "info", base + "/gone.pkl"], capture_output=True,
                       text=True, timeout=300, env=env)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "HTTP 404" in r.stderr
