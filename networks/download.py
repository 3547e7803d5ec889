"""http(s) URL -> a file in the local download cache (fetched once, then reused).

The cache folder is `$SG_EXPLORER_CACHE` or `~/.cache/sg-explorer/downloads`; each URL gets
`<sha1 of the URL>_<file name>`, so two URLs with the same file name never collide. A download
goes to a temporary name and is renamed only once complete: an interrupted one leaves nothing.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import pathlib
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

from networks.errors import CheckpointError
from networks.files import atomic_open

_CHUNK = 1 << 20


def cache_dir() -> pathlib.Path:
    env = os.environ.get("SG_EXPLORER_CACHE")
    return pathlib.Path(env).expanduser() if env else pathlib.Path.home() / ".cache" / "sg-explorer" / "downloads"


def cached_path(url: str) -> pathlib.Path:
    """Where `url` is (or will be) cached."""
    name = os.path.basename(urllib.parse.urlparse(url).path) or "download"
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:100]
    return cache_dir() / f"{hashlib.sha1(url.encode()).hexdigest()[:16]}_{name}"


def _progress(total: int | None, name: str):
    from tqdm import tqdm
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, file=sys.stderr,
                disable=None, leave=False)


def _one_line(e) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def open_url(url: str, timeout: float = 60.0) -> pathlib.Path:
    """Downloads `url` into the cache unless it is there already; returns the cached file's path.

    Raises CheckpointError in one line for an HTTP error, an unreachable host or a short read.
    """
    dest = cached_path(url)
    if dest.is_file():
        return dest
    try:
        with atomic_open(dest) as out:  # an interrupted download leaves nothing in the cache
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    length = resp.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    got = 0
                    with _progress(total, dest.name.split("_", 1)[-1]) as bar:
                        while chunk := resp.read(_CHUNK):
                            out.write(chunk)
                            got += len(chunk)
                            bar.update(len(chunk))
            except urllib.error.HTTPError as e:
                raise CheckpointError(f"{url}: HTTP {e.code} {e.reason}") from None
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", None) or e
                raise CheckpointError(f"{url}: download failed ({_one_line(reason)})") from None
            except http.client.HTTPException as e:  # e.g. IncompleteRead: a chunked reply cut short
                raise CheckpointError(f"{url}: download failed ({type(e).__name__}: {_one_line(e)})") from None
            except ValueError as e:  # a URL urllib cannot parse
                raise CheckpointError(f"{url}: {_one_line(e)}") from None
            if total is not None and got != total:
                raise CheckpointError(f"{url}: download cut short ({got} of {total} bytes)")
    except OSError as e:  # the cache folder itself: not creatable, not writable, full
        raise CheckpointError(f"download cache {dest.parent}: {e.strerror or e} "
                              f"(SG_EXPLORER_CACHE chooses another folder)") from None
    return dest
