"""Client values that error messages repeat are truncated to a readable length."""

from __future__ import annotations

import pytest

from graphql_api.errors import MAX_REPR_LENGTH, truncate_repr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("abc", "'abc'", id="short-string"),
        pytest.param(
            "a" * MAX_REPR_LENGTH, repr("a" * MAX_REPR_LENGTH), id="string-at-limit"
        ),
        pytest.param(
            "a" * (MAX_REPR_LENGTH + 1),
            f"{'a' * MAX_REPR_LENGTH!r}... ({MAX_REPR_LENGTH + 1} characters)",
            id="string-over-limit",
        ),
        pytest.param(
            "line\n" * 20,
            "'" + "line\\n" * 12 + "'... (100 characters)",
            id="newlines-escaped",
        ),
        pytest.param(42, "42", id="short-number"),
        pytest.param(
            list(range(30)),
            "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 1"
            "... (110 characters)",
            id="long-list",
        ),
    ],
)
def test_truncate_repr_formats_value(value: object, expected: str) -> None:
    assert truncate_repr(value) == expected
