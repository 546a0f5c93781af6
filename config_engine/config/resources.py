"""The `resources` section: resource name -> method name -> request config.

A request config describes one upstream call. ``path``, ``headers``,
``query`` and ``body`` are placeholder templates. A method's ``base_url``,
``pagination``, ``authorization``, ``query_array_format`` and
``error_expression`` replace the integration's, and its ``headers`` and
``query`` merge over the integration's (see `config_engine.merge`). A
method's ``timeout``, in seconds, can lower the engine's timeout of each
exchange but not raise it. Action ``request`` steps use the same shape.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, TypeAlias

from pydantic import Field, ValidationInfo, model_validator

from config_engine.config.authorization import Authorization
from config_engine.config.base import (
    ConfigModel,
    HeaderName,
    HeaderValue,
    HttpTemplate,
    Jsonata,
    Lowered,
    require,
)
from config_engine.config.pagination import Pagination

# Maximum of a method's `timeout`, in seconds.
MAX_TIMEOUT: Final = 600
HTTP_METHODS: Final = ("get", "post", "put", "patch", "delete", "head", "options")
BODY_FORMATS: Final = ("json", "form", "raw")
QUERY_ARRAY_FORMATS: Final = ("comma", "brackets", "indices", "repeat")

HttpMethod: TypeAlias = Annotated[
    Literal["get", "post", "put", "patch", "delete", "head", "options"], Lowered
]
QueryArrayFormat: TypeAlias = Literal["comma", "brackets", "indices", "repeat"]
# Header values are templates, and null removes a header inherited from the
# integration.
Headers: TypeAlias = dict[HeaderName, HeaderValue | None]


class RequestConfig(ConfigModel):
    """One upstream call: a resource method or an action's request step."""

    method: HttpMethod | None = None
    path: str | None = None
    base_url: HttpTemplate | None = None
    headers: Headers | None = None
    query: dict[str, Any] | None = None
    query_array_format: QueryArrayFormat | None = None
    body: Any = None
    body_format: Literal["json", "form", "raw"] | None = None
    pagination: Pagination | None = None
    authorization: Authorization | None = None
    error_expression: Jsonata | None = None
    response_path: str | None = None
    no_auth: bool | None = None
    description: str | None = None
    scopes: list[str] | None = None
    timeout: Annotated[float, Field(gt=0, le=MAX_TIMEOUT)] | None = None

    @model_validator(mode="after")
    def _check_path(self, info: ValidationInfo) -> RequestConfig:
        require(self, info, "path", "a request needs a path, such as '/contacts'")
        return self


Resources: TypeAlias = dict[str, dict[str, RequestConfig]]
