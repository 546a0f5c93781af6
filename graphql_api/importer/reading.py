"""Read import files and split them into raw records of a known kind.

A file contains one of the shapes that Truto's admin API returns: a bare list
of records, a list envelope ``{"result": [...], "next_cursor": ...}``, one
record on its own, or an object with the keys ``integrations``,
``environment_integrations`` and ``integrated_accounts``, each a list or a
list envelope. In a bare list or an envelope, the fields tell each record's
kind.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson

from graphql_api.importer.problems import ImportProblem


class RecordKind(StrEnum):
    INTEGRATION = "integration"
    ENVIRONMENT_INTEGRATION = "environment integration"
    INTEGRATED_ACCOUNT = "integrated account"


GROUP_KEYS = {
    "integrations": RecordKind.INTEGRATION,
    "environment_integrations": RecordKind.ENVIRONMENT_INTEGRATION,
    "integrated_accounts": RecordKind.INTEGRATED_ACCOUNT,
}

# Truto's list endpoints use "result"; some reference pages write "results".
_ENVELOPE_KEYS = ("result", "results")

_EXPECTED_SHAPES = (
    'expected a list of records, a {"result": [...]} list envelope, one record, '
    "or an object with integrations, environment_integrations or "
    "integrated_accounts"
)


@dataclass(frozen=True, slots=True)
class RawRecord:
    """One JSON object from an import file, with its kind and JSON path."""

    kind: RecordKind
    data: dict[str, Any]
    file: str
    location: str

    def field_location(self, field: str) -> str:
        """Return the JSON path of one of this record's fields."""
        return f"{self.location}.{field}" if self.location else field


@dataclass
class ReadResult:
    """The records read from a set of files, and the problems found."""

    records: list[RawRecord]
    problems: list[ImportProblem]


def read_files(paths: Iterable[Path]) -> ReadResult:
    """Read and parse each file, collecting records and problems."""
    result = ReadResult([], [])
    for path in paths:
        document = _load(path, result.problems)
        if document is not None:
            read_document(document, str(path), result)
    return result


def _load(path: Path, problems: list[ImportProblem]) -> Any:
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        problems.append(ImportProblem(str(path), "", "file not found"))
        return None
    except OSError as error:
        message = f"cannot be read: {error.strerror or error}"
        problems.append(ImportProblem(str(path), "", message))
        return None
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as error:
        message = f"invalid JSON: {error}"
        problems.append(ImportProblem(str(path), "", message))
        return None


def read_document(document: Any, file: str, result: ReadResult) -> None:
    """Add the records of one parsed JSON document to `result`."""
    if isinstance(document, list):
        _read_list(document, file, "", None, result)
    elif isinstance(document, dict) and GROUP_KEYS.keys() & document.keys():
        for key, kind in GROUP_KEYS.items():
            if key in document:
                _read_group(document[key], file, key, kind, result)
    elif isinstance(document, dict) and _envelope_key(document):
        key = _envelope_key(document)
        _read_list(document[key], file, key, None, result)
    elif isinstance(document, dict):
        _read_one(document, file, "", None, result)
    else:
        result.problems.append(ImportProblem(file, "", _EXPECTED_SHAPES))


def _envelope_key(document: dict[str, Any]) -> str:
    for key in _ENVELOPE_KEYS:
        if isinstance(document.get(key), list):
            return key
    return ""


def _read_group(
    value: Any, file: str, key: str, kind: RecordKind, result: ReadResult
) -> None:
    if isinstance(value, dict) and _envelope_key(value):
        envelope_key = _envelope_key(value)
        _read_list(value[envelope_key], file, f"{key}.{envelope_key}", kind, result)
    elif isinstance(value, list):
        _read_list(value, file, key, kind, result)
    else:
        message = f"expected a list of {kind.value} records or a list envelope"
        result.problems.append(ImportProblem(file, key, message))


def _read_list(
    items: list[Any],
    file: str,
    location: str,
    kind: RecordKind | None,
    result: ReadResult,
) -> None:
    for index, item in enumerate(items):
        _read_one(item, file, f"{location}[{index}]", kind, result)


def _read_one(
    item: Any,
    file: str,
    location: str,
    kind: RecordKind | None,
    result: ReadResult,
) -> None:
    if not isinstance(item, dict):
        message = f"{type(item).__name__} is invalid: expected a record object"
        result.problems.append(ImportProblem(file, location, message))
        return
    kind = kind or infer_kind(item)
    if kind is None:
        message = (
            "the kind of record is unknown: expected an integration (name, "
            "config), an environment integration (integration_id, override) or "
            "an integrated account (tenant_id, environment_integration_id)"
        )
        result.problems.append(ImportProblem(file, location, message))
        return
    result.records.append(RawRecord(kind, item, file, location))


def infer_kind(record: dict[str, Any]) -> RecordKind | None:
    """Tell a record's kind from the fields that only that kind has."""
    if "tenant_id" in record or "environment_integration_id" in record:
        return RecordKind.INTEGRATED_ACCOUNT
    install_fields = ("integration_id", "override", "show_in_catalog", "is_enabled")
    if any(field in record for field in install_fields):
        return RecordKind.ENVIRONMENT_INTEGRATION
    if "config" in record and "name" in record:
        return RecordKind.INTEGRATION
    return None
