"""Node.js tools that the tests run: npm packages installed from lock files."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

NPM_TIMEOUT = 600.0


def install_node_packages(folder: Path) -> None:
    """Run ``npm ci`` in `folder` unless its lock file is already installed.

    npm writes ``node_modules/.package-lock.json`` on every install, so a
    copy newer than ``package-lock.json`` means that nothing changed since.
    Raises AssertionError with npm's output when the install fails.
    """
    npm = shutil.which("npm")
    assert npm is not None, "npm is not on PATH: install Node.js 20 and npm"
    lock = folder / "package-lock.json"
    installed = folder / "node_modules" / ".package-lock.json"
    if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
        return
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"npm ci failed in {folder}:\n{result.stderr}"


def node_executable() -> str:
    """Return the path of ``node``; fails the test when it is missing."""
    node = shutil.which("node")
    assert node is not None, "node is not on PATH: install Node.js 20"
    return node
