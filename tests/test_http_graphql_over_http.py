"""/graphql status codes, media types and error bodies over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from graphql_api.http_request import negotiate_media_type
from tests.conftest import LiveServer, Seeder, Tenant, make_tenant

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
QUERY = "{ environments { totalCount } }"


@pytest.fixture(scope="module")
def tenant(seeder: Seeder) -> Tenant:
    return make_tenant(seeder)


@pytest.fixture(scope="module")
def http(live_server: LiveServer, tenant: Tenant) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=live_server.url,
        headers={"authorization": f"Bearer {tenant.team_token}"},
        trust_env=False,
        timeout=30,
    ) as client:
        yield client


def _post(http: httpx.Client, body: Any, accept: str | None = None) -> httpx.Response:
    headers = {} if accept is None else {"accept": accept}
    return http.post("/graphql", json=body, headers=headers)


def _media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0]


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        pytest.param(None, JSON, id="missing"),
        pytest.param("", JSON, id="empty"),
        pytest.param("*/*", JSON, id="any"),
        pytest.param("application/*", JSON, id="any-application"),
        pytest.param(GRAPHQL_RESPONSE, GRAPHQL_RESPONSE, id="graphql-response"),
        pytest.param(
            f"{GRAPHQL_RESPONSE}, {JSON};q=0.9", GRAPHQL_RESPONSE, id="graphql-http"
        ),
        pytest.param(f"{GRAPHQL_RESPONSE};q=0.5, {JSON}", JSON, id="quality"),
        pytest.param(f"*/*, {GRAPHQL_RESPONSE}", GRAPHQL_RESPONSE, id="specific"),
        pytest.param(f"{GRAPHQL_RESPONSE};q=0, */*", JSON, id="excluded"),
        pytest.param("text/html, */*;q=0.8", JSON, id="browser"),
        pytest.param("text/plain", None, id="unsupported"),
        pytest.param(f"{JSON};q=abc", None, id="invalid-quality"),
    ],
)
def test_accept_header_picks_media_type(accept: str | None, expected: str) -> None:
    assert negotiate_media_type(accept) == expected


def test_query_gets_json_by_default(http: httpx.Client) -> None:
    response = _post(http, {"query": QUERY})

    assert response.status_code == 200
    assert response.headers["content-type"] == f"{JSON}; charset=utf-8"
    body = response.json()
    assert body["data"] == {"environments": {"totalCount": 2}}
    assert "errors" not in body


def test_query_gets_graphql_response_when_accepted(http: httpx.Client) -> None:
    response = _post(http, {"query": QUERY}, accept=GRAPHQL_RESPONSE)

    assert response.status_code == 200
    assert _media_type(response) == GRAPHQL_RESPONSE
    body = response.json()
    assert body["data"] == {"environments": {"totalCount": 2}}
    assert "errors" not in body


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param({"query": "{ environments {"}, "GRAPHQL_PARSE_FAILED", id="parse"),
        pytest.param(
            {"query": "{ noSuchField }"}, "GRAPHQL_VALIDATION_FAILED", id="validation"
        ),
        pytest.param(
            {
                "query": "query ($n: Int) { environments(first: $n) { totalCount } }",
                "variables": {"n": "many"},
            },
            "BAD_USER_INPUT",
            id="variable-coercion",
        ),
        pytest.param(
            {"query": "query A { __typename }", "operationName": "B"},
            "BAD_REQUEST",
            id="unknown-operation-name",
        ),
        pytest.param(
            {"query": "query A { __typename } query B { __typename }"},
            "BAD_REQUEST",
            id="several-operations-without-name",
        ),
    ],
)
@pytest.mark.parametrize(
    ("accept", "status"),
    [
        pytest.param(GRAPHQL_RESPONSE, 400, id="graphql-response"),
        pytest.param(JSON, 200, id="json"),
    ],
)
def test_request_error_has_no_data(
    http: httpx.Client, body: dict[str, Any], code: str, accept: str, status: int
) -> None:
    response = _post(http, body, accept=accept)

    assert response.status_code == status
    assert _media_type(response) == accept
    document = response.json()
    assert "data" not in document
    [error] = document["errors"]
    assert error["extensions"]["code"] == code


def test_long_unknown_operation_name_is_shortened(http: httpx.Client) -> None:
    body = {"query": "query A { __typename }", "operationName": "B" * 5000}

    response = _post(http, body, accept=JSON)

    [error] = response.json()["errors"]
    assert "(5000 characters)" in error["message"]
    assert len(error["message"]) < 200


def test_operation_name_picks_one_of_several(http: httpx.Client) -> None:
    body = {
        "query": "query A { a: __typename } query B { b: __typename }",
        "operationName": "B",
    }

    response = _post(http, body, accept=JSON)

    assert response.json()["data"] == {"b": "Query"}


def test_field_error_keeps_data_and_200(http: httpx.Client) -> None:
    response = _post(
        http, {"query": '{ node(id: "not-a-uuid") { id } }'}, accept=GRAPHQL_RESPONSE
    )

    assert response.status_code == 200
    document = response.json()
    assert document["data"] == {"node": None}
    [error] = document["errors"]
    assert error["path"] == ["node"]


def test_get_runs_query(http: httpx.Client) -> None:
    response = http.get("/graphql", params={"query": QUERY})

    assert response.status_code == 200
    body = response.json()
    assert body["data"] == {"environments": {"totalCount": 2}}
    assert "errors" not in body


def test_get_reads_json_variables(http: httpx.Client) -> None:
    query = "query ($first: Int) { environments(first: $first) { nodes { name } } }"

    response = http.get(
        "/graphql", params={"query": query, "variables": '{"first": 1}'}
    )

    assert response.status_code == 200
    assert len(response.json()["data"]["environments"]["nodes"]) == 1


def test_mutation_over_get_gets_405_allow_post(http: httpx.Client) -> None:
    response = http.get(
        "/graphql",
        params={"query": "mutation { __typename }"},
    )

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    [error] = response.json()["errors"]
    assert "send them with POST" in error["message"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_other_method_gets_405_allow_get_post(http: httpx.Client, method: str) -> None:
    response = http.request(method, "/graphql", json={"query": QUERY})

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert _media_type(response) == JSON


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        pytest.param(None, "no Content-Type", id="missing"),
        pytest.param("text/plain", "'text/plain' is not supported", id="text"),
        pytest.param(
            "application/json; charset=latin-1",
            "'latin-1' is not supported",
            id="charset",
        ),
    ],
)
def test_unsupported_content_type_gets_415(
    http: httpx.Client, content_type: str | None, message: str
) -> None:
    headers = {} if content_type is None else {"content-type": content_type}

    response = http.post(
        "/graphql", content=b'{"query": "{ __typename }"}', headers=headers
    )

    assert response.status_code == 415
    assert _media_type(response) == JSON
    [error] = response.json()["errors"]
    assert message in error["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"{not json", "not valid JSON", id="malformed"),
        pytest.param(b"[]", "Batched requests are not supported", id="batch"),
        pytest.param(b'"text"', "is a JSON string", id="string"),
        pytest.param(b"{}", "no 'query' parameter", id="missing-query"),
        pytest.param(b'{"query": 1}', "'query' must be a string", id="query-number"),
        pytest.param(
            b'{"query": "{ __typename }", "variables": []}',
            "'variables' must be an object",
            id="variables-array",
        ),
        pytest.param(
            b'{"query": "{ __typename }", "operationName": 5}',
            "'operationName' must be a string",
            id="operation-name-number",
        ),
        pytest.param(
            b'{"query": "{ __typename }", "extensions": "x"}',
            "'extensions' must be an object",
            id="extensions-string",
        ),
    ],
)
def test_malformed_body_gets_json_400(
    http: httpx.Client, body: bytes, message: str
) -> None:
    response = http.post(
        "/graphql",
        content=body,
        headers={"content-type": JSON, "accept": GRAPHQL_RESPONSE},
    )

    assert response.status_code == 400
    assert _media_type(response) == GRAPHQL_RESPONSE
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert message in error["message"]


def test_unacceptable_accept_gets_406(http: httpx.Client) -> None:
    response = _post(http, {"query": QUERY}, accept="text/csv")

    assert response.status_code == 406
    assert _media_type(response) == JSON
    [error] = response.json()["errors"]
    assert "'text/csv'" in error["message"]


def test_browser_gets_graphiql_page(live_server: LiveServer) -> None:
    response = httpx.get(
        f"{live_server.url}/graphql",
        headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"},
        trust_env=False,
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script src="/graphiql/graphiql.min.js"></script>' in response.text
    assert "https://" not in response.text


@pytest.mark.parametrize(
    ("accept", "page"),
    [
        pytest.param(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            True,
            id="browser",
        ),
        pytest.param("application/json", False, id="json-client"),
        pytest.param("text/html, application/json", False, id="html-and-json"),
    ],
)
def test_shared_query_link_opens_graphiql_in_a_browser(
    live_server: LiveServer, accept: str, page: bool
) -> None:
    response = httpx.get(
        f"{live_server.url}/graphql",
        params={"query": "{ __typename }"},
        headers={"accept": accept},
        trust_env=False,
    )

    assert response.headers["content-type"].startswith("text/html") is page
    assert ("graphiql.min.js" in response.text) is page


@pytest.mark.parametrize(
    ("asset", "media_type"),
    [
        pytest.param("graphiql.min.js", "text/javascript", id="graphiql-js"),
        pytest.param("graphiql.min.css", "text/css", id="graphiql-css"),
        pytest.param("react.production.min.js", "text/javascript", id="react"),
        pytest.param("react-dom.production.min.js", "text/javascript", id="react-dom"),
        pytest.param("init.js", "text/javascript", id="init"),
    ],
)
def test_graphiql_asset_is_served(
    live_server: LiveServer, asset: str, media_type: str
) -> None:
    response = httpx.get(f"{live_server.url}/graphiql/{asset}", trust_env=False)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert len(response.content) > 100
