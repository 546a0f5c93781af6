"""GraphQL enums. Their Python values are the lower-case strings stored in the
database (see `db.enums`), so a member's ``.value`` goes straight into SQL."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry

from db import enums as db_enums


def stored_value(member: Enum) -> Any:
    """Return the database value of a GraphQL enum member, such as "active"."""
    return member.value


@strawberry.enum(description="Connection state of an integrated account.")
class IntegratedAccountStatus(Enum):
    ACTIVE = strawberry.enum_value(
        db_enums.IntegratedAccountStatus.ACTIVE.value,
        description="Connected and working.",
    )
    CONNECTING = strawberry.enum_value(
        db_enums.IntegratedAccountStatus.CONNECTING.value,
        description="Created; the connection flow has not finished yet.",
    )
    POST_INSTALL_ERROR = strawberry.enum_value(
        db_enums.IntegratedAccountStatus.POST_INSTALL_ERROR.value,
        description="The post-install actions failed; see `lastError`.",
    )
    VALIDATION_ERROR = strawberry.enum_value(
        db_enums.IntegratedAccountStatus.VALIDATION_ERROR.value,
        description="The credentials failed validation; see `lastError`.",
    )
    NEEDS_REAUTH = strawberry.enum_value(
        db_enums.IntegratedAccountStatus.NEEDS_REAUTH.value,
        description="The upstream rejected the credentials; the customer must "
        "connect again.",
    )


@strawberry.enum(description="How an integrated account authenticates upstream.")
class AuthenticationMethod(Enum):
    OAUTH2 = strawberry.enum_value(
        db_enums.AuthenticationMethod.OAUTH2.value,
        description="OAuth 2.0 authorization code flow.",
    )
    API_KEY = strawberry.enum_value(
        db_enums.AuthenticationMethod.API_KEY.value,
        description="A static API key or username and password.",
    )
    OAUTH2_CLIENT_CREDENTIALS = strawberry.enum_value(
        db_enums.AuthenticationMethod.OAUTH2_CLIENT_CREDENTIALS.value,
        description="OAuth 2.0 client credentials flow.",
    )
    KEKA_OAUTH = strawberry.enum_value(
        db_enums.AuthenticationMethod.KEKA_OAUTH.value,
        description="Keka's OAuth variant.",
    )


@strawberry.enum(description="Data region that stores an integrated account.")
class Region(Enum):
    WNAM = strawberry.enum_value(
        db_enums.Region.WNAM.value, description="Western North America."
    )
    ENAM = strawberry.enum_value(
        db_enums.Region.ENAM.value, description="Eastern North America."
    )
    APAC = strawberry.enum_value(
        db_enums.Region.APAC.value, description="Asia-Pacific."
    )
    EU = strawberry.enum_value(db_enums.Region.EU.value, description="European Union.")


@strawberry.enum(description="Region of the SuperQuery store that syncs an account.")
class SuperQueryRegion(Enum):
    APAC = strawberry.enum_value(
        db_enums.SuperQueryRegion.APAC.value, description="Asia-Pacific."
    )
    WNAM = strawberry.enum_value(
        db_enums.SuperQueryRegion.WNAM.value, description="Western North America."
    )


@strawberry.enum(description="Whether other teams may see and install an integration.")
class SharingPolicy(Enum):
    ALLOW = strawberry.enum_value(
        db_enums.SharingPolicy.ALLOW.value,
        description="Every team may see and install it.",
    )
    ASK = strawberry.enum_value(
        db_enums.SharingPolicy.ASK.value,
        description="Other teams must ask the owner; it stays hidden from them.",
    )
    DENY = strawberry.enum_value(
        db_enums.SharingPolicy.DENY.value,
        description="Only the owning team may read it.",
    )
