"""The schema extension that bounds each operation before it runs.

`QueryLimits` checks, in this order and before any resolver runs:

1. the token count, while parsing (graphql-core stops past the limit);
2. the standard validation rules, plus a rule that rejects ``__schema`` and
   ``__type`` when introspection is off;
3. the depth, aliases, introspection nesting and node cost measured by
   `graphql_api.security.cost`.

A request over a limit gets one error with ``extensions.code``
GRAPHQL_VALIDATION_FAILED (GRAPHQL_PARSE_FAILED for tokens), and no SQL
statement runs for it. Every measured query and mutation reports its cost
in the response as ``extensions.cost = {"requestedNodes": n, "maxNodes":
m}``; subscription events do not repeat it.

The limits come from `current_security_settings`, which the security
middleware sets for each request from the server's settings.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from graphql_api.document_cache import validate_cached
from graphql_api.security.cost import OperationSize, measure_operation
from graphql_api.security.settings import SecuritySettings

logger = logging.getLogger("graphql_api.security")

# Lists that one introspection path may nest: GraphiQL's query needs
# `types { fields { args } }`.
MAX_INTROSPECTION_LISTS = 3

_DEFAULT_SETTINGS = SecuritySettings()
_settings: ContextVar[SecuritySettings] = ContextVar("security_settings")
# graphql-core's whole message when it stops validating a document.
ABORTED_MESSAGE = "Validation aborted."
# " Did you mean 'x', 'y', or 'z'?" as graphql-core appends it to messages;
# suggested names never contain a question mark.
_SUGGESTION = re.compile(r" Did you mean [^?]*\?")


def current_security_settings() -> SecuritySettings:
    """Return the settings of the request being served (defaults outside one)."""
    return _settings.get(_DEFAULT_SETTINGS)


def set_security_settings(settings: SecuritySettings) -> None:
    """Use `settings` for the operations of the current request's task."""
    _settings.set(settings)


class QueryLimits(SchemaExtension):
    """Reject operations over the configured limits and report their cost."""

    def __init__(self) -> None:
        self._limits = current_security_settings()
        self._size: OperationSize | None = None

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context
        context.parse_options["max_tokens"] = self._limits.max_tokens
        if not self._limits.introspection:
            context.validation_rules = (
                *context.validation_rules,
                NoSchemaIntrospectionCustomRule,
            )
        yield
        if not self._limits.field_suggestions:
            _remove_suggestions(context.result)

    def on_validate(self) -> Iterator[None]:
        # Strawberry validates only when no extension did, so the limits
        # below run after the standard rules and before execution.
        context = self.execution_context
        if context.pre_execution_errors is None and context.graphql_document:
            errors = validate_cached(
                context.query,
                context.schema._schema,
                context.graphql_document,
                context.validation_rules,
            )
            errors = [_explained(error) for error in errors]
            context.pre_execution_errors = errors or self._size_errors()
        yield

    def get_results(self) -> dict[str, Any]:
        # A subscription sends many results, and its cost was checked once.
        if self._size is None or self._is_subscription():
            return {}
        return {
            "cost": {
                "requestedNodes": self._size.nodes,
                "maxNodes": self._limits.max_query_cost,
            }
        }

    def _is_subscription(self) -> bool:
        try:
            operation_type = self.execution_context.operation_type
        except RuntimeError:
            return False
        return operation_type == OperationType.SUBSCRIPTION

    def _size_errors(self) -> list[GraphQLError]:
        context = self.execution_context
        assert context.graphql_document is not None
        try:
            self._size = measure_operation(
                context.schema._schema,
                context.graphql_document,
                context.operation_name,
                context.variables,
            )
        except Exception as error:
            # An exception here would skip the masking of `ReportErrors`, so
            # it is masked and logged the same way.
            return [_internal_error(context.context, error)]
        if self._size is None:
            return []
        messages = _limit_messages(self._size, self._limits)
        # One error per request: the first limit exceeded.
        return [GraphQLError(messages[0])] if messages else []


def _explained(error: GraphQLError) -> GraphQLError:
    """Replace graphql-core's bare "Validation aborted." with what to do.

    graphql-core stops validating a document whose fields overlap past its
    complexity budget (the same field repeated hundreds of times, say) or
    that nests past Python's recursion limit, and reports only that it
    stopped.
    """
    if error.message != ABORTED_MESSAGE:
        return error
    return GraphQLError(
        "The document is too complex to validate: it repeats or overlaps the "
        "same fields too many times, or nests too deeply. Remove repeated "
        "fields, or split it into smaller requests."
    )


def _limit_messages(size: OperationSize, limits: SecuritySettings) -> list[str]:
    messages = []
    if size.depth > limits.max_query_depth:
        messages.append(
            f"The operation's depth of {size.depth} fields exceeds maximum "
            f"operation depth {limits.max_query_depth}: select fewer nested "
            "fields, or split the query."
        )
    if size.aliases > limits.max_aliases:
        messages.append(
            f"The operation uses {size.aliases} aliases, more than the maximum "
            f"of {limits.max_aliases} aliases: send fewer aliased fields per "
            "request."
        )
    if size.introspection_lists > MAX_INTROSPECTION_LISTS:
        messages.append(
            f"The introspection query nests {size.introspection_lists} list "
            f"fields, more than the maximum of {MAX_INTROSPECTION_LISTS}: "
            "query the nested types by name with `__type` instead."
        )
    if size.nodes > limits.max_query_cost:
        messages.append(
            f"The operation may return {size.nodes} nodes, more than the maximum "
            f"of {limits.max_query_cost}: lower `first` or `last` on nested "
            "connections, or split the query."
        )
    return messages


def _internal_error(request_context: Any, error: Exception) -> GraphQLError:
    request_id = getattr(request_context, "request_id", "unknown")
    logger.error(
        "operation_measure_failed request_id=%s error_type=%s",
        request_id,
        type(error).__name__,
        exc_info=error,
    )
    return GraphQLError(
        f"Internal server error (request id {request_id}). The failure was "
        "logged; retry later or report the request id.",
        extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    )


def _remove_suggestions(result: Any) -> None:
    for error in getattr(result, "errors", None) or ():
        error.message = _SUGGESTION.sub("", error.message)
