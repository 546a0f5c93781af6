"""The `pagination` section: how a list method walks through pages.

Every format accepts ``limit`` with ``limit_param`` (the page size and the
query parameter that sends it), ``has_next_path`` (a body path whose falsy
value ends the loop) and ``max_pages``, a cap on the pages of one call.
Format-specific keys:

- ``page``: ``page_param``, ``start_page``.
- ``offset``: ``offset_param``, ``start_offset``.
- ``cursor``: ``cursor_path`` (a body path) or ``cursor_header`` (a response
  header) is required. The cursor goes out as ``cursor_param`` in the
  ``cursor_location``: ``query`` (the default), ``body`` or ``header``. A
  cursor that is a full URL is fetched as it is, and one that is a path
  starting with ``/`` is fetched on the origin of the request.
- ``link_header``: ``rel``, the link relation to follow (``next``).
- ``range``: ``range_unit`` of the ``Range`` header (``items``).
- ``dynamic``: JSONata ``get_initial_pagination_values_expression``,
  ``get_pagination_values_expression`` (required; null ends the loop) and
  ``get_cursor_from_response_expression``.

A method's own ``pagination`` replaces the integration's, and null switches
it off.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal, TypeAlias

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from config_engine.config.base import (
    ConfigModel,
    Jsonata,
    MissingKeyModel,
    discriminator,
    is_partial,
    missing_setting,
    require,
    tag,
)

# Maximum pages of one call that a config may set.
MAX_PAGES: Final = 10_000
PAGINATION_FORMATS: Final = (
    "page",
    "offset",
    "cursor",
    "link_header",
    "range",
    "dynamic",
)


class PaginationSettings(ConfigModel):
    """The `config` keys that every pagination format accepts."""

    limit: int | str | None = None
    limit_param: str | None = None
    has_next_path: str | None = None
    max_pages: Annotated[int, Field(ge=1, le=MAX_PAGES)] | None = None

    @field_validator("limit")
    @classmethod
    def _check_page_size(cls, limit: int | str | None) -> int | str | None:
        if isinstance(limit, str) and ("{{" in limit or limit.isdigit()):
            return limit
        if limit is None or (isinstance(limit, int) and limit >= 1):
            return limit
        raise PydanticCustomError(
            "invalid_limit",
            "expected a whole number of at least 1 or a placeholder, received {limit}",
            {"limit": repr(limit)[:80]},
        )


class PageSettings(PaginationSettings):
    """Numbered pages."""

    page_param: str | None = None
    start_page: int | None = None


class OffsetSettings(PaginationSettings):
    """A record offset that grows by the records received."""

    offset_param: str | None = None
    start_offset: Annotated[int, Field(ge=0)] | None = None


class CursorSettings(PaginationSettings):
    """An opaque cursor taken from the response body or a header."""

    cursor_path: str | None = None
    cursor_header: str | None = None
    cursor_param: str | None = None
    cursor_location: Literal["query", "body", "header"] | None = None

    @model_validator(mode="after")
    def _check_cursor_source(self, info: ValidationInfo) -> CursorSettings:
        if is_partial(info) or self.cursor_path or self.cursor_header:
            return self
        raise missing_setting(
            "cursor_path",
            "cursor pagination needs cursor_path (a body path) or cursor_header",
        )


class LinkHeaderSettings(PaginationSettings):
    """The RFC 8288 ``Link`` response header."""

    rel: str | None = None


class RangeSettings(PaginationSettings):
    """The HTTP ``Range`` request header, with ``limit`` as the page size."""

    range_unit: str | None = None

    @field_validator("limit")
    @classmethod
    def _check_limit(cls, limit: int | str | None) -> int | str | None:
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise PydanticCustomError(
                "invalid_range_limit",
                "range pagination needs a whole number limit of at least 1, "
                "received {limit}",
                {"limit": repr(limit)},
            )
        return limit


class DynamicSettings(PaginationSettings):
    """Pages driven by JSONata expressions."""

    get_initial_pagination_values_expression: Jsonata | None = None
    get_pagination_values_expression: Jsonata | None = None
    get_cursor_from_response_expression: Jsonata | None = None

    @model_validator(mode="after")
    def _check_next_values(self, info: ValidationInfo) -> DynamicSettings:
        require(
            self,
            info,
            "get_pagination_values_expression",
            "dynamic pagination needs get_pagination_values_expression, "
            "which returns the next page's values or null",
        )
        return self


class PagePagination(ConfigModel):
    """Pagination by page number."""

    format: Literal["page"] = "page"
    config: PageSettings | None = None


class OffsetPagination(ConfigModel):
    """Pagination by record offset."""

    format: Literal["offset"] = "offset"
    config: OffsetSettings | None = None


class CursorPagination(ConfigModel):
    """Pagination by cursor."""

    format: Literal["cursor"] = "cursor"
    config: CursorSettings | None = None

    @model_validator(mode="after")
    def _check_config(self, info: ValidationInfo) -> CursorPagination:
        if self.config is None and not is_partial(info):
            raise missing_setting(
                "config.cursor_path",
                "cursor pagination needs cursor_path (a body path) or cursor_header",
            )
        return self


class LinkHeaderPagination(ConfigModel):
    """Pagination by the ``Link`` header."""

    format: Literal["link_header"] = "link_header"
    config: LinkHeaderSettings | None = None


class RangePagination(ConfigModel):
    """Pagination by the ``Range`` header."""

    format: Literal["range"] = "range"
    config: RangeSettings | None = None


class DynamicPagination(ConfigModel):
    """Pagination by JSONata expressions."""

    format: Literal["dynamic"] = "dynamic"
    config: DynamicSettings | None = None

    @model_validator(mode="after")
    def _check_config(self, info: ValidationInfo) -> DynamicPagination:
        if self.config is None and not is_partial(info):
            raise missing_setting(
                "config.get_pagination_values_expression",
                "dynamic pagination needs get_pagination_values_expression",
            )
        return self


class MissingPaginationFormat(MissingKeyModel):
    """An object without its ``format``, valid only in an override."""

    missing_key = "format"
    choices = PAGINATION_FORMATS


Pagination: TypeAlias = Annotated[
    Annotated[PagePagination, tag("format", "page")]
    | Annotated[OffsetPagination, tag("format", "offset")]
    | Annotated[CursorPagination, tag("format", "cursor")]
    | Annotated[LinkHeaderPagination, tag("format", "link_header")]
    | Annotated[RangePagination, tag("format", "range")]
    | Annotated[DynamicPagination, tag("format", "dynamic")]
    | Annotated[MissingPaginationFormat, tag("format", "")],
    discriminator("format"),
]
