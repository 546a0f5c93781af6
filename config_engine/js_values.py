"""Convert values the way JavaScript does, for Truto's placeholder casts.

Truto's ``replace-placeholders`` package runs on JavaScript, so a value
written into text follows ``String()`` and the ``int`` and ``num`` casts
follow ``parseInt`` and ``parseFloat``. JavaScript has one number type, so
an integral result comes back as a Python int.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

_PARSE_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|\d+)", re.ASCII)
_PARSE_FLOAT = re.compile(
    r"[+-]?(?:Infinity|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)", re.ASCII
)
_MAX_SAFE_INTEGER = 2**53


def _cast(value: Any, cast: str, whole: bool) -> Any:
    """Convert a found value the way Truto's ``typeCast`` does."""
    if value is None:
        return None
    if cast == "str":
        return value if isinstance(value, str) else to_js_string(value)
    if isinstance(value, str):
        value = value.strip()
    if cast == "int":
        integer = _parse_int(value)
        return value if integer is None else integer
    if cast == "num":
        number = _parse_float(value)
        return value if number is None else number
    if cast == "bool":
        if value is True or value == "true":
            return True
        if value is False or value == "false":
            return False
        return value
    if cast == "json":
        return _parse_json(value) if whole and isinstance(value, str) else value
    if cast == "null" and value == "null":
        return None
    return value


def _parse_int(value: Any) -> int | None:
    """Read an integer like JavaScript's ``parseInt``, or None for NaN."""
    if type(value) is int:
        return value
    if type(value) is float and abs(value) < 1e21:
        return int(value) if value == value else None
    text = value if isinstance(value, str) else to_js_string(value)
    match = _PARSE_INT.match(text.lstrip())
    if match is None:
        return None
    sign, digits = match.groups()
    number = int(digits, 16) if digits[:2] in ("0x", "0X") else int(digits)
    return -number if sign == "-" else number


def _parse_float(value: Any) -> int | float | None:
    """Read a number like JavaScript's ``parseFloat``, or None for NaN."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _plain_number(float(value)) if isinstance(value, float) else value
    text = value if isinstance(value, str) else to_js_string(value)
    match = _PARSE_FLOAT.match(text.lstrip())
    if match is None:
        return None
    return _plain_number(float(match.group().replace("Infinity", "inf")))


def _plain_number(number: float) -> int | float:
    # JavaScript has one number type. An integral value comes back as an int
    # so that it prints as "1" and not "1.0" in URLs and bodies.
    if number.is_integer() and abs(number) < _MAX_SAFE_INTEGER:
        return int(number)
    return number


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return text


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def to_js_string(value: Any) -> str:
    """Return `value` as JavaScript's ``String(value)`` writes it."""
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_number_text(value)
    if isinstance(value, Mapping):
        return "[object Object]"
    if isinstance(value, list | tuple):
        # Array.prototype.join writes null and undefined items as "".
        return ",".join("" if item is None else to_js_string(item) for item in value)
    return str(value)


def _js_number_text(number: float) -> str:
    """Format a float with JavaScript's Number::toString rules."""
    if number != number:
        return "NaN"
    if number in (float("inf"), float("-inf")):
        return "Infinity" if number > 0 else "-Infinity"
    if number.is_integer() and abs(number) < 1e21:
        return str(int(number))
    sign, digit_tuple, exponent = Decimal(repr(number)).as_tuple()
    digits = "".join(map(str, digit_tuple)).rstrip("0") or "0"
    assert isinstance(exponent, int)
    # `point` is where the decimal point goes, counted from the first digit.
    point = exponent + len("".join(map(str, digit_tuple)))
    prefix = "-" if sign else ""
    if len(digits) <= point <= 21:
        return prefix + digits + "0" * (point - len(digits))
    if 0 < point <= 21:
        return f"{prefix}{digits[:point]}.{digits[point:]}"
    if -6 < point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    mantissa = digits[0] + (f".{digits[1:]}" if len(digits) > 1 else "")
    return f"{prefix}{mantissa}e{'+' if point > 0 else '-'}{abs(point - 1)}"
