"""Rules that keep credentials and client secrets out of API responses.

Redaction removes a key together with its value; it never masks. A key is
secret when its name looks like a credential (`is_secret_key`, the rule that
`db.crypto` also uses to choose the values it encrypts at rest), at any depth
of the document. In an account's context, the credential fields that the
integration declares with ``"type": "password"`` are secret too.

Integration configs and overrides carry credentials under ordinary names as
well, so `redact_config` also removes:

- every value under ``authorization.config``, because a header value or a
  JSONata expression there may contain a literal token;
- under any ``headers`` object, the credential-bearing headers
  (`is_credential_header`);
- keys whose name contains "assertion", such as a ``client_assertion`` in
  ``tokenParams``;
- strings that are URLs with a password (``http://user:pass@host``).

A config shown to a team other than its owner also loses every
``authorization``, ``credentials`` and ``headers`` object.

The stored documents keep their secrets. `carry_over_secrets` lets a client
write back a document that it read in redacted form without erasing them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from db.crypto import is_secret_key, key_words, with_secret_fields

__all__ = [
    "carry_over_secrets",
    "declared_password_fields",
    "is_credential_header",
    "is_secret_key",
    "key_words",
    "mark_context_secrets",
    "redact_config",
    "redact_context",
    "redact_value",
]

# Objects and lists nested deeper than this read back as null. Mutations
# reject JSON inputs nested deeper than 32 levels (see
# `graphql_api.mutations.validation.MAX_JSON_INPUT_DEPTH`),
# so only documents stored before that check, or written around the API,
# reach this limit.
MAX_READ_DEPTH = 64

_CREDENTIAL_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
_CREDENTIAL_HEADER_PARTS = ("token", "key", "secret", "auth", "password", "signature")
# Sections that a config shown to another team leaves out entirely.
_OWNER_ONLY_SECTIONS = frozenset({"authorization", "credentials", "headers"})
_URL_WITH_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@]*:[^/?#@]*@")

# The rule of `_strip`: given the keys of the parent and grandparent objects
# (lower-cased, "" at the top), a key and its value, tell whether to drop it.
KeyRule = Callable[[tuple[str, str], str, Any], bool]


def declared_password_fields(*configs: Mapping[str, Any] | None) -> frozenset[str]:
    """Collect the names of credential fields declared with type "password".

    Integration configs declare them as
    ``credentials.config.fields[] = {"name": ..., "type": "password"}``. Every
    ``fields`` list under ``credentials`` counts, so that an override adding a
    field is covered too.
    """
    names: set[str] = set()
    for config in configs:
        if config:
            names.update(_password_fields_in(config.get("credentials")))
    return frozenset(names)


def _password_fields_in(value: Any) -> Iterable[str]:
    # A stack, not recursion, so that a deeply nested stored config cannot
    # raise RecursionError on a read.
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, Mapping):
            if item.get("type") == "password" and isinstance(item.get("name"), str):
                yield item["name"]
            pending.extend(item.values())


def redact_config(
    config: Mapping[str, Any] | None, *, foreign: bool = False
) -> dict[str, Any]:
    """Return a copy of an integration config or override without secrets.

    Removes every key named like a secret, such as the OAuth client secret at
    ``credentials.config.client.secret`` or a webhook signing ``secret``, and
    the credentials under ordinary names that the module docstring lists.
    With `foreign` (a reader outside the owning team), every
    ``authorization``, ``credentials`` and ``headers`` object goes too.
    """
    rule = _foreign_config_rule if foreign else _config_rule
    stripped = _strip(config or {}, rule)
    return stripped if isinstance(stripped, dict) else {}


def is_credential_header(name: str) -> bool:
    """Tell whether an HTTP header name carries a credential.

    True for Authorization, Proxy-Authorization, Cookie, Set-Cookie and
    X-Api-Key, and for any header whose name contains token, key, secret,
    auth, password or signature, such as X-Auth-Token.
    """
    lowered = name.lower()
    if lowered in _CREDENTIAL_HEADERS:
        return True
    return any(part in lowered for part in _CREDENTIAL_HEADER_PARTS)


def _config_rule(parents: tuple[str, str], key: str, value: Any) -> bool:
    parent, grandparent = parents
    if is_secret_key(key) or "assertion" in key.lower():
        return True
    if parent == "config" and grandparent == "authorization":
        return True
    if parent == "headers" and is_credential_header(key):
        return True
    return _is_url_with_password(value)


def _foreign_config_rule(parents: tuple[str, str], key: str, value: Any) -> bool:
    return key.lower() in _OWNER_ONLY_SECTIONS or _config_rule(parents, key, value)


def _is_url_with_password(value: Any) -> bool:
    return isinstance(value, str) and _URL_WITH_PASSWORD.match(value) is not None


def redact_context(
    context: Mapping[str, Any] | None,
    integration_config: Mapping[str, Any] | None,
    override: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a copy of an account's context without credential values.

    Removes keys named like a secret (``api_key``, ``password``,
    ``client_secret``, ``oauth.token`` and everything under it, ...) and the
    password fields declared in the integration config or the install's
    override, at any depth.
    """
    is_hidden = _context_key_rule(integration_config, override)
    return _without_keys(context or {}, is_hidden)


