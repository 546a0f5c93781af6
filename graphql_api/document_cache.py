"""Bounded LRU caches of parsed documents and of passed validations.

Clients send the same few operation texts over and over, so the server
parses each text once and validates it once against the standard rules.
Both caches are keyed by the query text:

- `DocumentCache`, a schema extension, hands strawberry the cached
  document before it parses. A text that fails to parse is not cached, and
  strawberry parses it again to report the error as usual.
- `validate_cached` runs graphql-core's validation and caches only a
  document that passed, so that cached error objects are never shared
  between responses. Per-request checks, such as the cost limits of
  `graphql_api.security.limits`, still run every time.

Strawberry 0.341 ships `ParserCache` and `ValidationCache` extensions.
`ParserCache` raises a syntax error from its hook, outside strawberry's own
handling, so the error would lose its GRAPHQL_PARSE_FAILED code.
`ValidationCache` stores the validation result itself, which makes the cost
limits of the same step never run.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from graphql import DocumentNode, GraphQLError, GraphQLSchema, parse
from graphql.validation import ASTValidationRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

# Entries per cache. A parsed document of a typical dashboard query takes a
# few tens of kilobytes, so a full cache is an estimated 10 to 30 MB.
MAX_ENTRIES = 512
# Query text that one cache keeps in all, in characters. Without it, 512
# texts padded to the body limit would keep gigabytes of parsed documents.
# In one measurement, 600 distinct texts of 100 KB grew the server by about
# 140 MB before the entry limit stopped the growth.
MAX_TEXT_CHARACTERS = 8 * 1024 * 1024

ValueT = TypeVar("ValueT")


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """Counters of one cache."""

    hits: int
    misses: int
    size: int
    max_size: int


class LRUCache(Generic[ValueT]):
    """A thread-safe mapping that drops its least recently used entries when full.

    It is full at `max_size` entries, or when the weights given to `put`
    (the query text's length, for the caches here) add up to more than
    `max_weight`. An entry heavier than `max_weight` is not stored.
    """

    def __init__(self, max_size: int, max_weight: int | None = None) -> None:
        self.max_size = max_size
        self.max_weight = max_weight
        self._entries: OrderedDict[Hashable, ValueT] = OrderedDict()
        self._weights: dict[Hashable, int] = {}
        self._weight = 0
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def get(self, key: Hashable) -> ValueT | None:
        """Return the entry of `key` and mark it as used, or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self._misses += 1
                return None
            self._hits += 1
            self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, value: ValueT, weight: int = 0) -> None:
        """Store an entry, dropping the least recently used ones when full."""
        if self.max_weight is not None and weight > self.max_weight:
            return
        with self._lock:
            self._weight += weight - self._weights.get(key, 0)
            self._weights[key] = weight
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_size or (
                self.max_weight is not None and self._weight > self.max_weight
            ):
                dropped, _value = self._entries.popitem(last=False)
                self._weight -= self._weights.pop(dropped)

    def info(self) -> CacheInfo:
        """Return the hit and miss counters and the current size."""
        with self._lock:
            return CacheInfo(
                self._hits, self._misses, len(self._entries), self.max_size
            )

    def clear(self) -> None:
        """Drop every entry and reset the counters."""
        with self._lock:
            self._entries.clear()
            self._weights.clear()
            self._weight = 0
            self._hits = self._misses = 0


documents: LRUCache[DocumentNode] = LRUCache(MAX_ENTRIES, MAX_TEXT_CHARACTERS)
validations: LRUCache[bool] = LRUCache(MAX_ENTRIES, MAX_TEXT_CHARACTERS)


def parse_cached(query: str, parse_options: Mapping[str, Any]) -> DocumentNode:
    """Parse `query`, or return the document parsed earlier with the same options.

    Raises GraphQLError like `graphql.parse` for an invalid document, which
    is then not cached.
    """
    key = (query, tuple(sorted(parse_options.items())))
    document = documents.get(key)
    if document is None:
        document = parse(query, **parse_options)
        documents.put(key, document, len(query))
    return document


def validate_cached(
    query: str | None,
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: Sequence[type[ASTValidationRule]],
) -> list[GraphQLError]:
    """Validate `document`, the parsed `query`, unless the same text passed before.

    The key includes `rules`, which change when introspection is turned off.
    A document without its text is validated every time. Returns the
    validation errors, an empty list when the document is valid.
    """
    if query is None:
        return validate_document(schema, document, tuple(rules))
    key = (query, tuple(rules))
    if validations.get(key):
        return []
    errors = validate_document(schema, document, tuple(rules))
    if not errors:
        validations.put(key, True, len(query))
    return errors


class DocumentCache(SchemaExtension):
    """Give strawberry the cached document of the query text before it parses."""

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query and context.graphql_document is None:
            # On a syntax error strawberry parses the text again and reports it.
            with contextlib.suppress(GraphQLError):
                context.graphql_document = parse_cached(
                    context.query, context.parse_options
                )
        yield
