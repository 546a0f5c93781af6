"""The JSONata adapter on both engines: results, errors, threads and limits."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config_engine import jsonata
from config_engine.errors import EngineSettingError, JsonataError

ROOT = Path(__file__).parents[1]
# A short timeout keeps the hostile cases fast.
SHORT = 0.2


@pytest.fixture(params=jsonata.ENGINES)
def engine(request: pytest.FixtureRequest) -> Iterator[str]:
    previous = jsonata.engine_name()
    jsonata.use_engine(request.param)
    yield request.param
    jsonata.use_engine(previous)


@pytest.fixture
def rust_engine() -> Iterator[None]:
    previous = jsonata.engine_name()
    jsonata.use_engine("jsonatapy")
    yield
    jsonata.use_engine(previous)


def evaluate_on_thread(compiled: jsonata.CompiledExpression, data: Any) -> Any:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = jsonata.evaluate(compiled, data)
        except BaseException as error:  # the test reports whatever escaped
            outcome["error"] = error

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return outcome


def test_engine_selected(engine: str) -> None:
    assert jsonata.engine_name() == engine


def test_path_lookup(engine: str) -> None:
    result = jsonata.evaluate("a.b", {"a": {"b": [1, 2]}})

    assert result == [1, 2]


def test_bindings_become_variables(engine: str) -> None:
    result = jsonata.evaluate("$limit - used", {"used": 3}, {"limit": 10})

    assert result == 7


def test_compiled_expression_keeps_source(engine: str) -> None:
    compiled = jsonata.compile("status = 429")

    assert compiled.source == "status = 429"
    assert jsonata.evaluate(compiled, {"status": 429}) is True


def test_undefined_result_is_none(engine: str) -> None:
    assert jsonata.evaluate("missing.field", {"a": 1}) is None


def test_null_result_is_none(engine: str) -> None:
    assert jsonata.evaluate("a", {"a": None}) is None


def test_range_result_is_plain_list(engine: str) -> None:
    result = jsonata.evaluate("[1..3]", None)

    assert type(result) is list
    assert result == [1, 2, 3]


def test_function_result_is_none(engine: str) -> None:
    assert jsonata.evaluate("function($x) { $x }", None) is None


def test_syntax_error_code_and_position(engine: str) -> None:
    with pytest.raises(JsonataError) as caught:
        jsonata.compile("foo bar", path="resources.users.list.error_expression")

    assert caught.value.jsonata_code == "S0201"
    assert caught.value.position == 7
    assert caught.value.expression == "foo bar"
    assert "resources.users.list.error_expression" in str(caught.value)


def test_syntax_error_from_evaluate(engine: str) -> None:
    with pytest.raises(JsonataError, match=r"^S0207: .*position 3"):
        jsonata.evaluate("1 +", None)


def test_type_error_code(engine: str) -> None:
    with pytest.raises(JsonataError, match=r"^T2001: ") as caught:
        jsonata.evaluate("'a' + 1", None)

    assert caught.value.jsonata_code == "T2001"


def test_error_function_code(engine: str) -> None:
    with pytest.raises(JsonataError, match="Too expensive") as caught:
        jsonata.evaluate("$error('Too expensive')", None)

    assert caught.value.jsonata_code == "D3137"


def test_error_keeps_engine_exception(engine: str) -> None:
    with pytest.raises(JsonataError) as caught:
        jsonata.evaluate("'a' + 1", None)

    assert caught.value.__cause__ is not None


def test_non_string_expression_rejected(engine: str) -> None:
    with pytest.raises(JsonataError, match="expected a JSONata expression string"):
        jsonata.compile(42)  # type: ignore[arg-type]


def test_compile_and_evaluate_on_other_thread(engine: str) -> None:
    compiled = jsonata.compile("a + 1")

    outcome = evaluate_on_thread(compiled, {"a": 1})

    assert outcome == {"result": 2}


def test_many_threads_share_expression(engine: str) -> None:
    compiled = jsonata.compile("$sum(values)")
    results: list[Any] = []
    lock = threading.Lock()

    def run(offset: int) -> None:
        for _ in range(20):
            value = jsonata.evaluate(compiled, {"values": [offset, 1]})
            with lock:
                results.append(value - offset)

    threads = [threading.Thread(target=run, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results == [1] * 160


def test_timeout_counts_from_each_call(engine: str) -> None:
    compiled = jsonata.compile("[1..1000].($ * 2) ~> $sum()")
    # Waiting longer than the timeout between compile and evaluate must not
    # count against the evaluation.
    time.sleep(SHORT * 1.5)

    result = jsonata.evaluate(compiled, None, timeout=SHORT)

    assert result == 1001000


def test_depth_error_does_not_stick(engine: str) -> None:
    recursion = "($f := function($n) { $n <= 0 ? 0 : 1 + $f($n - 1) }; $f(%d))"
    for _ in range(3):
        with pytest.raises(JsonataError) as caught:
            jsonata.evaluate(recursion % 100000, None)
        assert caught.value.jsonata_code == "DEPTH"

    result = jsonata.evaluate(recursion % 100, None)

    assert result == 100


@pytest.mark.parametrize(
    ("expression", "code"),
    [
        pytest.param("($f := function() { $f() }; $f())", "TIMEOUT", id="tail-loop"),
        pytest.param(
            "($f := function() { 1 + $f() }; $f())", "DEPTH", id="deep-recursion"
        ),
        pytest.param("[1..10000000]", "SEQUENCE_LENGTH", id="huge-range"),
        pytest.param("$count([1..100000000])", "SEQUENCE_LENGTH", id="counted-range"),
        pytest.param("[" * 3000 + "]" * 3000, "DEPTH", id="deep-nesting"),
        pytest.param(
            "($f := function($s) { $f($s & $s) }; $f('x'))",
            "TIMEOUT",
            id="string-doubling",
        ),
        pytest.param("$pad('', 100000000)", "STRING_LENGTH", id="huge-pad"),
        pytest.param(
            "$eval('$pad(\"\", 100000000)')", "STRING_LENGTH", id="pad-through-eval"
        ),
        pytest.param(
            "$formatNumber(1, $pad('', 100000, '0'))",
            "STRING_LENGTH",
            id="huge-picture",
        ),
    ],
)
def test_hostile_expression_stopped(engine: str, expression: str, code: str) -> None:
    with pytest.raises(JsonataError) as caught:
        jsonata.evaluate(expression, None, timeout=SHORT)

    assert caught.value.jsonata_code == code


def test_custom_sequence_limit(engine: str) -> None:
    limits = jsonata.Limits(max_sequence_length=50)

    with pytest.raises(JsonataError, match="SEQUENCE_LENGTH"):
        jsonata.evaluate("[1..100]", None, limits=limits)


def test_guarded_pad_still_pads(engine: str) -> None:
    result = jsonata.evaluate("[$pad('ab', 5), $pad('ab', -5, '#')]", None)

    assert result == ["ab   ", "###ab"]


def test_guarded_pad_of_nothing(engine: str) -> None:
    assert jsonata.evaluate("$pad(missing, 3)", {}) is None


def test_guarded_format_number(engine: str) -> None:
    result = jsonata.evaluate("$formatNumber(1234.5, '#,##0.00')", None)

    assert result == "1,234.50"


def test_non_json_input_rejected(rust_engine: None) -> None:
    with pytest.raises(JsonataError) as caught:
        jsonata.evaluate("a", {"a": object()})

    assert caught.value.jsonata_code == "INVALID_INPUT"


def test_unknown_engine_rejected() -> None:
    with pytest.raises(
        EngineSettingError, match="JSONata engine 'jsonata-js' is invalid"
    ):
        jsonata.use_engine("jsonata-js")


@pytest.mark.parametrize("name", jsonata.ENGINES)
def test_engine_variable_read_at_import(name: str) -> None:
    environment = {**os.environ, jsonata.ENGINE_VARIABLE: name}
    program = "from config_engine import jsonata; print(jsonata.engine_name())"

    completed = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
    )

    assert completed.stdout.strip() == name


def test_python_engine_after_position_lookup() -> None:
    # A syntax error on jsonatapy imports jsonata-python only for the
    # position and restores the recursion limit. Selecting jsonata-python
    # afterwards must still give it the depth it needs.
    program = (
        "from config_engine import jsonata\n"
        "try:\n"
        "    jsonata.compile('foo bar')\n"
        "except jsonata.JsonataError:\n"
        "    pass\n"
        "jsonata.use_engine('jsonata-python')\n"
        "recursion = '($f := function($n) { $n <= 0 ? 0 : 1 + $f($n - 1) }; $f(200))'\n"
        "print(jsonata.evaluate(recursion, None))\n"
    )

    completed = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        env={**os.environ, jsonata.ENGINE_VARIABLE: "jsonatapy"},
        capture_output=True,
        text=True,
        check=True,
    )

    assert completed.stdout.strip() == "200"


def test_engine_setting_rejects_unknown_name() -> None:
    with pytest.raises(
        EngineSettingError,
        match=r"JSONATA_ENGINE='bogus' is invalid: expected one of jsonatapy, "
        r"jsonata-python",
    ):
        jsonata.check_engine_setting({"JSONATA_ENGINE": "bogus"})


def test_engine_setting_defaults_to_jsonatapy() -> None:
    assert jsonata.check_engine_setting({}) == "jsonatapy"


def test_engine_switch_keeps_other_threads_expressions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unraisable: list[Any] = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    previous = jsonata.engine_name()
    jsonata.use_engine("jsonatapy")
    compiled = threading.Event()
    release = threading.Event()

    def evaluate_then_wait() -> None:
        jsonata.evaluate("1 + 1", None)
        compiled.set()
        release.wait(10)

    worker = threading.Thread(target=evaluate_then_wait)
    worker.start()
    compiled.wait(10)

    # Replacing the engine releases every thread's cache on this thread, while
    # the worker that compiled its expressions is still running.
    try:
        jsonata.use_engine("jsonatapy")
        gc.collect()
    finally:
        release.set()
        worker.join()
        jsonata.use_engine(previous)

    assert [str(hook.exc_value) for hook in unraisable] == []
    assert jsonata.evaluate("2 + 2", None) == 4
