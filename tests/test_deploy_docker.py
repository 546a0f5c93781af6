"""The Dockerfile, checked without a container engine.

No Docker daemon runs where the tests run, so the tests read the Dockerfile
and replay its install steps. The files that COPY adds go into a temporary
working directory. The RUN commands run there with a new virtual environment
first on PATH, in place of the image's Python. The installed command must
then start, migrate a database and pass the image's own HEALTHCHECK against
a live server. A step that the replay does not know
fails the test, so the Dockerfile cannot change without the test noticing.

Like Docker's layer cache, the virtual environment after the dependency
layer is kept in pytest's cache, keyed by the instructions up to that layer
and the files they copy, so reruns only install the source. Without the
cache plugin (``-p no:cacheprovider``) every run installs everything.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.cli_support import REPOSITORY, TEST_SECRET_KEY, sqlite_url
from tests.conftest import LiveServer

DOCKERFILE = REPOSITORY / "Dockerfile"
DOCKERIGNORE = REPOSITORY / ".dockerignore"
SOURCE_PACKAGES = ("config_engine", "db", "graphql_api")
# Programs that the replay runs inside the working directory.
REPLAYED_PROGRAMS = frozenset({"pip", "python", "rm"})
# Programs that prepare the system image; the replay skips them.
SYSTEM_PROGRAMS = frozenset({"useradd", "mkdir", "chown"})
INSTALL_TIMEOUT = 600
# The pip cache keeps the replay fast, so the image's setting that turns it off
# is not applied here.
ENV_NOT_REPLAYED = frozenset({"PIP_NO_CACHE_DIR"})


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction, with continuation lines joined."""

    keyword: str
    arguments: str


