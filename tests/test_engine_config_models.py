"""Config models: Truto's documented examples, invalid configs, overrides, files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from config_engine.check import check_document, check_file
from config_engine.config import (
    ConfigProblem,
    parse_config,
    validate_config,
    validate_override,
)
from config_engine.config.authorization import HeaderAuthorization
from config_engine.config.credentials import ApiKeyCredential, OAuth2Credential
from config_engine.config.pagination import CursorPagination, DynamicPagination
from config_engine.config.webhook import HmacVerification
from config_engine.errors import ConfigError

EXAMPLES = Path(__file__).parents[1] / ".." / "shared" / "truto-examples" / "configs"
EXAMPLE_FILES = sorted(EXAMPLES.glob("*.json"))


def load_example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((EXAMPLES / name).read_text(encoding="utf-8"))
    return document


def as_config(document: dict[str, Any]) -> dict[str, Any]:
    """Wrap a fragment into the config section it belongs to.

    A fragment is keyed (its top-level keys include the section name) or
    bare (it is the section's value), and a dotted section such as
    ``webhook.signature_verification`` nests one level per part.
    """
    section = document["kind"].removeprefix("fragment:")
    example = document["example"]
    if section.split(".")[0] in example:
        return dict(example)
    wrapped = example
    for key in reversed(section.split(".")):
        wrapped = {key: wrapped}
    return dict(wrapped)


def base_config(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "base_url": "http://127.0.0.1:9000/api",
        "resources": {"users": {"list": {"method": "get", "path": "/users"}}},
    }
    config.update(copy.deepcopy(changes))
    return config


def method_config(**changes: Any) -> dict[str, Any]:
    config = base_config()
    config["resources"]["users"]["list"].update(changes)
    return config


def test_example_kinds() -> None:
    kinds = [load_example(path.name)["kind"] for path in EXAMPLE_FILES]

    assert len(kinds) == 32
    assert kinds.count("config") == 2
    assert kinds.count("override") == 7
    assert sum(kind.startswith("fragment:") for kind in kinds) == 23


@pytest.mark.parametrize(
    "path", [pytest.param(path, id=path.stem) for path in EXAMPLE_FILES]
)
def test_example_validates(path: Path) -> None:
    document = load_example(path.name)

    if document["kind"] == "config":
        problems = validate_config(document["example"])
    elif document["kind"] == "override":
        problems = validate_override(document["example"]["override"])
    else:
        problems = validate_config(as_config(document))

    assert problems == []


@pytest.mark.parametrize(
    ("name", "section"),
    [
        pytest.param(
            "09-authorization-expression-x-tenant.json", "authorization", id="bare"
        ),
        pytest.param(
            "07-authorization-x-api-key-header.json", "authorization", id="keyed"
        ),
        pytest.param(
            "23-webhook-signature-verification-hmac.json", "webhook", id="dotted-bare"
        ),
    ],
)
def test_fragment_wrapping(name: str, section: str) -> None:
    config = as_config(load_example(name))

    assert list(config) == [section]


def test_parse_typed_config() -> None:
    example = load_example("02-acme-crm-edited.json")["example"]

    config = parse_config(example)

    assert isinstance(config.pagination, CursorPagination)
    assert config.pagination.config is not None
    assert config.pagination.config.cursor_path == "next_cursor"
    assert isinstance(config.credentials, ApiKeyCredential)
    assert isinstance(config.authorization, HeaderAuthorization)
    assert config.resources is not None
    assert config.resources["deals"]["list"].response_path == "results"
    assert config.webhook is not None
    assert isinstance(config.webhook.signature_verification, HmacVerification)


def test_parse_keeps_unknown_keys() -> None:
    config = parse_config(base_config(label="Acme", category="crm"))

    assert config.label == "Acme"
    assert config.model_extra == {"category": "crm"}


def test_parse_oauth_credentials() -> None:
    fragment = as_config(load_example("05-credentials-oauth2.json"))

    config = parse_config(fragment)

    assert isinstance(config.credentials, OAuth2Credential)
    assert config.credentials.config is not None
    assert config.credentials.config.auth is not None
    assert config.credentials.config.auth.token_host == "https://auth.acme.com"


def test_parse_credentials_by_format() -> None:
    credentials = {
        "api_key": {"config": {"fields": [{"name": "api_key"}]}},
        "oauth2": {"config": {"auth": {"tokenHost": "http://127.0.0.1:9000"}}},
    }

    config = parse_config(base_config(credentials=credentials))

    assert isinstance(config.credentials, dict)
    assert isinstance(config.credentials["api_key"], ApiKeyCredential)
    assert isinstance(config.credentials["oauth2"], OAuth2Credential)


def test_parse_normalizes_names() -> None:
    hmac = {
        "format": "hmac",
        "config": {
            "algorithm": "SHA-256",
            "encoding": "BASE64",
            "secret": "{{secret}}",
            "compare_with": "$header.x-signature",
        },
    }

    config = parse_config(
        method_config(method="GET") | {"webhook": {"signature_verification": hmac}}
    )

    assert config.resources is not None
    assert config.resources["users"]["list"].method == "get"
    assert config.webhook is not None
    verification = config.webhook.signature_verification
    assert isinstance(verification, HmacVerification)
    assert verification.config is not None
    assert verification.config.algorithm == "sha256"
    assert verification.config.encoding == "base64"


def test_parse_raises_first_problem() -> None:
    broken = base_config(pagination={"format": "scroll"}, error_expression="foo bar")

    with pytest.raises(ConfigError, match="invalid JSONata expression") as caught:
        parse_config(broken)

    # Problems are sorted by path, so the error expression comes first.
    assert caught.value.path == "error_expression"


INVALID_CONFIGS = [
    pytest.param(
        base_config(base_url=5),
        "base_url",
        "expected a string, received 5",
        id="url-type",
    ),
    pytest.param(
        base_config(base_url="ftp://127.0.0.1/x"),
        "base_url",
        "expected an http(s) URL or a placeholder such as "
        "'https://{{context.subdomain}}.example.com', received 'ftp://127.0.0.1/x'",
        id="url-scheme",
    ),
    pytest.param(
        base_config(pagination={"format": "scroll"}),
        "pagination.format",
        "unknown format 'scroll'; expected one of 'page', 'offset', 'cursor', "
        "'link_header', 'range', 'dynamic'",
        id="pagination-format",
    ),
    pytest.param(
        base_config(pagination={"config": {"limit": 10}}),
        "pagination.format",
        "format is missing; expected one of 'page', 'offset', 'cursor', "
        "'link_header', 'range', 'dynamic'",
        id="pagination-format-missing",
    ),
    pytest.param(
        base_config(pagination={"format": "cursor", "config": {"limit_param": "n"}}),
        "pagination.config.cursor_path",
        "cursor pagination needs cursor_path (a body path) or cursor_header",
        id="cursor-without-path",
    ),
    pytest.param(
        base_config(pagination={"format": "cursor"}),
        "pagination.config.cursor_path",
        "cursor pagination needs cursor_path (a body path) or cursor_header",
        id="cursor-without-config",
    ),
    pytest.param(
        base_config(
            pagination={
                "format": "cursor",
                "config": {"cursor_path": "n", "cursor_location": "cookie"},
            }
        ),
        "pagination.config.cursor_location",
        "expected one of 'query', 'body' or 'header', received 'cookie'",
        id="cursor-location",
    ),
    pytest.param(
        base_config(pagination={"format": "dynamic", "config": {}}),
        "pagination.config.get_pagination_values_expression",
        "dynamic pagination needs get_pagination_values_expression, which returns "
        "the next page's values or null",
        id="dynamic-without-values",
    ),
    pytest.param(
        base_config(pagination={"format": "page", "config": {"max_pages": 0}}),
        "pagination.config.max_pages",
        "expected a number of at least 1, received 0",
        id="page-cap",
    ),
    pytest.param(
        base_config(pagination={"format": "page", "config": {"start_page": "1"}}),
        "pagination.config.start_page",
        "expected a whole number, received '1'",
        id="strict-number",
    ),
    pytest.param(
        base_config(pagination="cursor"),
        "pagination",
        "expected an object, received 'cursor'",
        id="section-type",
    ),
    pytest.param(
        base_config(error_expression="foo bar"),
        "error_expression",
        "invalid JSONata expression: "
        'S0201: Syntax error: Identifier("bar") at position 7',
        id="bad-jsonata",
    ),
    pytest.param(
        base_config(rate_limit={"is_rate_limited": "status ="}),
        "rate_limit.is_rate_limited",
        "invalid JSONata expression: S0207: Unexpected end of expression at position 8",
        id="bad-rate-limit-jsonata",
    ),
    pytest.param(
        method_config(method="fetch"),
        "resources.users.list.method",
        "expected one of 'get', 'post', 'put', 'patch', 'delete', 'head' or "
        "'options', received 'fetch'",
        id="http-method",
    ),
    pytest.param(
        method_config(path=None),
        "resources.users.list.path",
        "a request needs a path, such as '/contacts'",
        id="missing-path",
    ),
    pytest.param(
        method_config(headers={"X-Count": 5}),
        "resources.users.list.headers.X-Count",
        "expected a string, received 5",
        id="header-type",
    ),
    pytest.param(
        method_config(query_array_format="pipes"),
        "resources.users.list.query_array_format",
        "expected one of 'comma', 'brackets', 'indices' or 'repeat', received 'pipes'",
        id="array-format",
    ),
    pytest.param(
        method_config(body_format="xml"),
        "resources.users.list.body_format",
        "expected one of 'json', 'form' or 'raw', received 'xml'",
        id="body-format",
    ),
    pytest.param(
        method_config(no_auth="true"),
        "resources.users.list.no_auth",
        "expected true or false, received 'true'",
        id="strict-boolean",
    ),
    pytest.param(
        method_config(path="/users/{{id:date}}"),
        "resources.users.list.path",
        "placeholder '{{id:date}}' has an unknown cast 'date'; expected one of any, "
        "bool, ignore-empty-str, int, json, null, num, str, undefined",
        id="placeholder-cast",
    ),
    pytest.param(
        method_config(body={"ids": ["{{body.ids[0]}}"]}),
        "resources.users.list.body.ids.0",
        "'{{body.ids[0]}}' is not a valid placeholder; a placeholder is '{{path}}' "
        "with a dotted path of letters, digits, '_', '-' and '.' (write 'a.0.b', "
        "not 'a[0].b')",
        id="placeholder-brackets",
    ),
    pytest.param(
        base_config(authorization={"format": "oauth"}),
        "authorization.format",
        "unknown format 'oauth'; expected one of 'bearer', 'basic', 'header'",
        id="authorization-format",
    ),
    pytest.param(
        base_config(
            authorization={"format": "header", "config": {"header_name": "X-Key"}}
        ),
        "authorization.config.header_value",
        "header authorization needs header_name and header_value, or an expression",
        id="header-without-value",
    ),
    pytest.param(
        base_config(
            authorization={
                "format": "header",
                "config": {"header_name": "X Key", "header_value": "v"},
            }
        ),
        "authorization.config.header_name",
        "expected an HTTP header name such as 'X-Api-Key', received 'X Key'",
        id="header-name",
    ),
    pytest.param(
        base_config(authorization={"format": "header", "config": {"expression": "{"}}),
        "authorization.config.expression",
        "invalid JSONata expression: S0207: Unexpected end of expression at position 1",
        id="header-expression",
    ),
    pytest.param(
        base_config(credentials={"format": "oauth2", "config": {"auth": {}}}),
        "credentials.config.auth.tokenHost",
        "OAuth 2.0 credentials need auth.tokenHost, the token server's URL",
        id="oauth-token-host",
    ),
    pytest.param(
        base_config(
            credentials={
                "format": "oauth2",
                "config": {
                    "auth": {"tokenHost": "http://127.0.0.1"},
                    "options": {"authorizationMethod": "query"},
                },
            }
        ),
        "credentials.config.options.authorizationMethod",
        "expected one of 'header' or 'body', received 'query'",
        id="oauth-authorization-method",
    ),
    pytest.param(
        base_config(
            credentials={
                "format": "oauth2_client_credentials",
                "config": {
                    "auth": {"tokenHost": "http://127.0.0.1"},
                    "bodyFormat": "xml",
                },
            }
        ),
        "credentials.config.bodyFormat",
        "expected one of 'form' or 'json', received 'xml'",
        id="oauth-body-format",
    ),
    pytest.param(
        base_config(credentials={"format": "saml"}),
        "credentials.format",
        "unknown format 'saml'; expected one of 'api_key', 'oauth2', "
        "'oauth2_client_credentials', 'oauth', 'keka_oauth'",
        id="credential-format",
    ),
    pytest.param(
        base_config(
            credentials={"format": "api_key", "config": {"fields": [{"label": "Key"}]}}
        ),
        "credentials.config.fields.0.name",
        "a credential field needs a name",
        id="field-name",
    ),
    pytest.param(
        base_config(
            credentials={
                "format": "api_key",
                "config": {"fields": [{"name": "a"}, {"name": "a"}]},
            }
        ),
        "credentials.config.fields",
        "credential field names must be unique; repeated: a",
        id="field-names-unique",
    ),
    pytest.param(
        base_config(
            credentials={
                "format": "api_key",
                "config": {"fields": [{"name": "a", "pattern": "("}]},
            }
        ),
        "credentials.config.fields.0.pattern",
        "invalid regular expression '(': "
        "missing ), unterminated subpattern at position 0",
        id="field-pattern",
    ),
    pytest.param(
        base_config(
            credentials={
                "format": "api_key",
                "config": {"fields": [{"name": "a", "type": "checkbox"}]},
            }
        ),
        "credentials.config.fields.0.type",
        "expected one of 'text', 'password' or 'single_select', received 'checkbox'",
        id="field-type",
    ),
    pytest.param(
        base_config(actions={"post_install": {"steps": [{"type": "form"}]}}),
        "actions.post_install.steps.0.type",
        "unknown type 'form'; expected one of 'request', 'transform', "
        "'update_context', 'set_context', 'get_context'",
        id="step-type",
    ),
    pytest.param(
        base_config(
            actions={"validation": [{"type": "request", "config": {"method": "get"}}]}
        ),
        "actions.validation.0.config.path",
        "a request needs a path, such as '/contacts'",
        id="step-request-path",
    ),
    pytest.param(
        base_config(
            actions={"sync": {"steps": [{"type": "transform", "config": "a +"}]}}
        ),
        "actions.sync.steps.0.config",
        "invalid JSONata expression: S0207: Unexpected end of expression at position 3",
        id="step-transform",
    ),
    pytest.param(
        base_config(
            actions={"sync": {"steps": [{"type": "get_context", "run_if": "(("}]}}
        ),
        "actions.sync.steps.0.run_if",
        "invalid JSONata expression: S0207: Unexpected end of expression at position 2",
        id="step-run-if",
    ),
    pytest.param(
        base_config(actions={"sync": {}}),
        "actions.sync.steps",
        "an action needs a list of steps",
        id="action-steps",
    ),
    pytest.param(
        base_config(
            webhook={
                "signature_verification": {
                    "format": "hmac",
                    "config": {
                        "algorithm": "md5",
                        "secret": "{{s}}",
                        "compare_with": "$header.x-sig",
                    },
                }
            }
        ),
        "webhook.signature_verification.config.algorithm",
        "expected one of 'sha1', 'sha256' or 'sha512', received 'md5'",
        id="hmac-algorithm",
    ),
    pytest.param(
        base_config(
            webhook={
                "signature_verification": {
                    "format": "hmac",
                    "config": {"secret": "{{s}}", "compare_with": "x-sig"},
                }
            }
        ),
        "webhook.signature_verification.config.compare_with",
        "expected where the signature is, such as '$header.x-signature' or "
        "'v0=$header.x-slack-signature', received 'x-sig'",
        id="hmac-compare-with",
    ),
    pytest.param(
        base_config(
            webhook={
                "signature_verification": {
                    "format": "hmac",
                    "config": {
                        "secret": "{{s}}",
                        "compare_with": "$header.x",
                        "parts": ["$bod"],
                    },
                }
            }
        ),
        "webhook.signature_verification.config.parts.0",
        "expected a literal, '$body', '$header.<name>' or '$query.<name>', "
        "received '$bod'",
        id="hmac-part",
    ),
    pytest.param(
        base_config(
            webhook={
                "signature_verification": {
                    "format": "hmac",
                    "config": {"compare_with": "$header.x"},
                }
            }
        ),
        "webhook.signature_verification.config.secret",
        "HMAC verification needs a secret template",
        id="hmac-secret",
    ),
    pytest.param(
        base_config(webhook={"signature_verification": {"format": "jwt"}}),
        "webhook.signature_verification.format",
        "unknown format 'jwt'; expected one of 'hmac', 'basic', 'bearer'",
        id="signature-format",
    ),
    pytest.param(
        base_config(webhook={"payload_transform": "$.body.events.{"}),
        "webhook.payload_transform",
        "invalid JSONata expression: "
        "S0207: Unexpected end of expression at position 15",
        id="payload-transform",
    ),
    pytest.param(
        base_config(resources=[]),
        "resources",
        "expected an object, received []",
        id="resources-type",
    ),
    pytest.param(
        base_config(x_vendor_note="see {{context.a[0]}}"),
        "x_vendor_note",
        "'{{context.a[0]}}' is not a valid placeholder; a placeholder is '{{path}}' "
        "with a dotted path of letters, digits, '_', '-' and '.' (write 'a.0.b', "
        "not 'a[0].b')",
        id="unknown-key-placeholder",
    ),
]


@pytest.mark.parametrize(("config", "path", "message"), INVALID_CONFIGS)
def test_invalid_config(config: dict[str, Any], path: str, message: str) -> None:
    problems = validate_config(config)

    assert problems == [ConfigProblem(path, message)]


def test_problems_are_all_reported() -> None:
    config = base_config(
        base_url=5, error_expression="foo bar", pagination={"format": "x"}
    )

    paths = [problem.path for problem in validate_config(config)]

    assert paths == ["base_url", "error_expression", "pagination.format"]


def test_config_must_be_object() -> None:
    assert validate_config([]) == [
        ConfigProblem("", "expected a config object, received []")
    ]


def test_long_value_shortened() -> None:
    problems = validate_config(base_config(label=["x" * 200]))

    assert len(problems) == 1
    assert problems[0].message.endswith("...")
    assert len(problems[0].message) < 120


def test_unknown_keys_allowed() -> None:
    config = base_config(tool_tags={"users": ["crm"]}, category="crm", logo=None)

    assert validate_config(config) == []


def test_jsonata_strings_not_checked_as_templates() -> None:
    config = base_config(error_expression="status = 500 ? '{{not a placeholder}}'")

    assert validate_config(config) == []


def test_override_needs_nothing() -> None:
    override = {
        "pagination": {"config": {"limit": 50}},
        "resources": {"users": {"list": {"response_path": "items"}}},
        "credentials": {
            "format": "oauth2",
            "config": {"client": {"id": "{{environment_variables.id}}"}},
        },
        "environment_variables": {"id": "client-1", "region": "eu"},
    }

    assert validate_override(override) == []


def test_override_credentials_without_format() -> None:
    override = {"credentials": {"config": {"client": {"secret": "{{env.secret}}"}}}}

    assert validate_override(override) == []


def test_config_credentials_without_format() -> None:
    config = base_config(credentials={"config": {"fields": [{"name": "api_key"}]}})

    assert validate_config(config) == [
        ConfigProblem(
            "credentials.format",
            "format is missing; expected one of 'api_key', 'oauth2', "
            "'oauth2_client_credentials', 'oauth', 'keka_oauth'",
        )
    ]


def test_override_nulls_remove_keys() -> None:
    override = {
        "pagination": None,
        "headers": {"X-Old": None},
        "resources": {"users": None},
    }

    assert validate_override(override) == []


@pytest.mark.parametrize(
    ("override", "path", "message"),
    [
        pytest.param(
            {"pagination": {"format": "scroll"}},
            "pagination.format",
            "unknown format 'scroll'; expected one of 'page', 'offset', 'cursor', "
            "'link_header', 'range', 'dynamic'",
            id="unknown-format",
        ),
        pytest.param(
            {"rate_limit": {"is_rate_limited": "status = "}},
            "rate_limit.is_rate_limited",
            "invalid JSONata expression: "
            "S0207: Unexpected end of expression at position 9",
            id="bad-jsonata",
        ),
        pytest.param(
            {"environment_variables": ["region"]},
            "environment_variables",
            "expected an object, received ['region']",
            id="variables-type",
        ),
        pytest.param(
            {"headers": {"Authorization": "Bearer {{token"}},
            "headers.Authorization",
            "'{{token' is not a valid placeholder; a placeholder is '{{path}}' with a "
            "dotted path of letters, digits, '_', '-' and '.' "
            "(write 'a.0.b', not 'a[0].b')",
            id="broken-placeholder",
        ),
    ],
)
def test_invalid_override(override: dict[str, Any], path: str, message: str) -> None:
    assert validate_override(override) == [ConfigProblem(path, message)]


def test_override_must_be_object() -> None:
    problems = validate_override("pagination")

    assert problems == [
        ConfigProblem("", "expected an override object, received 'pagination'")
    ]


def test_check_file_valid(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(load_example("02-acme-crm-edited.json")["example"]))

    assert check_file(path) == []


def test_check_file_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{\n  "base_url": "http://127.0.0.1",\n  "resources": {,}\n}\n')

    problems = check_file(path)

    assert problems == [
        ConfigProblem(
            "",
            "invalid JSON at line 3, column 17: "
            "Expecting property name enclosed in double quotes",
        )
    ]


def test_check_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "absent.json"

    problems = check_file(path)

    assert len(problems) == 1
    assert problems[0].path == ""
    assert problems[0].message.startswith(f"cannot read {str(path)!r}")


def test_check_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'{"label": "\xff"}')

    problems = check_file(path)

    assert len(problems) == 1
    assert problems[0].message.startswith("the file is not UTF-8 text")


def test_check_file_override_body(tmp_path: Path) -> None:
    path = tmp_path / "override.json"
    path.write_text(json.dumps({"override": {"pagination": {"format": "scroll"}}}))

    problems = check_file(path)

    assert [problem.path for problem in problems] == ["override.pagination.format"]


def test_check_file_example_override(tmp_path: Path) -> None:
    path = tmp_path / "override.json"
    path.write_text(
        json.dumps(load_example("28-override-pagination-dynamic.json")["example"])
    )

    assert check_file(path) == []


def test_check_config_with_override() -> None:
    document = {
        "config": base_config(error_expression="(("),
        "override": {"query_array_format": "pipes"},
    }

    problems = check_document(document)

    assert [problem.path for problem in problems] == [
        "config.error_expression",
        "override.query_array_format",
    ]


def test_check_override_not_object() -> None:
    problems = check_document({"override": 5})

    assert problems == [
        ConfigProblem("override", "expected an override object, received 5")
    ]


def test_dynamic_pagination_example_parses() -> None:
    fragment = as_config(load_example("16-pagination-dynamic-page-cap.json"))

    config = parse_config(fragment)

    assert isinstance(config.pagination, DynamicPagination)
    assert config.pagination.config is not None
    assert config.pagination.config.get_pagination_values_expression is not None


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"inner": value}
    return value


@pytest.mark.parametrize(
    "validate",
    [
        pytest.param(validate_config, id="config"),
        pytest.param(validate_override, id="override"),
    ],
)
def test_deeply_nested_document_is_rejected(validate: Any) -> None:
    document = {"base_url": "http://127.0.0.1:9000", "label": "x", "extra": nested(700)}

    problems = validate(document)

    assert problems == [
        ConfigProblem(
            "",
            "the document is nested deeper than 64 levels of objects and lists; "
            "flatten it",
        )
    ]


def test_nesting_at_limit_is_accepted() -> None:
    document = {"base_url": "http://127.0.0.1:9000", "extra": nested(63)}

    assert validate_config(document) == []


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        pytest.param(
            base_config(headers={"X Api Key": "v"}),
            "headers.X Api Key",
            "expected an HTTP header name",
            id="header-name-space",
        ),
        pytest.param(
            method_config(headers={"X-Id\n": "v"}),
            "resources.users.list.headers.X-Id\n",
            "expected an HTTP header name",
            id="header-name-newline",
        ),
        pytest.param(
            base_config(headers={"X-Id": "a\r\nSet-Cookie: x=1"}),
            "headers.X-Id",
            "may not contain a line break",
            id="header-value-crlf",
        ),
        pytest.param(
            base_config(
                authorization={
                    "format": "header",
                    "config": {"header_name": "X-Key", "header_value": "k\nX: y"},
                }
            ),
            "authorization.config.header_value",
            "may not contain a line break",
            id="authorization-header-value",
        ),
        pytest.param(
            base_config(pagination={"format": "page", "config": {"limit": -5}}),
            "pagination.config.limit",
            "expected a whole number of at least 1 or a placeholder, received -5",
            id="limit-negative",
        ),
        pytest.param(
            base_config(pagination={"format": "page", "config": {"limit": "abc"}}),
            "pagination.config.limit",
            "received 'abc'",
            id="limit-text",
        ),
        pytest.param(
            base_config(pagination={"format": "page", "config": {"max_pages": 10**12}}),
            "pagination.config.max_pages",
            "expected a number of at most 10000",
            id="max-pages-huge",
        ),
        pytest.param(
            method_config(timeout=-1),
            "resources.users.list.timeout",
            "expected a number greater than 0, received -1",
            id="timeout-negative",
        ),
        pytest.param(
            base_config(
                actions={"post_install": {"steps": [{"type": "update_context"}]}}
            ),
            "actions.post_install.steps.0.config.expression",
            "an update_context step needs an expression",
            id="update-context-no-config",
        ),
        pytest.param(
            base_config(
                actions={
                    "post_install": {
                        "steps": [{"type": "update_context", "config": {}}]
                    }
                }
            ),
            "actions.post_install.steps.0.config.expression",
            "an update_context step needs an expression",
            id="update-context-no-expression",
        ),
        pytest.param(
            base_config(
                webhook={
                    "signature_verification": {
                        "format": "basic",
                        "config": {"password": "{{webhook_password}}"},
                    }
                }
            ),
            "webhook.signature_verification.config.username",
            "basic verification needs a username",
            id="webhook-basic-no-username",
        ),
    ],
)
def test_unsafe_values_are_invalid(
    config: dict[str, Any], path: str, message: str
) -> None:
    problems = validate_config(config)

    assert [problem.path for problem in problems] == [path]
    assert message in problems[0].message


@pytest.mark.parametrize(
    "limit",
    [
        pytest.param(100, id="number"),
        pytest.param("100", id="digits"),
        pytest.param("{{environment_variables.page_size}}", id="placeholder"),
    ],
)
def test_page_size_forms_are_valid(limit: Any) -> None:
    config = base_config(pagination={"format": "page", "config": {"limit": limit}})

    assert validate_config(config) == []


@pytest.mark.parametrize(
    "path", [pytest.param(path, id=path.stem) for path in EXAMPLE_FILES]
)
def test_example_has_no_unknown_keys(path: Path) -> None:
    document = load_example(path.name)

    if document["kind"] == "override":
        problems = validate_override(document["example"]["override"], warnings=True)
    elif document["kind"] == "config":
        problems = validate_config(document["example"], warnings=True)
    else:
        problems = validate_config(as_config(document), warnings=True)

    assert problems == []


def test_unknown_keys_are_warnings_only_on_request() -> None:
    config = method_config(paginaton={"format": "page"})

    quiet = validate_config(config)
    loud = validate_config(config, warnings=True)

    assert quiet == []
    assert loud == [
        ConfigProblem(
            "resources.users.list.paginaton",
            "unknown key 'paginaton' is ignored; did you mean 'pagination'?",
            "warning",
        )
    ]


DEMO_CONFIGS = sorted(
    (Path(__file__).parents[1] / "graphql_api" / "demo" / "configs").glob("*.json")
)


@pytest.mark.parametrize(
    "path", [pytest.param(path, id=path.stem) for path in DEMO_CONFIGS]
)
def test_demo_config_is_clean(path: Path) -> None:
    config = json.loads(path.read_text(encoding="utf-8"))["config"]

    assert validate_config(config, warnings=True) == []
