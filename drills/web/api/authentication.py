"""``Authorization: Bearer <token>`` for the API: the token's user, as if signed in."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from drills.web.token_issuing import TokenRefused, user_for

KEYWORD = "Bearer"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """First of the API's authentications: a request with a token needs no CSRF token (it is
    not sent by a browser on its own); one without falls through to the session, which keeps
    CSRF."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                "the Authorization header must be “Bearer <token>”, with one token"
            )
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(
                "the token is not a Drillhall API token (they start with dh_)"
            ) from None
        try:
            return user_for(secret)
        except TokenRefused as refused:
            raise exceptions.AuthenticationFailed(str(refused)) from None

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to a request without credentials.
        return f'{KEYWORD} realm="drillhall"'


class BearerTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "drills.web.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API token (docs/api.md)."}
