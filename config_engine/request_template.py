"""Render a resource method's request config into a `PreparedRequest`.

`build_request` renders a method config once. `RequestTemplate` compiles
its placeholder templates first, for a config that is built many times.
Both apply the URL checks of `config_engine.http`: the base URL must stay
an http(s) URL with a plain host, the resource `id` is percent-encoded, and
a rendered path may not leave the base URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from config_engine.errors import ConfigError, PlaceholderError
from config_engine.http import (
    PreparedRequest,
    RequestDraft,
    _header_text,
    _is_absolute,
    _render_base_url,
    _render_body,
    check_base_url,
    check_path,
    check_same_origin,
    encode_path_value,
    encode_query,
    join_url,
    render_headers,
    render_optional,
    render_query,
)
from config_engine.placeholders import CompiledTemplate, render


def build_request(
    method_config: Mapping[str, Any],
    variables: Mapping[str, Any],
    *,
    query: Mapping[str, Any] | None = None,
    body: Any = None,
    path: str = "",
) -> PreparedRequest:
    """Render one resource method's config into a request, without authorization.

    `variables` is what placeholders see (see `request_variables`). The caller's
    `query` is sent as well, but a config query key with a value wins over it.
    The config's `body` template, when present, replaces the caller's `body`;
    GET and HEAD requests carry no body.
    """
    # A one-off build renders the templates directly, because compiling them
    # costs more than it saves for a single render.
    template = RequestTemplate(method_config, path=path, compile_templates=False)
    return template.build(variables, query=query, body=body)


class RequestTemplate:
    """A resource method's request config, compiled once and built per call.

    `build` returns what `build_request` returns for the same config. The
    config is read when the template is made, so a later change to it is not
    seen. The engine keeps one template per config, which it treats as
    read-only. Errors in the config are raised by `build`, as
    `build_request` raises them.
    """

    __slots__ = (
        "_array_format",
        "_base_renderer",
        "_base_template",
        "_config",
        "_header_template",
        "_headers",
        "_path",
        "_path_renderer",
        "_path_template",
        "_paths",
        "_query",
        "_query_template",
        "method",
    )

    def __init__(
        self,
        method_config: Mapping[str, Any],
        *,
        path: str = "",
        compile_templates: bool = True,
    ) -> None:
        self._config = method_config
        self._path = path
        self.method = str(method_config.get("method") or "get").upper()
        self._path_template = method_config.get("path") or ""
        self._base_template = method_config.get("base_url")
        self._query_template = method_config.get("query")
        self._header_template = method_config.get("headers")
        self._array_format = method_config.get("query_array_format")
        self._paths = _ConfigPaths(path)
        self._path_renderer = self._base_renderer = None
        self._query = self._headers = None
        if compile_templates:
            self._path_renderer = _compile_if_text(self._path_template)
            self._base_renderer = _compile_if_text(self._base_template)
            self._query = _compile_entries(self._query_template)
            self._headers = _compile_entries(self._header_template)

    def build(
        self,
        variables: Mapping[str, Any],
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> PreparedRequest:
        """Render the request for one call; see `build_request`."""
        return self.draft(variables, query=query, body=body).finish()

    def draft(
        self,
        variables: Mapping[str, Any],
        *,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> RequestDraft:
        """Render the request for one call as a draft that later steps change.

        The draft owns its query list and headers dict, so pagination and
        authorization change them in place before `RequestDraft.finish`.
        """
        path = self._path
        url = self._render_url(variables)
        rendered_query = self._render_query(variables)
        merged_query = {**query, **rendered_query} if query else rendered_query
        headers = self._render_headers(variables)
        content = None
        if self.method not in ("GET", "HEAD"):
            content, headers = _render_body(
                self._config, variables, body, headers, path
            )
        encoded = encode_query(
            merged_query, self._array_format, path=self._paths.array_format
        )
        return RequestDraft(self.method, url, encoded, headers, content)

    def _render_url(self, variables: Mapping[str, Any]) -> str:
        path = self._paths.path
        path_template = self._path_template
        if not isinstance(path_template, str):
            raise ConfigError(
                f"path must be a string, received {type(path_template).__name__}",
                path,
            )
        path_variables = variables
        if variables.get("id") is not None:
            path_variables = {**variables, "id": encode_path_value(variables["id"])}
        rendered_path = str(
            _render_text(self._path_renderer, path_template, path_variables, path)
        )
        check_path(rendered_path, path_template, path=path)
        if _is_absolute(rendered_path):
            check_base_url(rendered_path, path=path)
            if self._base_template:
                base_url = self._render_base_url(variables)
                check_same_origin(rendered_path, base_url, path=path)
            return rendered_path
        if not self._base_template:
            raise ConfigError(
                "base_url is missing: set it on the integration or on the method",
                self._paths.base_url,
            )
        return join_url(self._render_base_url(variables), rendered_path)

    def _render_base_url(self, variables: Mapping[str, Any]) -> str:
        template = self._base_template
        if self._base_renderer is None:
            return _render_base_url(template, variables, path=self._path)
        base_path = self._paths.base_url
        base_url = str(
            self._base_renderer.render(variables, required=True, path=base_path)
        )
        return check_base_url(base_url, path=base_path, template=str(template))

    def _render_query(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        query_path = self._paths.query
        template = self._query_template
        if self._query is None or not template:
            return render_query(template, variables, path=query_path)
        rendered = _render_entries(self._query, template, variables, query_path)
        if None in rendered.values():
            return {key: value for key, value in rendered.items() if value is not None}
        return rendered

    def _render_headers(self, variables: Mapping[str, Any]) -> dict[str, str]:
        headers_path = self._paths.headers
        template = self._header_template
        if self._headers is None or template is None:
            return render_headers(template, variables, path=headers_path)
        rendered = _render_entries(self._headers, template, variables, headers_path)
        return _header_text(rendered)


class _ConfigPaths:
    """The JSON paths that a method's config errors name, made once."""

    __slots__ = ("array_format", "base_url", "headers", "path", "query")

    def __init__(self, method_path: str) -> None:
        self.path = f"{method_path}.path"
        self.base_url = f"{method_path}.base_url"
        self.query = f"{method_path}.query"
        self.headers = f"{method_path}.headers"
        self.array_format = f"{method_path}.query_array_format"


def _compile_if_text(template: Any) -> CompiledTemplate | None:
    return CompiledTemplate(template) if type(template) is str else None


def _compile_entries(template: Any) -> CompiledTemplate | None:
    return CompiledTemplate(template) if type(template) is dict else None


def _render_text(
    compiled: CompiledTemplate | None,
    template: str,
    variables: Mapping[str, Any],
    path: str,
) -> Any:
    if compiled is None:
        return render(template, variables, required=True, path=path)
    return compiled.render(variables, required=True, path=path)


def _render_entries(
    compiled: CompiledTemplate,
    template: Mapping[str, Any],
    variables: Mapping[str, Any],
    path: str,
) -> dict[str, Any]:
    """Render headers or query entries, dropping those with missing values.

    The compiled render in required mode succeeds when every value is
    present. Otherwise `render_optional` walks the template again
    to find and drop what is missing.
    """
    try:
        rendered: dict[str, Any] = compiled.render(variables, required=True, path=path)
    except PlaceholderError:
        rendered = render_optional(dict(template), variables, path=path)
    return rendered
