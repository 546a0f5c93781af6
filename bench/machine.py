"""Describe the machine and the software that a benchmark run measured."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.settings import REPOSITORY
from tests.postgres_support import find_postgres_binaries

PACKAGES = (
    "strawberry-graphql",
    "graphql-core",
    "starlette",
    "uvicorn",
    "h11",
    "sqlalchemy",
    "sqlmodel",
    "aiosqlite",
    "asyncpg",
    "orjson",
    "httpx",
    "jsonatapy",
)


def describe_machine() -> dict[str, Any]:
    """Return CPU model and count, memory, kernel and Python version."""
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_gib": round(_memory_kib() / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor() or "unknown"


def _memory_kib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def describe_software() -> dict[str, str]:
    """Return the versions of the packages and databases on the request path."""
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    versions["sqlite"] = sqlite3.sqlite_version
    versions["postgresql"] = _postgres_version()
    return versions


def _postgres_version() -> str:
    try:
        binaries = find_postgres_binaries()
    except LookupError:
        return "not installed"
    result = subprocess.run(
        [str(binaries / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def git_commit() -> str:
    """Return the checked-out commit, marked ``+changes`` when the tree differs."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return f"{head}+changes" if changed else head
