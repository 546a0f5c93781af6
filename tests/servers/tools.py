"""Tools that the tests install and run: npm packages and Python generators.

Each tool lives in the repository folder that pins it, so that people and
the tests run the same versions.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TOOL_TIMEOUT = 600.0


def install_node_packages(folder: Path) -> None:
    """Run ``npm ci`` in `folder` unless its lock file is already installed.

    npm writes ``node_modules/.package-lock.json`` on every install, so a
    copy newer than ``package-lock.json`` means that nothing changed since.
    A file lock keeps pytest-xdist workers from installing at the same time.
    Raises AssertionError with npm's output when the install fails.
    """
    npm = shutil.which("npm")
    assert npm is not None, "npm is not on PATH: install Node.js 20 and npm"
    lock = folder / "package-lock.json"
    installed = folder / "node_modules" / ".package-lock.json"
    with _install_lock(folder):
        if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
            return
        _run_checked([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], folder)


def node_executable() -> str:
    """Return the path of ``node``, failing the test when it is missing."""
    node = shutil.which("node")
    assert node is not None, "node is not on PATH: install Node.js 20"
    return node


def install_python_tool(folder: Path) -> Path:
    """Create ``folder/.venv`` with ``folder/requirements.txt`` and return its bin.

    Tools whose dependencies conflict with the project's own, such as
    ariadne-codegen, get a virtual environment of their own. The install
    runs again only when ``requirements.txt`` is newer than the last one,
    and a file lock keeps pytest-xdist workers from installing at once.
    """
    venv = folder / ".venv"
    requirements = folder / "requirements.txt"
    stamp = venv / ".installed"
    with _install_lock(folder):
        if stamp.exists() and stamp.stat().st_mtime >= requirements.stat().st_mtime:
            return venv / "bin"
        _run_checked([sys.executable, "-m", "venv", "--clear", str(venv)], folder)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
        _run_checked([*pip, "-r", str(requirements)], folder)
        stamp.touch()
    return venv / "bin"


@contextmanager
def _install_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.install.lock`` for the block."""
    with (folder / ".install.lock").open("a") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _run_checked(command: list[str], folder: Path) -> None:
    result = subprocess.run(
        command,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} failed in {folder}:\n{result.stderr}"
    )
