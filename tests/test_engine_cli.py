"""The `config check` and `config request` commands, as functions and as a script."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from config_engine.cli import add_config_commands, run_check, run_request
from tests.upstream.helpers import API_KEY, api_config, api_key_context
from tests.upstream.vendor import Reply, Vendor

pytest_plugins = ["tests.upstream.plugin"]

REPOSITORY = Path(__file__).parents[1]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="graphql-api")
    add_config_commands(parser.add_subparsers())
    return parser.parse_args(argv)


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


def paged_files(vendor: Vendor, tmp_path: Path) -> tuple[Path, Path]:
    config = api_config(vendor)
    config["resources"]["contacts"]["list"] = {
        "path": "/page/contacts",
        "response_path": "data",
        "pagination": {
            "format": "page",
            "config": {"limit_param": "per_page", "limit": 3},
        },
    }
    context = api_key_context(vendor)
    return write_json(tmp_path / "config.json", config), write_json(
        tmp_path / "context.json", context
    )


async def run(arguments: argparse.Namespace) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = await run_request(arguments, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines()]


async def test_request_all_pages_prints_every_record(
    upstream: Vendor, tmp_path: Path
) -> None:
    config, context = paged_files(upstream, tmp_path)
    arguments = parse(
        "config",
        "request",
        str(config),
        "--context",
        str(context),
        "--resource",
        "contacts",
        "--method",
        "list",
        "--all-pages",
    )

    code, out, err = await run(arguments)

    assert code == 0
    assert [record["id"] for record in lines(out)] == [1, 2, 3, 4, 5, 6, 7]
    assert "page 3: status 200, 1 record(s), stop reason end" in err


async def test_request_one_page_prints_next_cursor(
    upstream: Vendor, tmp_path: Path
) -> None:
    config, context = paged_files(upstream, tmp_path)
    arguments = parse(
        "config",
        "request",
        str(config),
        "--context",
        str(context),
        "--resource",
        "contacts",
        "--method",
        "list",
    )

    code, out, err = await run(arguments)

    assert code == 0
    assert len(lines(out)) == 3
    cursor = err.split("next cursor: ")[1].strip()
    follow = parse(
        "config",
        "request",
        str(config),
        "--context",
        str(context),
        "--resource",
        "contacts",
        "--method",
        "list",
        "--cursor",
        cursor,
    )
    _, out, _ = await run(follow)
    assert [record["id"] for record in lines(out)] == [4, 5, 6]


async def test_dry_run_prints_request_without_secrets(
    upstream: Vendor, tmp_path: Path
) -> None:
    config, context = paged_files(upstream, tmp_path)
    arguments = parse(
        "config",
        "request",
        str(config),
        "--context",
        str(context),
        "--resource",
        "contacts",
        "--method",
        "list",
        "--query",
        '{"q": "ada"}',
        "--dry-run",
    )

    code, out, _ = await run(arguments)

    assert code == 0
    (request,) = lines(out)
    assert request["type"] == "request"
    assert request["method"] == "GET"
    assert (
        request["url"]
        == upstream.url("/api/page/contacts") + "?q=ada&per_page=3&page=1"
    )
    assert request["headers"]["X-Api-Key"] == "[redacted]"
    assert API_KEY not in out
    assert upstream.requests == []


async def test_request_logs_rate_limit_waits(upstream: Vendor, tmp_path: Path) -> None:
    upstream.script(
        "/api/me", Reply(429, headers={"Retry-After": "0"}), Reply(200, json={"id": 1})
    )
    config = write_json(tmp_path / "c.json", api_config(upstream))
    context = write_json(tmp_path / "x.json", api_key_context(upstream))
    arguments = parse(
        "config",
        "request",
        str(config),
        "--context",
        str(context),
        "--resource",
        "me",
        "--method",
        "get",
    )

    code, out, err = await run(arguments)

    assert code == 0
    assert lines(out) == [{"id": 1}]
    assert "waiting 0.00 s before retry 1 (rate_limited, status 429)" in err


async def test_request_with_override(upstream: Vendor, tmp_path: Path) -> None:
    document = {
        "config": api_config(upstream, base_url="https://wrong.invalid"),
        "override": {"base_url": upstream.url("/api")},
    }
    config = write_json(tmp_path / "c.json", document)
    context = write_json(tmp_path / "x.json", api_key_context(upstream))
    arguments = parse(
        "config",
        "request",
        str(config),
        "--context",
        str(context),
        "--resource",
        "account",
        "--method",
        "get",
    )

    code, out, _ = await run(arguments)

    assert code == 0
    assert lines(out) == [{"id": "org_123", "subscription": {"plan": "pro"}}]


async def test_upstream_failure_exits_1(upstream: Vendor, tmp_path: Path) -> None:
    config = write_json(tmp_path / "c.json", api_config(upstream))
    context = write_json(tmp_path / "x.json", {"api_key": "revoked-key-9"})
    arguments = parse(
        "config",
        "request",
        str(config),
        "--context",
        str(context),
        "--resource",
        "me",
        "--method",
        "get",
    )

    code, out, err = await run(arguments)

    assert code == 1
    assert out == ""
    assert err.startswith(
        "error: AUTHENTICATION_ERROR: GET me.get failed with status 401"
    )
    assert "revoked-key-9" not in err


async def test_unknown_method_exits_1(upstream: Vendor, tmp_path: Path) -> None:
    config = write_json(tmp_path / "c.json", api_config(upstream))
    arguments = parse(
        "config",
        "request",
        str(config),
        "--resource",
        "me",
        "--method",
        "nope",
        "--dry-run",
    )

    code, _, err = await run(arguments)

    assert code == 1
    assert "INVALID_CONFIG" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param(["--query", "{bad"], "--query is not valid JSON", id="query-json"),
        pytest.param(
            ["--query", "[1]"], "--query must be a JSON object", id="query-object"
        ),
        pytest.param(
            ["--context", "missing.json"], "cannot read the context file", id="context"
        ),
    ],
)
async def test_bad_input_exits_2(
    upstream: Vendor, tmp_path: Path, extra: list[str], message: str
) -> None:
    config = write_json(tmp_path / "c.json", api_config(upstream))
    arguments = parse(
        "config", "request", str(config), "--resource", "me", "--method", "get", *extra
    )

    code, _, err = await run(arguments)

    assert code == 2
    assert message in err


async def test_invalid_config_json_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "c.json"
    config.write_text("{not json")
    arguments = parse(
        "config", "request", str(config), "--resource", "a", "--method", "b"
    )

    code, _, err = await run(arguments)

    assert code == 2
    assert "invalid JSON" in err


def test_check_clean_file(tmp_path: Path, upstream: Vendor) -> None:
    config = write_json(tmp_path / "c.json", api_config(upstream))
    out = io.StringIO()

    code = run_check(parse("config", "check", str(config)), stdout=out)

    assert code == 0
    assert out.getvalue() == f"{config}: ok\n"


def test_check_reports_problem_paths(tmp_path: Path, upstream: Vendor) -> None:
    broken = api_config(upstream, pagination={"format": "scroll"})
    config = write_json(tmp_path / "c.json", broken)
    out = io.StringIO()

    code = run_check(parse("config", "check", str(config)), stdout=out)

    assert code == 1
    assert f"{config}: pagination" in out.getvalue()
    assert "problem(s)" in out.getvalue()


def test_console_script_runs_config_request(upstream: Vendor, tmp_path: Path) -> None:
    config, context = paged_files(upstream, tmp_path)
    command = [
        sys.executable,
        "-m",
        "graphql_api.cli",
        "config",
        "request",
        str(config),
        "--context",
        str(context),
        "--resource",
        "contacts",
        "--method",
        "list",
        "--all-pages",
    ]
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}

    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=environment,
    )

    assert completed.returncode == 0, completed.stderr
    assert [record["id"] for record in lines(completed.stdout)] == [1, 2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize(
    ("option", "value"),
    [
        pytest.param("--timeout", "0", id="timeout-zero"),
        pytest.param("--timeout", "-1", id="timeout-negative"),
        pytest.param("--timeout", "soon", id="timeout-text"),
        pytest.param("--deadline", "0", id="deadline-zero"),
    ],
)
def test_request_rejects_non_positive_seconds(
    option: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        parse(
            "config",
            "request",
            "c.json",
            "--resource",
            "a",
            "--method",
            "b",
            option,
            value,
        )

    assert caught.value.code == 2
    assert f"{value!r} is invalid: expected a number of seconds greater than 0" in (
        capsys.readouterr().err
    )


def test_unknown_jsonata_engine_is_one_line_error(tmp_path: Path) -> None:
    config = write_json(
        tmp_path / "c.json",
        {"base_url": "http://127.0.0.1:9/api", "error_expression": "status >= 400"},
    )
    command = [sys.executable, "-m", "graphql_api.cli", "config", "check", str(config)]
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPOSITORY),
        "JSONATA_ENGINE": "bogus",
    }

    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=environment
    )

    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr == (
        "error: JSONATA_ENGINE='bogus' is invalid: expected one of jsonatapy, "
        "jsonata-python; unset JSONATA_ENGINE to use jsonatapy\n"
    )


def test_check_deeply_nested_json(tmp_path: Path) -> None:
    config = tmp_path / "deep.json"
    config.write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    out = io.StringIO()

    code = run_check(parse("config", "check", str(config)), stdout=out)

    assert code == 1
    assert (
        f"{config}: (root): the JSON is nested deeper than 64 levels; flatten it"
        in out.getvalue()
    )


def check_output(path: Path, *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    code = run_check(parse("config", "check", *extra, str(path)), stdout=out)
    return code, out.getvalue()


def test_check_rejects_wrapped_example(tmp_path: Path) -> None:
    wrapped = {"source": "s", "kind": "k", "example": {"base_url": "ftp://bad"}}
    config = write_json(tmp_path / "c.json", wrapped)

    code, out = check_output(config)

    assert code == 1
    assert f"{config}: (root): not an integration config: none of its top-level" in out


def test_check_suggests_misspelled_top_key(tmp_path: Path) -> None:
    config = write_json(tmp_path / "c.json", {"error_expresion": "((("})

    code, out = check_output(config)

    assert code == 1
    assert "did you mean 'error_expression' for 'error_expresion'?" in out


def test_check_warns_on_unknown_key(tmp_path: Path, upstream: Vendor) -> None:
    document = api_config(upstream)
    document["resources"]["me"]["get"]["respone_path"] = "data"
    config = write_json(tmp_path / "c.json", document)

    code, out = check_output(config)

    assert code == 0
    assert (
        f"{config}: resources.me.get.respone_path: warning: unknown key "
        "'respone_path' is ignored; did you mean 'response_path'?\n"
    ) in out
    assert out.endswith(f"{config}: ok with 1 warning(s)\n")


def test_check_strict_fails_on_warning(tmp_path: Path, upstream: Vendor) -> None:
    config = write_json(
        tmp_path / "c.json", api_config(upstream, rate_limits={"is_rate_limited": "1"})
    )

    code, out = check_output(config, "--strict")

    assert code == 1
    assert "rate_limits: warning: unknown key 'rate_limits' is ignored" in out
