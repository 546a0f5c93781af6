"""Encryption at rest of the secret values inside stored JSON documents.

Account contexts, integration configs and install overrides are JSON
documents that mix credentials with plain settings. Only the values of
secret keys are encrypted, each one separately, so that the rest of a
document stays readable in the database:

    {"subdomain": "acme", "api_key": "$enc:v1:1f2e3d4c:3q2-7w..."}

A key is secret when its name looks like a credential (`is_secret_key`), at
any depth. A document may name more secret keys with `with_secret_fields`,
which is how the password fields that an integration declares are covered.
The whole value under a secret key is encrypted, so ``oauth.token`` with its
access and refresh tokens becomes one sealed string.

Values are sealed with AES-256-GCM. A sealed value is
``$enc:v1:<key id>:<base64url of nonce + ciphertext + tag>``, where the key
id is derived from the key. A `KeyRing` contains one or more keys. The
first one encrypts and every one decrypts, so a new key can be put first,
and the old ones dropped once ``graphql-api rotate-key`` has re-encrypted
every row.

The column type `SecretJSON` seals on write and opens on read, with the
key ring that `use_keyring` installed for the process. One process serves
one database, so one key ring per process is enough.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import JSON, Dialect, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB

SECRET_KEY_VARIABLE = "GRAPHQL_API_SECRET_KEY"
KEY_BYTES = 32
SEALED_PREFIX = "$enc:v1:"
_NONCE_BYTES = 12
_KEY_ID_LENGTH = 8
# Bound into every ciphertext, so that a value sealed by another program or
# another format version never opens as one of ours.
_ASSOCIATED_DATA = b"graphql-api sealed value v1"
# A real key has 32 random bytes; fewer distinct bytes than this means a
# made-up value such as 32 zero bytes.
_MIN_DISTINCT_KEY_BYTES = 16
_GENERATE_HINT = (
    'generate one with `graphql-api generate-key` (or `python -c "import '
    'secrets; print(secrets.token_urlsafe(32))"`)'
)

# Words that make a key secret wherever they appear in its name, such as
# "client_secret", "secretAccessKey" or "db_password".
_SECRET_WORDS = frozenset({"secret", "secrets", "password", "passwd", "passphrase"})
# Words that make a key secret as its last word, such as "access_token" or
# "token". "token_url" and "tokenHost" name endpoints, so they stay.
_SECRET_LAST_WORDS = frozenset({"token", "tokens", "apikey", "jwt", "pwd"})
# Last two words that make a key secret, such as "api_key" or "X-Api-Key".
_SECRET_LAST_PAIRS = frozenset(
    {
        ("api", "key"),
        ("private", "key"),
        ("secret", "key"),
        ("access", "key"),
        ("signing", "key"),
        ("encryption", "key"),
    }
)
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


class SecretKeyError(ValueError):
    """Raised when the configured secret key is missing, malformed or a placeholder."""


class SealedValueError(Exception):
    """Raised when a stored sealed value cannot be decrypted.

    The value was sealed with a key that the key ring does not hold, or the
    stored text was changed. The message names the key id, never the value.
    """


class MissingKeyRingError(RuntimeError):
    """Raised when a secret must be sealed or opened but no key ring is installed."""


def key_words(name: str) -> list[str]:
    """Split a key into lower-case words at underscores, dashes and camelCase."""
    return [word.lower() for word in _WORD.findall(name)]


def is_secret_key(name: str) -> bool:
    """Tell whether a JSON key names a credential or a secret."""
    words = key_words(name)
    if not words:
        return False
    if _SECRET_WORDS.intersection(words):
        return True
    if words[-1] in _SECRET_LAST_WORDS:
        return True
    return tuple(words[-2:]) in _SECRET_LAST_PAIRS


def generate_key() -> str:
    """Return a new random key in the form that `GRAPHQL_API_SECRET_KEY` takes."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii").rstrip("=")


def key_id(key: bytes) -> str:
    """Return the short id that sealed values carry to name their key."""
    digest = hashlib.sha256(b"graphql-api key id\x00" + key).hexdigest()
    return digest[:_KEY_ID_LENGTH]


