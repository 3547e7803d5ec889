"""Reading a training run folder while the run writes it: stats.jsonl, metric-*.jsonl, the fakes grids and
training_options.json, for the window's training companion (explorer/gui/panels/training.py).

No Dear PyGui here: this runs on the companion's worker thread and is unit-tested alone. Everything is read
defensively, a run being written is the normal case: a partial last line waits for the rest, a garbage line
is skipped and counted, a missing or vanished file reads as empty, nothing raises. The JSON-lines files are
append-only, so each poll reads only the bytes added since the last one (a rewritten file is read again).
"""
from __future__ import annotations

import itertools
import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from networks.runs import RUN_DIR, SNAPSHOT

STATS = "stats.jsonl"
OPTIONS = "training_options.json"
REALS = "reals.png"
METRIC_FILE = re.compile(r"^metric-(.+)\.jsonl$")
FAKES = re.compile(r"^fakes(\d+)\.png$")          # fakes<kimg, 6 digits>.png, one per snapshot
FAKES_INIT = "fakes_init.png"                     # NVIDIA's grid of the untrained G
RUN_FILES = (STATS, OPTIONS, REALS, "fakes.png", FAKES_INIT)

NOT_PLOTTED = {"tick", "kimg", "step", "timestamp", "sec_total", "sec_per_tick"}   # the x axis and counters
MAX_LINE = 1 << 20          # a "line" longer than this without a newline is garbage, not a record being written
YIELD_LINES = 200           # lines parsed between two GIL hand-overs (sleep(0))
CHECK_BYTES = 64            # bytes before the read offset compared on each poll: a rewritten file is re-read
MAX_POINTS = 400            # points per series sent to a plot (~400 px wide): llvmpipe drew 800 x 5 series in ~10 ms
_revisions = itertools.count(1)   # unique across readers and restarts: a re-read series never looks unchanged


# ------------------------------------------------------------------------------------------- JSON lines
class JsonlTail:
    """An append-only JSON-lines file, read incrementally: each `read_new()` parses only what was appended.

    A last line without its newline is kept back until it is complete (or parses as a whole object already).
    If the file shrinks, is replaced (another inode) or its bytes before the offset change, it is read again
    from the start and read_new() says so.
    """

    def __init__(self, path: str):
        self.path = path
        self.offset = 0             # bytes consumed (complete lines and the pending part)
        self.pending = b""          # an incomplete last line
        self.check = b""            # the CHECK_BYTES bytes before offset, as read
        self.ident = None           # (st_dev, st_ino, st_size, st_mtime_ns) at the last read
        self.bad_lines = 0          # lines that were not a JSON object (skipped)
        self._discarding = False    # inside an over-long garbage line: drop bytes up to its newline

    def _reset(self) -> None:
        self.offset, self.pending, self.check, self._discarding, self.bad_lines = 0, b"", b"", False, 0

    def read_new(self) -> tuple[bool, list]:
        """(restarted, new records): restarted means the records read before are void (file rewritten or gone)."""
        try:
            st = os.stat(self.path)
        except OSError:
            had = self.offset > 0
            self._reset()
            self.ident = None
            return had, []
        ident = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if ident == self.ident:
            return False, []
        restarted = False
        try:
            with open(self.path, "rb") as f:
                if self.ident is not None and (ident[:2] != self.ident[:2] or st.st_size < self.offset
                                               or not self._same_prefix(f)):
                    restarted = self.offset > 0
                    self._reset()
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return False, []     # unreadable just now: try again on the next poll
        self.ident = ident
        return restarted, self._consume(data)

    def _same_prefix(self, f) -> bool:
        if not self.check:
            return True
        f.seek(self.offset - len(self.check))
        return f.read(len(self.check)) == self.check

    def _consume(self, data: bytes) -> list:
        if not data:
            return []
        self.offset += len(data)
        self.check = (self.check + data)[-CHECK_BYTES:]
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        if self._discarding and lines:
            lines.pop(0)                # the rest of the over-long line
            self._discarding = False
        records = []
        for i, line in enumerate(lines):
            if i % YIELD_LINES == YIELD_LINES - 1:
                time.sleep(0)           # hand the GIL to the UI thread now and then: a long first read never stalls it
            r = self._parse(line)
            if r is not None:
                records.append(r)
        if self.pending:
            whole = _as_record(self.pending)   # a complete object that lacks only its newline
            if whole is not None:
                records.append(whole)
                self.pending = b""
            elif len(self.pending) > MAX_LINE:
                self.pending, self._discarding = b"", True
                self.bad_lines += 1
        return records

    def _parse(self, line: bytes) -> Optional[dict]:
        if not line.strip():
            return None
        record = _as_record(line)
        if record is None:
            self.bad_lines += 1
        return record


