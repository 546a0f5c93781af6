"""Render Truto's ``{{path}}`` placeholders in strings, lists and objects.

A placeholder names a dotted path into the context mapping (``{{a.b.0.c}}``,
where a number indexes a list). Its full grammar is::

    {{ path[:cast[:modifier...]] [| path[:cast...]]... [?: default[:cast]] }}

- Alternatives separated by ``|`` are tried in order; the first path that
  exists wins, even when its value is null.
- Casts: ``str`` (the default), ``int``, ``num``, ``bool``, ``json``,
  ``any``. A cast changes the type only when the placeholder is the whole
  string. Inside text, every value is written as JavaScript's ``String()``
  would write it: ``true``, ``1.5``, ``null``, ``[object Object]``.
- Modifiers: ``null`` renders a missing value as null, and ``undefined``
  drops it, so its key disappears from an object and inside text it renders
  as ``""``. ``ignore-empty-str`` skips alternatives whose value is ``""``.
  Without these a missing value leaves the placeholder text in place.
- ``?:`` gives a default, used when every alternative is missing.
- An object key ``$truto_merge`` holds a placeholder, or a list of them,
  whose object values are deep-merged into the object (lists concatenate).

This follows Truto's ``replace-placeholders`` npm package
(github.com/trutohq/replace-placeholders), and its test cases pass
unchanged. The deliberate differences:

- With ``required=True`` a placeholder that resolves to nothing (missing,
  null or ``""``, with no default) raises PlaceholderError, and text that
  looks like a broken placeholder raises ConfigError.
- An empty path (``{{ }}`` or ``{{?:x}}``) never matches. Truto resolves it
  to the whole context, which would leak every credential into the output.
- Values are inserted as they are. Truto's ``String.replace`` expands
  ``$&`` and ``$$`` inside a value, and it rescans inserted text for the
  next placeholder.
- ``:null`` inside text keeps a non-null value, where Truto writes ``null``.
- A default keeps a trailing ``:text`` unless ``text`` is a cast name, so
  ``{{base?:http://127.0.0.1:8080}}`` works.
- An unknown cast raises ConfigError even when the value is missing, where
  Truto raises only when it finds a value.
- ``undefined`` has no Python value: a top-level result is None, a list item
  is None (as in ``JSON.stringify``), and an object key is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import Any, Final

from config_engine.display import short_repr
from config_engine.errors import ConfigError, PlaceholderError
from config_engine.js_values import _cast

# Re-exported, because callers import to_js_string from this module.
from config_engine.js_values import to_js_string as to_js_string

MERGE_KEY: Final = "$truto_merge"
CASTS: Final = frozenset(
    {"str", "int", "num", "bool", "json", "any", "null", "undefined"}
    | {"ignore-empty-str"}
)

# The character class of Truto's placeholder pattern: ASCII word characters,
# "-", ".", "/", "|", ":", "?" and whitespace. Brackets are not in it, so
# "{{a[0]}}" is left as text.
_PLACEHOLDER = re.compile(r"\{\{([\w\-./|:?\s]+)\}\}", re.ASCII)
# A colon starts a cast or modifier only when a word character or a space
# follows it, so "a:" stays a path.
_MODIFIER_SPLIT = re.compile(r":(?=[\w\s])", re.ASCII)
_INTEGER = re.compile(r"-?\d+", re.ASCII)


class _Undefined:
    """JavaScript's ``undefined``: a value that drops out of its container."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "undefined"


_UNDEFINED: Final = _Undefined()
_MISSING: Final = object()


@dataclass(frozen=True, slots=True)
class _Alternative:
    path: str
    # Each key with its list index, if it is an integer. None for a path
    # with an empty segment, which never matches.
    segments: tuple[tuple[str, int | None], ...] | None
    cast: str


@dataclass(frozen=True, slots=True)
class _Placeholder:
    text: str
    inner: str
    alternatives: tuple[_Alternative, ...]
    default: str | None
    default_cast: str
    null_allowed: bool
    undefined_allowed: bool
    ignore_empty: bool


