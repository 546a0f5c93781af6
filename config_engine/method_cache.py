"""Cache the config-derived parts of resource method requests, per config object.

The merged method config, its compiled request templates and its
authorization block depend only on the config, so an engine that runs the
same config object many times (pages of one listing, a bulk run) prepares
them once. Each call then only renders its own context.

Templates are compiled on the second use of a config object. Callers that
build a new config for every call, such as `effective_config` per request,
would otherwise pay for a compile that is never reused.

Entries are keyed by the config's identity. An entry keeps a reference to
its config, so that the id cannot be reused by another object while the
entry exists. Configs are read-only by contract. The engine never changes
them, and a caller that changes a config in place after running it gets
the cached values of the earlier state, so build a new config object
instead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, Final

from config_engine.merge import method_config
from config_engine.pagination import Pagination
from config_engine.placeholders import MERGE_KEY
from config_engine.request_template import RequestTemplate

# Each entry keeps its whole config alive, so the bound is small. It is an
# estimate of the methods that one engine runs in turn, not a measured size.
# When the cache is full, the oldest entry is dropped first.
DEFAULT_MAX_ENTRIES: Final = 64


class CompiledMethod:
    """The config-derived parts of one resource method's request.

    `settings` is the merged method config as a read-only view. `template`
    renders directly until `compile_templates` is called. `pagination` is
    made on first use, so that its config errors are raised at the same
    point of a call as without the cache. `header_names` contains the
    lower-case names of every header that a request of the method can carry
    before its authorization, or is None when placeholders can add names.
    """

    __slots__ = (
        "authorization",
        "header_names",
        "is_compiled",
        "pagination",
        "path",
        "settings",
        "template",
    )

    def __init__(
        self,
        settings: dict[str, Any],
        authorization: Mapping[str, Any] | None,
        *,
        path: str,
    ) -> None:
        self.path = path
        self.settings: Mapping[str, Any] = MappingProxyType(settings)
        self.authorization = authorization
        self.template = RequestTemplate(
            self.settings, path=path, compile_templates=False
        )
        self.is_compiled = False
        self.pagination: Pagination | None = None
        self.header_names = request_header_names(self.settings)

    def compile_templates(self) -> None:
        """Replace the template with one whose placeholders are compiled."""
        self.template = RequestTemplate(self.settings, path=self.path)
        self.is_compiled = True

    def pagination_for(
        self, *, max_pages: int, expression_timeout: float | None
    ) -> Pagination:
        """Return the method's Pagination, made on the first call."""
        pagination = self.pagination
        if pagination is None:
            pagination = Pagination(
                self.settings.get("pagination"),
                path=f"{self.path}.pagination",
                max_pages=max_pages,
                expression_timeout=expression_timeout,
            )
            self.pagination = pagination
        return pagination


def request_header_names(settings: Mapping[str, Any]) -> frozenset[str] | None:
    """Return the lower-case names of the headers a request can carry.

    They are the config's header names, the ``Content-Type`` of a body, the
    ``Range`` of range pagination and the header of a cursor sent as one.
    A ``$truto_merge`` entry renders names from the context, so headers that
    use it, or that are not an object, give None.
    """
    headers = settings.get("headers")
    names = {"content-type", "range"}
    if isinstance(headers, Mapping):
        if MERGE_KEY in headers:
            return None
        names.update(str(name).lower() for name in headers)
    elif headers is not None:
        return None
    pagination = settings.get("pagination")
    config = pagination.get("config") if isinstance(pagination, Mapping) else None
    if isinstance(config, Mapping) and config.get("cursor_location") == "header":
        names.add(str(config.get("cursor_param") or "cursor").lower())
    return frozenset(names)


# The arguments that decide what a compiled method contains, after the config.
_MethodKey = tuple[int, str, str, str | None, int]
AuthorizationFor = Callable[
    [Mapping[str, Any], Mapping[str, Any], str | None], Mapping[str, Any] | None
]


class MethodCache:
    """Compiled methods keyed by config identity, resource, method and limits.

    The authentication method picks the default authorization, so it is part
    of the key. `limits_token` is an object whose identity represents the
    limits built into the pagination, and a different one makes a new entry.
    """

    __slots__ = ("_entries", "_max_entries")

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        if max_entries < 1:
            raise ValueError(
                f"max_entries must be at least 1, received {max_entries!r}"
            )
        self._entries: dict[_MethodKey, tuple[object, object, CompiledMethod]] = {}
        self._max_entries = max_entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self,
        config: Mapping[str, Any],
        resource: str,
        method: str,
        *,
        authentication_method: str | None,
        limits_token: object,
        authorization_for: AuthorizationFor,
    ) -> CompiledMethod:
        """Return the compiled method, preparing it on the first request.

        The first request for a config merges its method config, and the
        second compiles its templates.

        Raises ConfigError, as `method_config` does, for an unknown resource
        or method. `authorization_for(config, settings, authentication_method)`
        returns the authorization block of the merged method config.
        """
        key = (id(config), resource, method, authentication_method, id(limits_token))
        entry = self._entries.get(key)
        if entry is not None and entry[0] is config and entry[1] is limits_token:
            compiled = entry[2]
            if not compiled.is_compiled:
                compiled.compile_templates()
            return compiled
        compiled = self._compile(
            config, resource, method, authentication_method, authorization_for
        )
        if len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (config, limits_token, compiled)
        return compiled

    @staticmethod
    def _compile(
        config: Mapping[str, Any],
        resource: str,
        method: str,
        authentication_method: str | None,
        authorization_for: AuthorizationFor,
    ) -> CompiledMethod:
        settings = method_config(config, resource, method)
        return CompiledMethod(
            settings,
            authorization_for(config, settings, authentication_method),
            path=f"resources.{resource}.{method}",
        )
