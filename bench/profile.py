"""Sample the server with py-spy under load and sort the time into layers.

py-spy attaches to the running server by pid and writes collapsed stacks
(``frame;frame;... count``, root first). Each sample is charged to a layer
twice over:

- by the innermost frame that belongs to a known layer ("self" time: where
  the CPU was when sampled);
- to every layer that appears anywhere on its stack ("inclusive" time: how
  much of the time was spent inside that layer, callees included).
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

# py-spy's sampling rate in Hz.
SAMPLE_RATE = 100
# py-spy names each frame ``function (file:line)``, with the file relative to
# its sys.path entry, such as ``sqlalchemy/orm/loading.py``. Layers are
# tried in this order against the function name and that file.
LAYERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # The JSON encoders come before strawberry, because strawberry calls them.
    (
        "JSON (orjson, json)",
        re.compile(r"^(encode_json|decode_json) |\((json|orjson)/"),
    ),
    (
        "SQL (SQLAlchemy, sqlmodel, drivers)",
        re.compile(r"\((sqlalchemy|sqlmodel|aiosqlite|asyncpg|sqlite3|greenlet)/"),
    ),
    ("GraphQL (graphql-core)", re.compile(r"\(graphql/")),
    ("GraphQL (strawberry, cross_web)", re.compile(r"\((strawberry|cross_web)/")),
    ("project code", re.compile(r"\((graphql_api|db|config_engine)/")),
    (
        "HTTP (uvicorn, h11, starlette)",
        re.compile(r"\((uvicorn|h11|starlette|httptools)/"),
    ),
    ("logging", re.compile(r"\(logging/")),
    ("asyncio event loop and sockets", re.compile(r"\((asyncio/|selectors\.py)")),
)
# Innermost frames of threads that wait for work: the event loop in its
# epoll call, and aiosqlite's worker thread in its queue's get(). py-spy
# samples a thread blocked on a lock as busy, so these are taken out.
IDLE_FRAMES = re.compile(
    r"^(EpollSelector\.select \(selectors\.py|"
    r"_connection_worker_thread \(aiosqlite/core\.py:59\))"
)
OTHER = "other"
# Costs that cut across the layers, each charged with every sample that has a
# matching frame anywhere on its stack.
FOCUS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("GraphQL parse and validate", re.compile(r"\(graphql/(language|validation)/")),
    ("token lookup (authenticate)", re.compile(r"^authenticate \(graphql_api/")),
    ("dataloaders (graphql_api/loaders.py)", re.compile(r"\(graphql_api/loaders\.py")),
    (
        "new database connections",
        re.compile(r"^connect \(asyncpg/connection\.py|\(asyncpg/connect_utils\.py"),
    ),
    ("pool pre-ping", re.compile(r"_async_ping \(sqlalchemy/")),
    (
        "BEGIN, COMMIT and ROLLBACK on PostgreSQL",
        re.compile(r"_(start_transaction|call_and_discard) \(sqlalchemy/dialects/"),
    ),
    ("ORM row loading", re.compile(r"\(sqlalchemy/orm/loading\.py")),
)


class ProfilerError(RuntimeError):
    """Raised when py-spy is missing or fails."""


def py_spy_path() -> str:
    """Return py-spy from the virtual environment or PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    if beside.exists():
        return str(beside)
    found = shutil.which("py-spy")
    if found is None:
        raise ProfilerError(
            "py-spy is not installed: run `.venv/bin/pip install py-spy`"
        )
    return found


def start_recording(pid: int, seconds: int, output: Path) -> subprocess.Popen[str]:
    """Start py-spy on `pid` for `seconds`; it writes collapsed stacks to `output`.

    ``--nonblocking`` samples without pausing the server, so the profile
    slows it down less, at the price of an occasional torn stack.
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [
            py_spy_path(),
            "record",
            f"--pid={pid}",
            f"--duration={seconds}",
            f"--rate={SAMPLE_RATE}",
            "--format=raw",
            "--nonblocking",
            f"--output={output}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish_recording(process: subprocess.Popen[str], output: Path) -> None:
    """Wait for py-spy; raise ProfilerError when it failed."""
    printed, _ = process.communicate(timeout=120)
    if process.returncode != 0 or not output.exists():
        raise ProfilerError(
            f"py-spy exited with {process.returncode}: {printed.strip()[-1000:]}"
        )


def compress(path: Path) -> Path:
    """Replace the stacks file with a gzip copy and return the copy's path."""
    compressed = path.with_name(path.name + ".gz")
    with path.open("rb") as source, gzip.open(compressed, "wb") as target:
        shutil.copyfileobj(source, target)
    path.unlink()
    return compressed


def read_stacks(path: Path) -> Iterable[tuple[list[str], int]]:
    """Yield each collapsed stack as its frames (root first) and sample count.

    Reads plain files and gzip files (named ``*.gz``).
    """
    if path.suffix == ".gz":
        with gzip.open(path, "rt") as file:
            text = file.read()
    else:
        text = path.read_text()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def layer_of(frame: str) -> str | None:
    """Return the layer of one frame, or None when no layer claims it."""
    for name, pattern in LAYERS:
        if pattern.search(frame):
            return name
    return None


def summarise(path: Path, top: int = 15) -> dict[str, Any]:
    """Sum the busy samples by layer (self and inclusive) and by innermost function.

    Percentages are of the busy samples; `idle_samples` counts the ones
    taken out by `IDLE_FRAMES`.
    """
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    focus: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    busy = idle = 0
    for frames, count in read_stacks(path):
        if IDLE_FRAMES.match(frames[-1]):
            idle += count
            continue
        busy += count
        layers = [layer_of(frame) for frame in frames]
        innermost = next((layer for layer in reversed(layers) if layer), OTHER)
        self_time[innermost] += count
        for layer in set(layers) - {None}:
            inclusive[str(layer)] += count
        for name, pattern in FOCUS:
            if any(pattern.search(frame) for frame in frames):
                focus[name] += count
        functions[frames[-1]] += count
    return {
        "busy_samples": busy,
        "idle_samples": idle,
        "self_percent": _percentages(self_time, busy),
        "inclusive_percent": _percentages(inclusive, busy),
        "focus_percent": _percentages(focus, busy),
        "top_functions_percent": _percentages(
            Counter(dict(functions.most_common(top))), busy
        ),
    }


def _percentages(counter: Counter[str], total: int) -> dict[str, float]:
    if not total:
        return {}
    return {
        name: round(100 * count / total, 1) for name, count in counter.most_common()
    }