def parse_dockerfile(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions, dropping comments."""
    instructions: list[Instruction] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = pending + stripped
        pending = ""
        keyword, _, arguments = whole.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    return instructions


def env_pairs(arguments: str) -> dict[str, str]:
    """Parse the ``KEY=value`` pairs of an ENV instruction."""
    pairs = {}
    for item in shlex.split(arguments):
        key, separator, value = item.partition("=")
        assert separator, f"ENV {arguments!r}: expected KEY=value pairs"
        pairs[key] = value
    return pairs


def commands_of(run: Instruction) -> list[list[str]]:
    """Split a RUN instruction into its ``&&``-joined commands."""
    return [shlex.split(part) for part in run.arguments.split("&&")]


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def _index_of_dependency_layer(instructions: list[Instruction]) -> int:
    for index, instruction in enumerate(instructions):
        if instruction.keyword == "RUN" and "pip install -r" in instruction.arguments:
            return index
    raise AssertionError("no RUN instruction installs the dependencies")


def _copies(instruction: Instruction) -> tuple[list[str], str]:
    *sources, destination = shlex.split(instruction.arguments)
    return sources, destination


def test_base_image_is_slim_python_of_this_version(
    instructions: list[Instruction],
) -> None:
    [base] = [item.arguments for item in instructions if item.keyword == "FROM"]

    assert base == f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"


def test_dependency_layer_comes_before_source(
    instructions: list[Instruction],
) -> None:
    dependency_layer = _index_of_dependency_layer(instructions)

    copied_before = [
        source
        for item in instructions[:dependency_layer]
        if item.keyword == "COPY"
        for source in _copies(item)[0]
    ]
    copied_after = [
        source
        for item in instructions[dependency_layer:]
        if item.keyword == "COPY"
        for source in _copies(item)[0]
    ]
    assert copied_before == ["pyproject.toml"]
    assert set(SOURCE_PACKAGES) <= set(copied_after)


def test_server_runs_as_unprivileged_user(instructions: list[Instruction]) -> None:
    users = [item.arguments for item in instructions if item.keyword == "USER"]
    last_run = max(
        index for index, item in enumerate(instructions) if item.keyword == "RUN"
    )
    user_index = max(
        index for index, item in enumerate(instructions) if item.keyword == "USER"
    )

    assert users
    assert users[-1] not in ("root", "0")
    assert user_index > last_run


def test_environment_is_unbuffered(instructions: list[Instruction]) -> None:
    environment: dict[str, str] = {}
    for item in instructions:
        if item.keyword == "ENV":
            environment.update(env_pairs(item.arguments))

    assert environment["PYTHONUNBUFFERED"] == "1"
    assert environment["HOST"] == "0.0.0.0"


def test_image_serves_by_default(instructions: list[Instruction]) -> None:
    [command] = [item.arguments for item in instructions if item.keyword == "CMD"]

    assert json.loads(command) == ["graphql-api", "serve"]


def test_dockerignore_keeps_local_state_out() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }

    assert {".git", ".venv", "tests", "*.db"} <= patterns


# Replaying the install steps


@dataclass
class Replay:
    """The state of a replayed build: working directory and environment."""

    workdir: Path
    venv: Path
    environment: dict[str, str] = field(default_factory=dict)

    def process_environment(self) -> dict[str, str]:
        """Return the environment that replayed commands run with."""
        environment = {
            key: value
            for key, value in os.environ.items()
            if key not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")
        }
        environment.update(self.environment)
        environment["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{environment['PATH']}"
        return environment

    def copy(self, instruction: Instruction) -> None:
        sources, destination = _copies(instruction)
        target = self.workdir / destination
        for source in sources:
            path = REPOSITORY / source
            assert path.exists(), f"COPY {source}: not in the repository"
            if path.is_dir():
                shutil.copytree(
                    path,
                    target,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
            else:
                shutil.copy2(path, target)

    def run(self, instruction: Instruction) -> None:
        commands = commands_of(instruction)
        programs = {command[0] for command in commands}
        if programs <= SYSTEM_PROGRAMS:
            return
        unknown = programs - REPLAYED_PROGRAMS
        assert not unknown, (
            f"RUN {instruction.arguments!r} uses {sorted(unknown)}: teach "
            "tests/test_deploy_docker.py to replay or skip it"
        )
        result = subprocess.run(
            ["/bin/sh", "-c", instruction.arguments],
            cwd=self.workdir,
            env=self.process_environment(),
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        assert result.returncode == 0, (
            f"RUN {instruction.arguments!r} failed:\n{result.stdout}\n{result.stderr}"
        )

    def apply(self, instruction: Instruction, *, run_commands: bool = True) -> None:
        """Replay one instruction; RUN only when `run_commands` is set."""
        if instruction.keyword == "ENV":
            pairs = env_pairs(instruction.arguments)
            for key, value in pairs.items():
                if key not in ENV_NOT_REPLAYED:
                    self.environment[key] = value
        elif instruction.keyword == "COPY":
            self.copy(instruction)
        elif instruction.keyword == "RUN" and run_commands:
            self.run(instruction)


def _layer_key(instructions: list[Instruction]) -> str:
    digest = hashlib.sha256(sys.version.encode())
    for instruction in instructions:
        digest.update(f"{instruction.keyword} {instruction.arguments}\n".encode())
        if instruction.keyword == "COPY":
            for source in _copies(instruction)[0]:
                path = REPOSITORY / source
                if path.is_file():
                    digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="module")
def installed(
    instructions: list[Instruction],
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Replay]:
    """The Dockerfile's install steps, replayed into a virtual environment."""
    dependency_layer = _index_of_dependency_layer(instructions) + 1
    cache = getattr(request.config, "cache", None)
    layers = (
        cache.mkdir("dockerfile-layers")
        if cache is not None
        else tmp_path_factory.mktemp("dockerfile-layers")
    )
    environment_path = layers / _layer_key(instructions[:dependency_layer])
    workdir = tmp_path_factory.mktemp("app")
    with _locked(layers / f"{environment_path.name}.lock"):
        complete = environment_path / ".complete"
        cached = complete.exists()
        if not cached:
            shutil.rmtree(environment_path, ignore_errors=True)
            venv.create(environment_path, with_pip=True)
        replay = Replay(workdir, environment_path)
        for instruction in instructions[:dependency_layer]:
            replay.apply(instruction, run_commands=not cached)
        complete.touch()
        for instruction in instructions[dependency_layer:]:
            replay.apply(instruction)
        yield replay


def _command(
    replay: Replay, *arguments: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    environment = {**replay.process_environment(), **extra}
    return subprocess.run(
        list(arguments),
        # Outside the working directory, so that imports come from the
        # installed package and not from the copied source.
        cwd=replay.venv,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_installed_command_prints_help(installed: Replay) -> None:
    result = _command(installed, "graphql-api", "--help")

    assert result.returncode == 0, result.stderr
    assert "serve" in result.stdout
    assert "DATABASE_POOL_SIZE" in result.stdout


@pytest.mark.slow
def test_installed_package_migrates_database(installed: Replay, tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "image.db")

    result = _command(
        installed,
        "graphql-api",
        "migrate",
        DATABASE_URL=url,
        GRAPHQL_API_SECRET_KEY=TEST_SECRET_KEY,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Database at revision ")


@pytest.mark.slow
def test_installed_app_imports_from_site_packages(installed: Replay) -> None:
    result = _command(
        installed,
        "python",
        "-c",
        "import graphql_api.app, graphql_api.health; print(graphql_api.app.__file__)",
    )

    assert result.returncode == 0, result.stderr
    assert "site-packages" in result.stdout


@pytest.mark.slow
def test_healthcheck_passes_against_live_server(
    installed: Replay, instructions: list[Instruction], live_server: LiveServer
) -> None:
    [healthcheck] = [
        item.arguments for item in instructions if item.keyword == "HEALTHCHECK"
    ]
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    port = str(urlsplit(live_server.url).port)

    result = _command(installed, *command, PORT=port)

    assert result.returncode == 0, result.stderr
