"""Check a config file: the logic of ``graphql-api config check FILE``.

The file contains one JSON object in one of three shapes:

- an integration config;
- an environment integration update body, ``{"override": {...}}``;
- a config with its override, ``{"config": {...}, "override": {...}}``.

Problem paths start with ``config.`` or ``override.`` in the last two shapes,
so that they point into the file.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from config_engine.config.integration import IntegrationConfig
from config_engine.config.unknown_keys import declared_keys
from config_engine.config.validation import (
    MAX_DEPTH,
    ConfigProblem,
    parse_config,
    validate_config,
    validate_override,
)
from config_engine.display import short_repr

# The keys of which a config's top level must contain at least one.
CONFIG_KEYS = frozenset(declared_keys(IntegrationConfig))

__all__ = [
    "ConfigProblem",
    "check_document",
    "check_file",
    "parse_config",
    "validate_config",
    "validate_override",
]


def check_file(path: Path) -> list[ConfigProblem]:
    """Return every problem of the config file at `path`; empty when it is valid.

    An unreadable file or invalid JSON gives one problem at the root, whose
    message names the line and column of a JSON syntax error.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        return [ConfigProblem("", f"cannot read {str(path)!r}: {error.strerror}")]
    except UnicodeDecodeError as error:
        return [ConfigProblem("", f"the file is not UTF-8 text: {error.reason}")]
    try:
        document = json.loads(text)
    except RecursionError:
        message = f"the JSON is nested deeper than {MAX_DEPTH} levels; flatten it"
        return [ConfigProblem("", message)]
    except json.JSONDecodeError as error:
        return [
            ConfigProblem(
                "",
                f"invalid JSON at line {error.lineno}, column {error.colno}: "
                f"{error.msg}",
            )
        ]
    return check_document(document)


def check_document(document: Any) -> list[ConfigProblem]:
    """Return every problem of a parsed config document in one of the three shapes.

    Unknown keys are warnings. A non-empty object whose top level has none of
    the config keys, such as a wrapper around an example, is not a config,
    which is an error.
    """
    if isinstance(document, dict) and set(document) == {"override"}:
        return _prefixed(
            "override", validate_override(document["override"], warnings=True)
        )
    if isinstance(document, dict) and isinstance(document.get("config"), dict):
        problems = _prefixed(
            "config", validate_config(document["config"], warnings=True)
        )
        if "override" in document:
            problems += _prefixed(
                "override", validate_override(document["override"], warnings=True)
            )
        return problems
    if isinstance(document, dict) and document and not CONFIG_KEYS & set(document):
        return [ConfigProblem("", _not_a_config(document))]
    return validate_config(document, warnings=True)


def _not_a_config(document: dict[str, Any]) -> str:
    keys = [str(key) for key in document]
    found = ", ".join(short_repr(key, 40) for key in keys[:5])
    message = (
        f"not an integration config: none of its top-level keys ({found}) is a "
        "config key such as 'base_url', 'resources' or 'credentials'"
    )
    hints = [
        f"{short_repr(match[0])} for {short_repr(key, 40)}"
        for key in keys[:20]
        if (match := difflib.get_close_matches(key, CONFIG_KEYS, n=1, cutoff=0.75))
    ]
    if hints:
        return f"{message}; did you mean {', '.join(hints)}?"
    return f'{message}; a config with its override goes under "config" and "override"'


def _prefixed(prefix: str, problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return [
        ConfigProblem(
            f"{prefix}.{problem.path}" if problem.path else prefix, problem.message
        )
        for problem in problems
    ]
