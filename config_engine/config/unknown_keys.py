"""Find config keys that the engine does not interpret, with spelling hints.

The models allow keys they do not declare, because Truto configs carry keys
this engine ignores. A misspelled key such as ``error_expresion`` is then
silently ignored as well, so `unknown_keys` lists every undeclared key of a
validated model tree, with the closest declared key as a suggestion.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

# Minimum difflib similarity ratio of a declared key suggested for an unknown one.
_SUGGESTION_CUTOFF = 0.75


def unknown_keys(model: BaseModel) -> Iterator[tuple[str, str]]:
    """Yield (JSON path, message) for each undeclared key under `model`."""
    yield from _walk(model, "")


def declared_keys(model_class: type[BaseModel]) -> list[str]:
    """Return the JSON keys that `model_class` declares, aliases included."""
    return [field.alias or name for name, field in model_class.model_fields.items()]


def _walk(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, BaseModel):
        yield from _model_keys(value, path)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, _join(path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, _join(path, str(index)))


def _model_keys(model: BaseModel, path: str) -> Iterator[tuple[str, str]]:
    known = declared_keys(type(model))
    for key in model.model_extra or {}:
        yield _join(path, key), _unknown_message(key, known)
    for name, field in type(model).model_fields.items():
        yield from _walk(getattr(model, name), _join(path, field.alias or name))


def _unknown_message(key: str, known: list[str]) -> str:
    message = f"unknown key {key!r} is ignored"
    close = difflib.get_close_matches(key, known, n=1, cutoff=_SUGGESTION_CUTOFF)
    if close:
        return f"{message}; did you mean {close[0]!r}?"
    return f"{message}; expected one of {', '.join(sorted(known))}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