@dataclass(frozen=True, slots=True)
class _Template:
    parts: tuple[str | _Placeholder, ...]
    whole: _Placeholder | None
    problems: tuple[str, ...]


def render(
    template: Any,
    context: Mapping[str, Any],
    *,
    required: bool = False,
    path: str = "",
) -> Any:
    """Return `template` with every placeholder replaced from `context`.

    Strings, lists and dicts are walked recursively; other values come back
    unchanged. `context` keys are the roots of placeholder paths, so callers
    pass e.g. ``{**account, "context": account, "query": query, "id": id}``.
    With `required` (for URLs and credentials) a placeholder that resolves
    to nothing raises PlaceholderError naming `path`, the config JSON path
    of `template`. An unknown cast raises ConfigError in both modes.
    """
    value = _render_value(template, context, required, path)
    return None if value is _UNDEFINED else value


class CompiledTemplate:
    """A template prepared once so that each render is a walk of lookups.

    `render` returns what `render(template, context, ...)` returns, a fresh
    container each time. The template is read once, at compile time, so a
    later change to the template object is not seen. Compile only templates
    that are treated as read-only, such as a config that the engine runs.
    """

    __slots__ = ("_renderer",)

    def __init__(self, template: Any) -> None:
        self._renderer = _compile_value(template)

    def render(
        self, context: Mapping[str, Any], *, required: bool = False, path: str = ""
    ) -> Any:
        """Render against `context`; see `render` for `required` and `path`."""
        value = self._renderer(context, required, path)
        return None if value is _UNDEFINED else value


def placeholders_in(template: Any) -> list[str]:
    """Return the context paths that `template` refers to, in order, once each.

    Every alternative of a placeholder counts, so ``{{a|b.c}}`` gives
    ``["a", "b.c"]``. Object keys are not templates and are not searched.
    """
    found: dict[str, None] = {}
    for text in _strings_in(template):
        for part in _parse(text).parts:
            if isinstance(part, _Placeholder):
                for alternative in part.alternatives:
                    found.setdefault(alternative.path, None)
    return list(found)


def check_template(text: str) -> list[str]:
    """Return what is wrong with the placeholders of one template string.

    Each message names the placeholder: unknown casts, empty paths, and
    ``{{`` that does not start a valid placeholder (e.g. ``{{a[0]}}``).
    An empty list means the string renders as intended.
    """
    if "{{" not in text:
        return []
    return list(_parse(text).problems)


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings_in(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _strings_in(item)]
    return []


# A JSON path is built only when an error needs it: the root string, or a
# (parent, key) pair for each level below it.
_JsonPath = str | tuple[Any, str | int]
# A compiled template. It takes the context, the required flag and the JSON
# path of the template, and returns the rendered value.
_Renderer = Callable[[Mapping[str, Any], bool, _JsonPath], Any]
_PLAIN_SCALARS: Final = frozenset({int, float, bool, type(None)})


def _path_text(path: _JsonPath) -> str:
    keys: list[str] = []
    while isinstance(path, tuple):
        path, key = path
        keys.append(str(key))
    if path:
        keys.append(path)
    return ".".join(reversed(keys))


def _render_value(
    value: Any, context: Mapping[str, Any], required: bool, path: _JsonPath
) -> Any:
    kind = type(value)
    if kind is str:
        if "{{" not in value:
            return value
        return _render_string(value, context, required, path)
    if kind is dict:
        return _render_object(value, context, required, path)
    if kind is list:
        return _render_list(value, context, required, path)
    if kind in _PLAIN_SCALARS:
        return value
    if isinstance(value, str):
        return _render_value(str(value), context, required, path)
    if isinstance(value, Mapping):
        return _render_object(value, context, required, path)
    if isinstance(value, tuple):
        return _render_list(value, context, required, path)
    return value