class KeyRing:
    """AES-256-GCM keys: the first one seals, and any of them opens."""

    def __init__(self, keys: Iterable[bytes]) -> None:
        self._keys = tuple(keys)
        if not self._keys:
            raise SecretKeyError(
                f"{SECRET_KEY_VARIABLE} is missing a key: {_GENERATE_HINT}."
            )
        for key in self._keys:
            if len(key) != KEY_BYTES:
                raise SecretKeyError(
                    f"a key of {len(key)} bytes is invalid: expected {KEY_BYTES}"
                )
        self._ciphers = {key_id(key): AESGCM(key) for key in self._keys}
        self.primary_key_id = key_id(self._keys[0])

    @classmethod
    def from_setting(cls, raw: str) -> KeyRing:
        """Parse a comma-separated list of base64url keys, the first one primary.

        Raises SecretKeyError, naming the variable and the position of the
        bad key, when a key is not 32 bytes of base64url or looks made up.
        """
        parts = [part.strip() for part in raw.split(",")]
        if not any(parts):
            raise SecretKeyError(f"{SECRET_KEY_VARIABLE} is empty: {_GENERATE_HINT}.")
        return cls(
            _decode_key(part, position) for position, part in enumerate(parts, 1)
        )

    @property
    def key_ids(self) -> tuple[str, ...]:
        """Ids of the keys, the sealing key first."""
        return tuple(key_id(key) for key in self._keys)

    def seal(self, plaintext: bytes) -> str:
        """Encrypt bytes with the first key and return the sealed text."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        cipher = self._ciphers[self.primary_key_id]
        ciphertext = cipher.encrypt(nonce, plaintext, _ASSOCIATED_DATA)
        encoded = base64.urlsafe_b64encode(nonce + ciphertext).decode("ascii")
        return f"{SEALED_PREFIX}{self.primary_key_id}:{encoded.rstrip('=')}"

    def open(self, sealed: str) -> bytes:
        """Decrypt text made by `seal` with any key of the ring.

        Raises SealedValueError when the text is malformed, names a key that
        the ring lacks, or fails authentication.
        """
        identifier, _, encoded = sealed.removeprefix(SEALED_PREFIX).partition(":")
        cipher = self._ciphers.get(identifier)
        if cipher is None:
            raise SealedValueError(
                f"A stored secret was encrypted with key id {identifier!r}, which "
                f"is not among the keys of {SECRET_KEY_VARIABLE} "
                f"({', '.join(self.key_ids)}): add that key back to the list."
            )
        try:
            raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            return cipher.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _ASSOCIATED_DATA
            )
        except (binascii.Error, ValueError, InvalidTag):
            raise SealedValueError(
                f"A stored secret under key id {identifier!r} failed authentication: "
                "the stored text was changed or truncated."
            ) from None


def _decode_key(text: str, position: int) -> bytes:
    where = f"{SECRET_KEY_VARIABLE} key {position}"
    if not text:
        raise SecretKeyError(f"{where} is empty: remove the extra comma.")
    try:
        key = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise SecretKeyError(
            f"{where} is invalid: expected {KEY_BYTES} random bytes in base64url "
            f"(43 characters); {_GENERATE_HINT}."
        )
    if len(set(key)) < _MIN_DISTINCT_KEY_BYTES:
        raise SecretKeyError(
            f"{where} is a placeholder, not a random key: {_GENERATE_HINT}."
        )
    return key


# The key ring of this process, installed at start-up by the server and the
# commands that read or write secrets.
_keyring: KeyRing | None = None


def use_keyring(keyring: KeyRing | None) -> None:
    """Install the key ring that `SecretJSON` columns use in this process."""
    global _keyring
    _keyring = keyring


def current_keyring() -> KeyRing:
    """Return the installed key ring; raise MissingKeyRingError when there is none."""
    if _keyring is None:
        raise MissingKeyRingError(
            f"No secret key is configured, so secrets cannot be encrypted or "
            f"decrypted: set {SECRET_KEY_VARIABLE}; {_GENERATE_HINT}."
        )
    return _keyring


class SecretFields(dict[str, Any]):
    """A JSON object together with extra key names whose values are secret.

    It behaves as a plain dict everywhere; only `SecretJSON` reads
    `secret_fields`, at any depth of the object, on top of `is_secret_key`.
    """

    secret_fields: frozenset[str]

    def __init__(
        self, document: Mapping[str, Any], secret_fields: Iterable[str]
    ) -> None:
        super().__init__(document)
        self.secret_fields = frozenset(secret_fields)


def with_secret_fields(
    document: Mapping[str, Any], secret_fields: Iterable[str]
) -> dict[str, Any]:
    """Return `document` marked so that `secret_fields` are sealed when stored."""
    names = frozenset(secret_fields)
    if not names:
        return dict(document)
    return SecretFields(document, names)


def seal_document(
    document: Any, keyring: KeyRing, is_secret: Callable[[str], bool] = is_secret_key
) -> Any:
    """Return a copy of a JSON value with every secret value sealed.

    A value is sealed when its key is secret by `is_secret`. A string that
    already looks sealed is sealed again wherever it is, so every sealed
    value in the database was made by this server and opens back to what the
    client sent. Null stays null.
    """
    if isinstance(document, Mapping):
        sealed: dict[str, Any] = {}
        for key, value in document.items():
            if value is not None and is_secret(str(key)):
                sealed[key] = keyring.seal(_dump(value))
            else:
                sealed[key] = seal_document(value, keyring, is_secret)
        return sealed
    if isinstance(document, list):
        return [seal_document(item, keyring, is_secret) for item in document]
    if isinstance(document, str) and document.startswith(SEALED_PREFIX):
        return keyring.seal(_dump(document))
    return document


def open_document(document: Any, keyring: KeyRing) -> Any:
    """Return a copy of a JSON value with every sealed value decrypted.

    Raises SealedValueError when a sealed value fails to decrypt.
    """
    if isinstance(document, dict):
        return {key: open_document(value, keyring) for key, value in document.items()}
    if isinstance(document, list):
        return [open_document(item, keyring) for item in document]
    if isinstance(document, str) and document.startswith(SEALED_PREFIX):
        return orjson.loads(keyring.open(document))
    return document


def count_sealed(document: Any) -> int:
    """Count the sealed values in a stored JSON value."""
    if isinstance(document, dict):
        return sum(count_sealed(value) for value in document.values())
    if isinstance(document, list):
        return sum(count_sealed(item) for item in document)
    return int(isinstance(document, str) and document.startswith(SEALED_PREFIX))


def document_rule(document: Any) -> Callable[[str], bool]:
    """Return the secret-key rule of a document: `is_secret_key` plus its fields."""
    names: frozenset[str] = getattr(document, "secret_fields", frozenset())
    if not names:
        return is_secret_key

    def is_secret(name: str) -> bool:
        return name in names or is_secret_key(name)

    return is_secret


def _dump(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:
        # orjson rejects integers beyond 64 bits; the standard library writes them.
        return json.dumps(value, separators=(",", ":")).encode("utf-8")


class SecretJSON(TypeDecorator[Any]):
    """A JSON document whose secret values are stored encrypted.

    JSONB on PostgreSQL and JSON text on SQLite, like `db.types.JSONDocument`.
    Writes seal with the installed key ring (see `use_keyring`) and fail with
    MissingKeyRingError when a secret must be sealed without one. Reads
    decrypt every sealed value.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        is_secret = document_rule(value)
        if not _needs_sealing(value, is_secret):
            return value
        return seal_document(value, current_keyring(), is_secret)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        # Rows without sealed values need no key ring, so rows written before
        # a key was configured still read.
        if value is None or not count_sealed(value):
            return value
        return open_document(value, current_keyring())


def _needs_sealing(document: Any, is_secret: Callable[[str], bool]) -> bool:
    if isinstance(document, Mapping):
        return any(
            (value is not None and is_secret(str(key)))
            or _needs_sealing(value, is_secret)
            for key, value in document.items()
        )
    if isinstance(document, list):
        return any(_needs_sealing(item, is_secret) for item in document)
    return isinstance(document, str) and document.startswith(SEALED_PREFIX)
