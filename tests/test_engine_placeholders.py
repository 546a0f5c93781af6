"""Placeholder rendering: Truto's own test cases, required mode and our additions.

The cases in ``truto-examples/placeholders.json`` come from the tests of
Truto's ``replace-placeholders`` package. JavaScript values that Python lacks
are mapped on purpose:

- ``undefined`` at the top level becomes None. Inside an object the key is
  dropped, which is what ``toEqual`` compares, and inside a list the item
  becomes None, as ``JSON.stringify`` writes it.
- An object written as text is ``"[object Object]"``, exactly as in
  JavaScript, because the cases pin that string.
- JavaScript has one number type: casts return an int for integral values,
  so a case expecting ``1`` gets ``1`` and one expecting ``1.1`` gets a float.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config_engine.errors import ConfigError, PlaceholderError
from config_engine.placeholders import (
    CompiledTemplate,
    check_template,
    placeholders_in,
    render,
    to_js_string,
)

CASES_FILE = (
    Path(__file__).parents[1] / ".." / "shared" / "truto-examples" / "placeholders.json"
)
CASES: list[dict[str, Any]] = json.loads(CASES_FILE.read_text(encoding="utf-8"))

MALFORMED = "broken placeholder text, which required mode rejects"
MISSING = "a value is missing and no default is given"
NULL = "the value is null, or :null turned it into null"
EMPTY = "the value is the empty string"
SKIPPED = "ignore-empty-str skipped the only value, so nothing is left"
UNDEFINED = ":undefined allows a missing value, but required mode does not"

# The cases whose result changes with required=True, and why. Every other
# case must render the same in both modes.
REQUIRED_CHANGES: dict[str, str] = {
    "unbalanced closing braces leave the text as is": MALFORMED,
    "bracket index syntax is not supported and stays literal": MALFORMED,
    "missing key keeps the placeholder, trailing text kept": MISSING,
    "missing nested key keeps the placeholder, leading text kept": MISSING,
    "both keys missing keeps both placeholders": MISSING,
    "null cast turns the string null into null": NULL,
    "null cast keeps a real null": NULL,
    "null cast inside text renders the word null": NULL,
    "null modifier yields null for a missing key": MISSING,
    "int plus null modifier yields null for a missing key": MISSING,
    "num plus null modifier yields null for a missing key": MISSING,
    "str plus null modifier yields null for a missing key": MISSING,
    "bool plus null modifier yields null for a missing key": MISSING,
    "json plus null modifier on a nested path yields null when missing": MISSING,
    "str cast of a null value gives null": NULL,
    "ignore-empty-str skips an empty value and keeps the placeholder": SKIPPED,
    "ignore-empty-str in text keeps its own placeholder while others resolve": (
        SKIPPED
    ),
    "ignore-empty-str with a missing key keeps the placeholder": MISSING,
    "flag on first alternative: first empty, second missing, placeholder kept": (
        SKIPPED
    ),
    "flag on second alternative: first empty, second missing, placeholder kept": (
        SKIPPED
    ),
    "resolved alternative followed by a missing placeholder that stays": MISSING,
    "resolved alternative followed by an unflagged empty value that renders empty": (
        EMPTY
    ),
    "undefined modifier inside text renders nothing for a missing key": UNDEFINED,
    "undefined modifier on a whole string gives undefined for a missing key": (
        UNDEFINED
    ),
    "undefined modifier on the first of two missing alternatives": UNDEFINED,
    "undefined modifier on the last of two missing alternatives": UNDEFINED,
    "undefined modifier keeps an empty string from the first alternative": EMPTY,
    "str:null first alternative holding null gives null": NULL,
    "str:null first alternative with nothing present gives null": MISSING,
    "deep path holding null with str:null gives null": NULL,
    "deep path missing everywhere with str:null gives null": MISSING,
    "object values with casts; a missing undefined-modifier value drops out": (
        UNDEFINED
    ),
}


def case_params() -> list[Any]:
    return [pytest.param(case, id=case["name"]) for case in CASES]


def expected_value(case: dict[str, Any]) -> Any:
    if case.get("expected_undefined"):
        return None
    return case["expected"]


def test_case_file_has_every_case() -> None:
    names = {case["name"] for case in CASES}

    assert len(CASES) == 133
    assert len(names) == 133
    assert set(REQUIRED_CHANGES) <= names


@pytest.mark.parametrize("case", case_params())
def test_truto_case(case: dict[str, Any]) -> None:
    result = render(case["template"], case["context"])

    expected = expected_value(case)
    assert result == expected
    if case["assertion"] == "toBe":
        # == treats True as 1 and 1 as 1.0; toBe does not.
        assert type(result) is type(expected)
    extra = case.get("extra_assertion")
    if extra is not None:
        assert extra["must_not_have_key"] not in result[extra["path"]]


@pytest.mark.parametrize("case", case_params())
def test_truto_case_compiled(case: dict[str, Any]) -> None:
    compiled = CompiledTemplate(case["template"])

    result = compiled.render(case["context"])

    expected = expected_value(case)
    assert result == expected
    if case["assertion"] == "toBe":
        assert type(result) is type(expected)


@pytest.mark.parametrize("case", case_params())
def test_truto_case_compiled_in_required_mode(case: dict[str, Any]) -> None:
    compiled = CompiledTemplate(case["template"])

    if case["name"] not in REQUIRED_CHANGES:
        assert compiled.render(case["context"], required=True) == expected_value(case)
        return

    error = PlaceholderError
    if REQUIRED_CHANGES[case["name"]] == MALFORMED:
        error = ConfigError
    with pytest.raises(error, match=r"^headers\.x(\.baz)?: "):
        compiled.render(case["context"], required=True, path="headers.x")


@pytest.mark.parametrize("case", case_params())
def test_truto_case_in_required_mode(case: dict[str, Any]) -> None:
    if case["name"] not in REQUIRED_CHANGES:
        result = render(case["template"], case["context"], required=True)

        assert result == expected_value(case)
        return

    error = PlaceholderError
    if REQUIRED_CHANGES[case["name"]] == MALFORMED:
        error = ConfigError
    with pytest.raises(error, match=r"^headers\.x(\.baz)?: "):
        render(case["template"], case["context"], required=True, path="headers.x")


@pytest.mark.parametrize(
    ("template", "expected_path"),
    [
        pytest.param("{{missing}}", "base_url", id="string"),
        pytest.param({"a": {"b": "x {{missing}}"}}, "base_url.a.b", id="nested-object"),
        pytest.param({"a": ["ok", "{{missing}}"]}, "base_url.a.1", id="list-item"),
    ],
)
def test_required_error_names_json_path(template: Any, expected_path: str) -> None:
    with pytest.raises(PlaceholderError) as caught:
        render(template, {}, required=True, path="base_url")

    assert caught.value.path == expected_path
    assert caught.value.placeholder == "missing"


def test_required_mode_uses_default() -> None:
    result = render("{{region?:eu}}.api", {}, required=True)

    assert result == "eu.api"


def test_required_mode_skips_missing_merge_source() -> None:
    template = {"a": 1, "$truto_merge": "{{extra:json}}"}

    result = render(template, {}, required=True)

    assert result == {"a": 1}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("{{context.api_key}}", "key-1", id="context-root"),
        pytest.param("{{api_key}}", "key-1", id="spread-context"),
        pytest.param("{{environment_variables.region}}", "eu", id="environment"),
        pytest.param("{{query.limit:int}}", 50, id="query"),
        pytest.param("{{body.name}}", "Ada", id="body"),
        pytest.param("/users/{{id}}", "/users/42", id="id"),
    ],
)
def test_caller_roots_resolve(template: str, expected: Any) -> None:
    account = {"api_key": "key-1"}
    context = {
        **account,
        "context": account,
        "environment_variables": {"region": "eu"},
        "query": {"limit": "50"},
        "body": {"name": "Ada"},
        "id": 42,
    }

    assert render(template, context) == expected


def test_string_of_digits_stays_a_string() -> None:
    result = render("{{code}}", {"code": "0012"})

    assert result == "0012"


def test_int_cast_drops_leading_zeros() -> None:
    result = render("{{code:int}}", {"code": "0012"})

    assert result == 12


def test_any_cast_keeps_value_type() -> None:
    result = render("{{items:any}}", {"items": [1, 2]})

    assert result == [1, 2]


def test_default_cast_is_text() -> None:
    result = render("{{items}}", {"items": [1, 2]})

    assert result == "1,2"


def test_cast_inside_text_writes_text() -> None:
    result = render("page={{page:int}}", {"page": "3"})

    assert result == "page=3"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(1.5, "1.5", id="decimal"),
        pytest.param(2.0, "2", id="integral-float"),
        pytest.param(1e21, "1e+21", id="large-exponent"),
        pytest.param(1e16, "10000000000000000", id="large-plain"),
        pytest.param(1.5e-7, "1.5e-7", id="small-exponent"),
        pytest.param(0.000001, "0.000001", id="small-plain"),
        pytest.param(-0.0, "0", id="negative-zero"),
        pytest.param(float("inf"), "Infinity", id="infinity"),
        pytest.param(None, "null", id="null"),
        pytest.param(False, "false", id="false"),
        pytest.param([1, None, [2, 3]], "1,,2,3", id="array"),
        pytest.param({"a": 1}, "[object Object]", id="object"),
    ],
)
def test_js_string_formatting(value: Any, expected: str) -> None:
    assert to_js_string(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("0x1A", 26, id="hex"),
        pytest.param("  -12px", -12, id="sign-and-suffix"),
        pytest.param(-1.9, -1, id="truncates-toward-zero"),
        pytest.param(True, True, id="boolean-is-not-a-number"),
    ],
)
def test_int_cast_follows_parse_int(value: Any, expected: Any) -> None:
    result = render("{{v:int}}", {"v": value})

    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("1e3x", 1000, id="exponent-and-suffix"),
        pytest.param("-.5", -0.5, id="leading-point"),
        pytest.param("abc", "abc", id="not-a-number"),
    ],
)
def test_num_cast_follows_parse_float(value: str, expected: Any) -> None:
    assert render("{{v:num}}", {"v": value}) == expected


def test_json_cast_rejects_nan_text() -> None:
    result = render("{{v:json}}", {"v": "NaN"})

    assert result == "NaN"


def test_negative_index_counts_from_end() -> None:
    result = render("{{items.-1.id}}", {"items": [{"id": "a"}, {"id": "b"}]})

    assert result == "b"


def test_index_past_end_is_missing() -> None:
    result = render("{{items.5:null}}", {"items": [1]})

    assert result is None


def test_undefined_list_item_becomes_none() -> None:
    result = render(["{{gone:undefined}}", "x"], {})

    assert result == [None, "x"]


def test_tuple_renders_as_list() -> None:
    result = render(("{{a}}",), {"a": "b"})

    assert result == ["b"]


def test_object_keys_are_not_rendered() -> None:
    result = render({"{{a}}": "{{a}}"}, {"a": "b"})

    assert result == {"{{a}}": "b"}


def test_default_keeps_port() -> None:
    result = render("{{base?:http://127.0.0.1:8080}}/x", {})

    assert result == "http://127.0.0.1:8080/x"


def test_default_with_cast() -> None:
    result = render("{{limit?:25:int}}", {})

    assert result == 25


def test_empty_path_never_matches() -> None:
    # Truto resolves an empty path to the whole context, secrets included.
    result = render("{{ ?:none}}", {"api_key": "secret"})

    assert result == "none"


def test_value_dollar_patterns_are_literal() -> None:
    result = render("token={{token}}", {"token": "a$&b$$c"})

    assert result == "token=a$&b$$c"


def test_inserted_value_is_not_rendered_again() -> None:
    result = render("{{a}} {{b}}", {"a": "{{b}}", "b": "x"})

    assert result == "{{b}} x"


def test_null_modifier_in_text_keeps_value() -> None:
    result = render("id={{id:null}}", {"id": "abc"})

    assert result == "id=abc"


def test_merge_concatenates_lists() -> None:
    template = {"tags": ["a"], "$truto_merge": "{{extra:json}}"}

    result = render(template, {"extra": {"tags": ["b"]}})

    assert result == {"tags": ["a", "b"]}


def test_merge_at_top_level() -> None:
    template = {"a": 1, "$truto_merge": "{{extra:json}}"}

    result = render(template, {"extra": {"b": 2}})

    assert result == {"a": 1, "b": 2}


def test_merge_does_not_change_context() -> None:
    extra = {"nested": {"b": 2}}
    template = {"nested": {"a": 1}, "$truto_merge": "{{extra:json}}"}

    render(template, {"extra": extra})

    assert extra == {"nested": {"b": 2}}


def test_unknown_cast_raises() -> None:
    with pytest.raises(ConfigError, match=r"^query\.x: .*unknown cast 'date'"):
        render("{{v:date}}", {"v": "2024"}, path="query.x")


def test_unknown_cast_raises_for_missing_value() -> None:
    with pytest.raises(ConfigError, match="unknown cast 'date'"):
        render("at {{v:date}}", {})


def test_malformed_placeholder_stays_text() -> None:
    result = render("{{a[0]}}", {"a": ["x"]})

    assert result == "{{a[0]}}"


def test_malformed_placeholder_raises_when_required() -> None:
    with pytest.raises(
        ConfigError, match=r"'\{\{a\[0\]\}\}' is not a valid placeholder"
    ):
        render("{{a[0]}}", {"a": ["x"]}, required=True)


def test_placeholders_in_lists_each_path_once() -> None:
    template = {
        "url": "{{context.base|environment_variables.base}}/x",
        "headers": ["{{context.token}}", "{{context.base}}"],
        "limit": 5,
    }

    paths = placeholders_in(template)

    assert paths == ["context.base", "environment_variables.base", "context.token"]


def test_placeholders_in_plain_text_is_empty() -> None:
    assert placeholders_in({"a": "no placeholders", "b": None}) == []


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        pytest.param("{{ok:int}} and {{fine|other?:x}}", [], id="valid"),
        pytest.param("{{a:date}}", ["unknown cast 'date'"], id="unknown-cast"),
        pytest.param("{{ }}", ["empty path segment"], id="empty-path"),
        pytest.param("{{a..b}}", ["empty path segment"], id="empty-segment"),
        pytest.param("{{a[0]}}", ["is not a valid placeholder"], id="brackets"),
        pytest.param("{{a}", ["is not a valid placeholder"], id="unclosed"),
    ],
)
def test_check_template_reports_problems(template: str, expected: list[str]) -> None:
    problems = check_template(template)

    assert len(problems) == len(expected)
    for problem, fragment in zip(problems, expected, strict=True):
        assert fragment in problem