def redact_value(value: Any) -> Any:
    """Return a copy of any JSON value without keys named like a secret."""
    return _strip(value, _by_name(is_secret_key))


def carry_over_secrets(
    previous: Any,
    replacement: Any,
    integration_config: Mapping[str, Any] | None = None,
    override: Mapping[str, Any] | None = None,
) -> Any:
    """Copy the secret keys of `previous` that `replacement` leaves out.

    A client that reads a context, edits it and writes an object back has
    never seen the secrets inside it, so their absence means "unchanged",
    not "delete". Secrets that `replacement` sets, even to null, win.
    """
    is_hidden = _context_key_rule(integration_config, override)
    return _carry_over(previous, replacement, is_hidden)


def _context_key_rule(
    integration_config: Mapping[str, Any] | None,
    override: Mapping[str, Any] | None,
) -> Callable[[str], bool]:
    password_fields = declared_password_fields(integration_config, override)

    def is_hidden(name: str) -> bool:
        return name in password_fields or is_secret_key(name)

    return is_hidden


def _carry_over(
    previous: Any, replacement: Any, is_hidden: Callable[[str], bool]
) -> Any:
    if not isinstance(previous, Mapping) or not isinstance(replacement, Mapping):
        return replacement
    merged = dict(replacement)
    for key, old_value in previous.items():
        if key not in merged:
            if is_hidden(key):
                merged[key] = old_value
        else:
            merged[key] = _carry_over(old_value, merged[key], is_hidden)
    return merged


def _without_keys(
    document: Mapping[str, Any], is_hidden: Callable[[str], bool]
) -> dict[str, Any]:
    stripped = _strip(document, _by_name(is_hidden))
    return stripped if isinstance(stripped, dict) else {}


def _by_name(is_hidden: Callable[[str], bool]) -> KeyRule:
    def rule(_parents: tuple[str, str], key: str, _value: Any) -> bool:
        return bool(key) and is_hidden(key)

    return rule


def _strip(value: Any, is_hidden: KeyRule) -> Any:
    """Copy `value` without hidden keys and without nesting past `MAX_READ_DEPTH`.

    Objects and lists deeper than `MAX_READ_DEPTH` levels become null. Works
    with a stack instead of recursion, so that no stored document can
    raise RecursionError, and the cut keeps responses within the nesting
    that the JSON encoder accepts. The rule sees each list item with the
    key "", and a hidden item is dropped from the copy.
    """
    root: list[Any] = [None]
    pending: list[tuple[Any, Any, Any, int, tuple[str, str]]] = [
        (value, root, 0, 1, ("", ""))
    ]
    while pending:
        source, target, slot, depth, parents = pending.pop()
        if isinstance(source, Mapping | list) and depth > MAX_READ_DEPTH:
            target[slot] = None
        elif isinstance(source, Mapping):
            copy: dict[Any, Any] = {}
            target[slot] = copy
            for key, child in source.items():
                name = str(key)
                if not is_hidden(parents, name, child):
                    # Inserted now so that the copy keeps the key order.
                    copy[key] = None
                    child_parents = (name.lower(), parents[0])
                    pending.append((child, copy, key, depth + 1, child_parents))
        elif isinstance(source, list):
            kept = [item for item in source if not is_hidden(parents, "", item)]
            items: list[Any] = [None] * len(kept)
            target[slot] = items
            for index, item in enumerate(kept):
                pending.append((item, items, index, depth + 1, parents))
        else:
            target[slot] = source
    return root[0]


def mark_context_secrets(
    context: Mapping[str, Any],
    integration_config: Mapping[str, Any] | None,
    override: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Mark the declared password fields of a context for encryption at rest.

    Keys named like a secret are encrypted anyway (see `db.crypto`); this adds
    the password fields of the integration config and the install's
    override, so that every value that `redact_context` hides is stored
    encrypted. Assign the result to ``IntegratedAccount.context``.
    """
    return with_secret_fields(
        context, declared_password_fields(integration_config, override)
    )
