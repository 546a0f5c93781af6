"""Value sets stored in the tables, spelled as Truto's REST API spells them."""

from __future__ import annotations

from enum import StrEnum


class IntegratedAccountStatus(StrEnum):
    ACTIVE = "active"
    CONNECTING = "connecting"
    POST_INSTALL_ERROR = "post_install_error"
    VALIDATION_ERROR = "validation_error"
    NEEDS_REAUTH = "needs_reauth"


class AuthenticationMethod(StrEnum):
    OAUTH2 = "oauth2"
    API_KEY = "api_key"
    OAUTH2_CLIENT_CREDENTIALS = "oauth2_client_credentials"
    KEKA_OAUTH = "keka_oauth"


class Region(StrEnum):
    WNAM = "wnam"
    ENAM = "enam"
    APAC = "apac"
    EU = "eu"


class SuperQueryRegion(StrEnum):
    APAC = "apac"
    WNAM = "wnam"


class SharingPolicy(StrEnum):
    ALLOW = "allow"
    ASK = "ask"
    DENY = "deny"