def _as_record(line: bytes) -> Optional[dict]:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):    # UnicodeDecodeError is a ValueError
        return None
    return value if isinstance(value, dict) else None


def number(value) -> Optional[float]:
    """A finite JSON number as float; None for anything else (booleans, strings, NaN, inf)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# ------------------------------------------------------------------------------------------- columns
class Columns:
    """Series built from records: key -> ([kimg], [value]) for every finite number a record holds."""

    def __init__(self):
        self.data: dict = {}
        self.revision: dict = {}    # key -> changes so far (the panel re-sends only changed series)

    def add(self, kimg: float, values: dict) -> None:
        for key, v in values.items():
            v = number(v)
            if v is None:
                continue
            xs, ys = self.data.setdefault(key, ([], []))
            xs.append(kimg)
            ys.append(v)
            self.revision[key] = next(_revisions)


def record_kimg(record: dict) -> Optional[float]:
    """A record's kimg: its "kimg" field, else the kimg in its snapshot's name (NVIDIA's metric-*.jsonl)."""
    kimg = number(record.get("kimg"))
    if kimg is not None:
        return kimg
    m = SNAPSHOT.match(os.path.basename(str(record.get("snapshot_pkl") or "")))
    return float(m.group(1)) if m else None


# ------------------------------------------------------------------------------------------- plot groups
@dataclass(frozen=True)
class PlotGroup:
    title: str                  # the plot's label, also its identity in the panel
    unit: str                   # the y axis label ("" when unitless)
    keys: tuple                 # series keys (stats.jsonl keys; metrics as "Metrics/<result key>")


def default_metric_unit(name: str) -> str:
    """Equivariance metrics are PSNRs in dB; FID, KID, precision and recall are unitless."""
    return "dB" if name.lower().startswith("eq") else ""


_RULES = (   # (title, unit, predicate on a stats key), first match wins
    ("Losses", "", lambda k: k.startswith(("Loss/G/", "Loss/D/"))),
    ("D scores", "logit", lambda k: k.startswith("Loss/scores/")),
    ("Regularisers", "", lambda k: k.startswith("Loss/")),
    ("Augment p", "p", lambda k: k == "augment_p"),
    ("Speed", "s/kimg", lambda k: k == "sec_per_kimg"),
    ("Memory", "GB", lambda k: k.endswith("_mem_gb")),
    ("Progressive growing", "", lambda k: k in ("lod", "resolution", "batch")),
)


def plot_groups(keys, metric_files: dict, units: dict) -> list:
    """The plots for these series keys: fixed groups first (losses, D scores, regularisers, augment p), then
    one plot per metric (a metric-<name>.jsonl's results, or a stats-only "Metrics/<key>"), then speed, memory,
    growth and anything else. metric_files: name -> result keys; units: name -> unit from the files."""
    keys = sorted(k for k in keys if k not in NOT_PLOTTED)
    fixed: dict = {title: [] for title, _u, _p in _RULES}
    metrics: dict = {}
    other = []
    in_files = {f"Metrics/{k}": name for name, ks in metric_files.items() for k in ks}
    for key in keys:
        if key.startswith("Metrics/"):
            metrics.setdefault(in_files.get(key, key[len("Metrics/"):]), []).append(key)
            continue
        for title, _unit, match in _RULES:
            if match(key):
                fixed[title].append(key)
                break
        else:
            other.append(key)
    groups = [PlotGroup(t, u, tuple(fixed[t])) for t, u, _p in _RULES[:4] if fixed[t]]
    for name in sorted(metrics):
        unit = units.get(name, default_metric_unit(name))
        groups.append(PlotGroup(f"Metric {name}", unit, tuple(metrics[name])))
    groups += [PlotGroup(t, u, tuple(fixed[t])) for t, u, _p in _RULES[4:] if fixed[t]]
    if other:
        groups.append(PlotGroup("Other", "", tuple(other)))
    return groups


def decimate(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple:
    """At most max_points points that draw like all of them: the first and the last point, and each of
    (max_points - 2) // 2 buckets of consecutive points gives its minimum and its maximum, in x order (spikes
    survive, the x range stays). x, y: [N]; returns (x, y)."""
    n = len(x)
    if n <= max_points:
        return x, y
    buckets = (max_points - 2) // 2
    size = -(-n // buckets)                       # points per bucket (the last one may be short)
    pad = buckets * size - n
    lo = np.concatenate([y, np.full(pad, np.inf)]).reshape(buckets, size).argmin(axis=1)
    hi = np.concatenate([y, np.full(pad, -np.inf)]).reshape(buckets, size).argmax(axis=1)
    base = np.arange(buckets) * size
    idx = np.unique(np.concatenate([[0, n - 1], base + lo, base + hi]))
    idx = idx[idx < n]
    return x[idx], y[idx]


# ------------------------------------------------------------------------------------------- options
def options_lines(data, prefix: str = "") -> list:
    """A parsed options JSON as "key: value" lines, nested objects as dotted keys, lists and scalars as JSON."""
    if not isinstance(data, dict):
        return [f"{prefix or 'options'}: {json.dumps(data)}"]
    lines = []
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            lines += options_lines(value, name)
        else:
            lines.append(f"{name}: {value if isinstance(value, str) else json.dumps(value)}")
    return lines


# ------------------------------------------------------------------------------------------- the run
@dataclass(frozen=True)
class Grid:
    kimg: float
    label: str                  # "init" or the kimg as written in the name
    path: str
    mtime_ns: int


@dataclass(frozen=True)
class RunView:
    """What the panel shows of a run, at one poll (immutable: handed from the worker to the UI thread)."""
    folder: str                                 # the run folder read (the newest run of an OUTDIR)
    series: dict                                # key -> (kimg float64 [N], value float64 [N])
    display: dict                               # key -> the series decimated to at most MAX_POINTS points
    revisions: dict                             # key -> revision (changes when the series changes)
    groups: tuple                               # PlotGroup, in display order
    grids: tuple                                # Grid, by kimg
    reals: Optional[str]                        # reals.png if present
    options: tuple                              # "key: value" lines ((): no options file yet)
    bad_lines: int                              # lines skipped as garbage, all files together
    records: int                                # stats.jsonl records read


def run_folder(root: str) -> str:
    """The folder to read: root itself when it holds run files, else its highest-numbered run folder
    (NNNNN-desc/, as networks.runs orders them), else root."""
    try:
        names = os.listdir(root)
    except OSError:
        return root
    if any(n in names for n in RUN_FILES) or any(SNAPSHOT.match(n) or METRIC_FILE.match(n) for n in names):
        return root
    runs = sorted((int(m.group(1)), n) for n in names
                  if (m := RUN_DIR.match(n)) and os.path.isdir(os.path.join(root, n)))
    return os.path.join(root, runs[-1][1]) if runs else root


def list_grids(folder: str, names) -> tuple:
    """The fakes grids among a folder's file names, by kimg; NVIDIA's fakes_init.png first."""
    grids = []
    for n in names:
        m = FAKES.match(n)
        if not m and n != FAKES_INIT:
            continue
        try:
            mtime = os.stat(os.path.join(folder, n)).st_mtime_ns
        except OSError:
            continue   # removed since the listing
        kimg = float(m.group(1)) if m else 0.0
        label = (m.group(1).lstrip("0") or "0") if m else "init"
        grids.append(((kimg, 1 if m else 0), Grid(kimg, label, os.path.join(folder, n), mtime)))
    return tuple(g for _key, g in sorted(grids, key=lambda t: t[0]))


@dataclass
class RunReader:
    """Follows one run folder (or an OUTDIR: its newest run). `refresh()` on each poll; worker thread only."""
    root: str
    folder: str = ""
    stats: Optional[JsonlTail] = None
    columns: Columns = field(default_factory=Columns)
    metric_tails: dict = field(default_factory=dict)     # name -> JsonlTail
    metric_columns: dict = field(default_factory=dict)   # name -> Columns
    metric_units: dict = field(default_factory=dict)     # name -> unit written in the file
    records: int = 0
    options: tuple = ()
    options_ident: Optional[tuple] = None
    last_listing: Optional[tuple] = None
    view: Optional[RunView] = None
    display_cache: dict = field(default_factory=dict)    # key -> (revision, decimated (x, y))

    def _start(self, folder: str) -> None:
        self.folder, self.stats = folder, JsonlTail(os.path.join(folder, STATS))
        self.columns, self.records = Columns(), 0
        self.metric_tails, self.metric_columns, self.metric_units = {}, {}, {}
        self.options, self.options_ident, self.last_listing, self.view = (), None, None, None
        self.display_cache = {}

    def refresh(self) -> Optional[RunView]:
        """Reads what changed; the new RunView when anything did, else None."""
        folder = run_folder(self.root)
        if folder != self.folder:
            self._start(folder)
        changed = self.view is None
        restarted, records = self.stats.read_new()
        if restarted:
            self.columns, self.records, changed = Columns(), 0, True
        for r in records:
            kimg = number(r.get("kimg"))
            if kimg is not None:
                self.columns.add(kimg, r)
                self.records += 1
                changed = True
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            names = []
        for name in names:
            m = METRIC_FILE.match(name)
            if m and m.group(1) not in self.metric_tails:
                self.metric_tails[m.group(1)] = JsonlTail(os.path.join(folder, name))
        for name, tail in self.metric_tails.items():
            restarted, records = tail.read_new()
            if restarted or name not in self.metric_columns:
                self.metric_columns[name], changed = Columns(), True
            for r in records:
                kimg, results = record_kimg(r), r.get("results")
                if kimg is None or not isinstance(results, dict):
                    tail.bad_lines += 1
                    continue
                self.metric_columns[name].add(kimg, results)
                if isinstance(r.get("unit"), str):
                    self.metric_units[name] = r["unit"]
                changed = True
        changed |= self._read_options()
        grids = list_grids(folder, names)
        reals = os.path.join(folder, REALS) if REALS in names else None
        listing = (grids, reals)
        changed |= listing != self.last_listing
        self.last_listing = listing
        if changed:
            self.view = self._make_view(grids, reals)
            return self.view
        return None

    def _read_options(self) -> bool:
        path = os.path.join(self.folder, OPTIONS)
        try:
            st = os.stat(path)
        except OSError:
            had, self.options, self.options_ident = bool(self.options), (), None
            return had
        ident = (st.st_ino, st.st_size, st.st_mtime_ns)
        if ident == self.options_ident:
            return False
        try:
            with open(path, "rb") as f:
                data = json.loads(f.read())
        except (OSError, ValueError, RecursionError):
            return False            # being written, or broken: keep what was shown, retry on the next change
        self.options_ident = ident
        self.options = tuple(options_lines(data))
        return True

    def _make_view(self, grids: tuple, reals: Optional[str]) -> RunView:
        series, revisions = {}, {}
        for key, (xs, ys) in self.columns.data.items():
            series[key] = (np.asarray(xs, np.float64), np.asarray(ys, np.float64))
            revisions[key] = self.columns.revision[key]
        files = {}
        for name, cols in self.metric_columns.items():
            files[name] = tuple(cols.data)
            for key, (xs, ys) in cols.data.items():      # a metric file's series wins over stats' copy
                order = np.argsort(np.asarray(xs), kind="stable")
                series[f"Metrics/{key}"] = (np.asarray(xs, np.float64)[order], np.asarray(ys, np.float64)[order])
                revisions[f"Metrics/{key}"] = cols.revision[key]
        display = {}
        for key, (xs, ys) in series.items():
            cached = self.display_cache.get(key)
            if cached is None or cached[0] != revisions[key]:
                cached = self.display_cache[key] = (revisions[key], decimate(xs, ys))
            display[key] = cached[1]
        bad = self.stats.bad_lines + sum(t.bad_lines for t in self.metric_tails.values())
        return RunView(folder=self.folder, series=series, display=display, revisions=revisions,
                       groups=tuple(plot_groups(series, files, self.metric_units)), grids=grids, reals=reals,
                       options=self.options, bad_lines=bad, records=self.records)


# ------------------------------------------------------------------------------------------- grids
MAX_GRID_SIDE = 2048        # a larger grid is box-reduced by a whole factor (a 1024 px run's is 8192 wide)


def load_grid(path: str, max_side: int = MAX_GRID_SIDE) -> np.ndarray:
    """A fakes or reals grid PNG -> uint8 [H, W, 3], box-reduced by the smallest whole factor that fits
    max_side. Raises OSError / ValueError (PIL's errors) for a missing or unreadable file."""
    from PIL import Image
    with Image.open(path) as im:
        im = im.convert("RGB")
        factor = -(-max(im.size) // max_side)
        if factor > 1:
            im = im.reduce(factor)
        return np.asarray(im, np.uint8).copy()