def _compile_value(value: Any) -> _Renderer:
    kind = type(value)
    if _is_constant(value):
        return partial(_constant, value)
    if kind is str:
        return _compile_string(value)
    if kind is dict and MERGE_KEY not in value:
        entries = tuple(_compile_entry(key, item) for key, item in value.items())
        return partial(_render_compiled_object, entries)
    if kind is list:
        items = tuple(_compile_value(item) for item in value)
        return partial(_render_compiled_list, items)
    # Merges, str subclasses, other mappings and tuples take the general walk,
    # which reads the template on every render.
    return partial(_render_value, value)


def _is_constant(value: Any) -> bool:
    kind = type(value)
    return (kind is str and "{{" not in value) or kind in _PLAIN_SCALARS


# An object entry is a key with a renderer, or a key with None and a constant.
_Entry = tuple[str, _Renderer | None, Any]


def _compile_entry(key: str, value: Any) -> _Entry:
    if _is_constant(value):
        return key, None, value
    return key, _compile_value(value), None


def _constant(
    value: Any, context: Mapping[str, Any], required: bool, path: _JsonPath
) -> Any:
    return value


def _render_compiled_object(
    entries: tuple[_Entry, ...],
    context: Mapping[str, Any],
    required: bool,
    path: _JsonPath,
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, renderer, constant in entries:
        if renderer is None:
            result[key] = constant
            continue
        rendered = renderer(context, required, (path, key))
        if rendered is not _UNDEFINED:
            result[key] = rendered
    return result


def _render_compiled_list(
    items: tuple[_Renderer, ...],
    context: Mapping[str, Any],
    required: bool,
    path: _JsonPath,
) -> list[Any]:
    result = []
    for index, renderer in enumerate(items):
        rendered = renderer(context, required, (path, index))
        result.append(None if rendered is _UNDEFINED else rendered)
    return result


def _render_list(
    items: list[Any] | tuple[Any, ...],
    context: Mapping[str, Any],
    required: bool,
    path: _JsonPath,
) -> list[Any]:
    result = []
    for index, item in enumerate(items):
        rendered = _render_value(item, context, required, (path, index))
        result.append(None if rendered is _UNDEFINED else rendered)
    return result


def _render_object(
    template: Mapping[str, Any],
    context: Mapping[str, Any],
    required: bool,
    path: _JsonPath,
) -> dict[str, Any]:
    has_merge = MERGE_KEY in template
    result: dict[str, Any] = {}
    for key, value in template.items():
        if has_merge and key == MERGE_KEY:
            continue
        if type(value) is str:
            if "{{" not in value:
                result[key] = value
                continue
            rendered = _render_string(value, context, required, (path, key))
        else:
            rendered = _render_value(value, context, required, (path, key))
        if rendered is not _UNDEFINED:
            result[key] = rendered
    if has_merge:
        result = _apply_merge(result, template[MERGE_KEY], context, (path, MERGE_KEY))
    return result


def _apply_merge(
    result: dict[str, Any], sources: Any, context: Mapping[str, Any], path: _JsonPath
) -> dict[str, Any]:
    # A merge source is optional by nature: a missing one is skipped, even
    # in required mode, as are sources that do not render to an object.
    if not isinstance(sources, list):
        sources = [sources]
    for source in sources:
        merged = _render_value(source, context, False, path)
        if isinstance(merged, dict):
            result = _merge_objects(result, merged)
    return result


def _merge_objects(target: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge like the deepmerge npm package: lists concatenate."""
    result = dict(target)
    for key, value in source.items():
        current = result.get(key, _MISSING)
        if isinstance(current, dict) and isinstance(value, dict):
            result[key] = _merge_objects(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            result[key] = current + value
        else:
            result[key] = value
    return result


def _render_string(
    text: str, context: Mapping[str, Any], required: bool, path: _JsonPath
) -> Any:
    return _compile_string(text)(context, required, path)


@lru_cache(maxsize=8192)
def _compile_string(text: str) -> _Renderer:
    """Compile one template string into a renderer, once per distinct text.

    The renderer keeps no state between calls, so two contexts rendered
    through the same text never see each other's values.
    """
    template = _parse(text)
    if template.problems:
        return partial(_render_with_problems, template)
    if template.whole is not None:
        return _compile_placeholder(template.whole, whole=True)
    parts = tuple(
        part if isinstance(part, str) else _compile_placeholder(part, whole=False)
        for part in template.parts
    )
    return partial(_render_text, parts)


def _render_with_problems(
    template: _Template, context: Mapping[str, Any], required: bool, path: _JsonPath
) -> Any:
    _raise_problem(template, required, path)
    if template.whole is not None:
        return _resolve(template.whole, context, True, required, path)
    pieces: list[str] = []
    for part in template.parts:
        if isinstance(part, str):
            pieces.append(part)
            continue
        value = _resolve(part, context, False, required, path)
        pieces.append(value if type(value) is str else to_js_string(value))
    return "".join(pieces)


def _render_text(
    parts: tuple[str | _Renderer, ...],
    context: Mapping[str, Any],
    required: bool,
    path: _JsonPath,
) -> str:
    pieces: list[str] = []
    for part in parts:
        if type(part) is str:
            pieces.append(part)
            continue
        value = part(context, required, path)  # type: ignore[operator]
        pieces.append(value if type(value) is str else to_js_string(value))
    return "".join(pieces)


def _compile_placeholder(placeholder: _Placeholder, *, whole: bool) -> _Renderer:
    """Return a renderer for one placeholder, specialised for the common shape.

    Most placeholders are one plain path with the default ``str`` cast, no
    default and no modifiers. Their renderer skips the general loop over
    alternatives, and its result is the same whole or inside text. Every
    other shape goes through `_resolve`.
    """
    alternatives = placeholder.alternatives
    is_plain = (
        len(alternatives) == 1
        and alternatives[0].segments is not None
        and alternatives[0].cast == "str"
        and placeholder.default is None
        and not placeholder.null_allowed
        and not placeholder.undefined_allowed
        and not placeholder.ignore_empty
    )
    if not is_plain:
        return partial(_resolve_general, placeholder, whole)
    segments = alternatives[0].segments
    assert segments is not None
    keys = tuple(key for key, _ in segments)

    def render_plain(
        context: Mapping[str, Any], required: bool, path: _JsonPath
    ) -> Any:
        # Plain dicts are read inline, and any other container goes through
        # `_lookup`.
        value: Any = context
        for key in keys:
            if type(value) is not dict:
                value = _lookup(context, segments)
                break
            value = value.get(key, _MISSING)
            if value is _MISSING:
                break
        if value is _MISSING:
            if required:
                raise PlaceholderError(placeholder.inner, _path_text(path))
            return placeholder.text
        if type(value) is not str and value is not None:
            value = to_js_string(value)
        if required and (value is None or value == ""):
            raise PlaceholderError(placeholder.inner, _path_text(path))
        return value

    return render_plain


def _resolve_general(
    placeholder: _Placeholder,
    whole: bool,
    context: Mapping[str, Any],
    required: bool,
    path: _JsonPath,
) -> Any:
    return _resolve(placeholder, context, whole, required, path)


def _raise_problem(template: _Template, required: bool, path: _JsonPath) -> None:
    # Broken placeholders stay as text unless the output must be complete,
    # but an unknown cast is always an error.
    for problem in template.problems:
        if required or "unknown cast" in problem:
            raise ConfigError(problem, _path_text(path))


def _resolve(
    placeholder: _Placeholder,
    context: Mapping[str, Any],
    whole: bool,
    required: bool,
    path: _JsonPath,
) -> Any:
    for alternative in placeholder.alternatives:
        value = _lookup(context, alternative.segments)
        if value is _MISSING or (value == "" and placeholder.ignore_empty):
            continue
        if alternative.cast != "str" or type(value) is not str:
            value = _cast(value, alternative.cast, whole)
        if required and (value is None or value == ""):
            raise PlaceholderError(placeholder.inner, _path_text(path))
        return value
    if placeholder.default is not None:
        return _cast(placeholder.default, placeholder.default_cast, whole)
    if required:
        raise PlaceholderError(placeholder.inner, _path_text(path))
    if placeholder.undefined_allowed:
        return _UNDEFINED if whole else ""
    if placeholder.null_allowed:
        return None
    return placeholder.text


def _lookup(context: Any, segments: tuple[tuple[str, int | None], ...] | None) -> Any:
    if segments is None:
        return _MISSING
    value = context
    for key, index in segments:
        if type(value) is dict or isinstance(value, Mapping):
            value = value.get(key, _MISSING)
            if value is _MISSING:
                return _MISSING
        elif index is not None and isinstance(value, list | tuple):
            if not -len(value) <= index < len(value):
                return _MISSING
            value = value[index]
        else:
            return _MISSING
    return value


@lru_cache(maxsize=8192)
def _parse(text: str) -> _Template:
    parts: list[str | _Placeholder] = []
    problems: list[str] = []
    position = 0
    for match in _PLACEHOLDER.finditer(text):
        parts.append(text[position : match.start()])
        placeholder = _parse_placeholder(match.group(), match.group(1))
        problems.extend(_placeholder_problems(placeholder))
        parts.append(placeholder)
        position = match.end()
    parts.append(text[position:])
    literal = [part for part in parts if isinstance(part, str) and part]
    problems.extend(_broken_placeholder(part) for part in literal if "{{" in part)
    whole = parts[1] if len(parts) == 3 and parts[0] == parts[2] == "" else None
    assert whole is None or isinstance(whole, _Placeholder)
    return _Template(
        tuple(part for part in parts if part != ""), whole, tuple(problems)
    )


def _parse_placeholder(text: str, inner: str) -> _Placeholder:
    choices, has_default, default_text = inner.partition("?:")
    alternatives = tuple(_parse_alternative(part) for part in choices.split("|"))
    modifiers = {
        modifier
        for part in choices.split("|")
        for modifier in _split_modifiers(part)[1:]
    }
    default, default_cast = (
        _parse_default(default_text) if has_default else (None, "str")
    )
    return _Placeholder(
        text=text,
        inner=inner.strip(),
        alternatives=alternatives,
        default=default,
        default_cast=default_cast,
        null_allowed="null" in modifiers,
        undefined_allowed="undefined" in modifiers,
        ignore_empty="ignore-empty-str" in modifiers,
    )


def _split_modifiers(part: str) -> list[str]:
    return [piece.strip() for piece in _MODIFIER_SPLIT.split(part)]


def _parse_alternative(part: str) -> _Alternative:
    path, *modifiers = _split_modifiers(part)
    keys = path.split(".")
    segments = None
    if "" not in keys:
        segments = tuple(
            (key, int(key) if _INTEGER.fullmatch(key) else None) for key in keys
        )
    return _Alternative(path, segments, modifiers[0] if modifiers else "str")


def _parse_default(text: str) -> tuple[str | None, str]:
    value, colon, cast = text.rpartition(":")
    if colon and cast.strip() in CASTS:
        text, cast_name = value, cast.strip()
    else:
        cast_name = "str"
    # As in Truto, an empty default is no default.
    return (text or None), cast_name


def _placeholder_problems(placeholder: _Placeholder) -> list[str]:
    problems = []
    for alternative in placeholder.alternatives:
        if alternative.segments is None:
            problems.append(
                f"placeholder {placeholder.text!r} has an empty path segment in "
                f"{alternative.path!r}; write a dotted path such as 'context.api_key'"
            )
    modifiers = [
        modifier
        for part in placeholder.inner.partition("?:")[0].split("|")
        for modifier in _split_modifiers(part)[1:]
    ]
    for modifier in modifiers:
        if modifier not in CASTS:
            problems.append(
                f"placeholder {placeholder.text!r} has an unknown cast {modifier!r}; "
                f"expected one of {', '.join(sorted(CASTS))}"
            )
    return problems


def _broken_placeholder(text: str) -> str:
    start = text.index("{{")
    end = text.find("}}", start)
    fragment = text[start:] if end == -1 else text[start : end + 2]
    return (
        f"{short_repr(fragment)} is not a valid placeholder; a placeholder is "
        "'{{path}}' with a dotted path of letters, digits, '_', '-' and '.' "
        "(write 'a.0.b', not 'a[0].b')"
    )
