"""Per-user API tokens: made (and shown) once, found by prefix, checked by hash, revoked.

Why a small model of our own rather than a library: DRF's ``authtoken`` keeps tokens in clear
in the database (one leaked backup would sign anyone in), and has one unnamed token per user;
django-rest-knox hashes them but has no names or last use, expires tokens by default and
issues them through a password login view; djangorestframework-api-key's keys belong to no
user (a permission, not an authentication), so roles could not apply. What is needed is short:
a token is ``dh_`` and 32 random bytes (``secrets.token_urlsafe``); the database keeps its first
characters (to find the row and to show in the list) and its sha256. A fast hash is enough for
a 256-bit random secret (nothing to guess, unlike a password), and a slow one would cost every
request. The row is found by its prefix and the digest compared in constant time
(``hmac.compare_digest``), so a wrong token takes as long to refuse whichever prefix it has.

Making and revoking a token are audited (``AuditAction.TOKEN_CREATE`` / ``TOKEN_REVOKE``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from drills.web.audit import AuditAction, Origin, record_as
from drills.web.models import ApiToken

TOKEN_START = "dh_"
PREFIX_LENGTH = len(TOKEN_START) + 8
TOKEN_PATTERN = re.compile(r"^dh_[A-Za-z0-9_-]{43}$")
NAME_MAX = 100
# last_used_at is written at most this often per token: not a write on every request.
LAST_USED_EVERY = timedelta(seconds=60)


class TokenRefused(Exception):
    """A token that signs nobody in; the message says why, in a sentence."""


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``secret`` is shown once and then exists only with its holder."""

    token: ApiToken
    secret: str


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def clean_name(name: str) -> str:
    name = " ".join(str(name).split())[:NAME_MAX]
    if not name:
        raise ValueError("give the token a name that says where it is used, e.g. “ci-pipeline”")
    return name


def create_token(user: Any, name: str, origin: Origin) -> NewToken:
    """A new token of ``user`` named ``name``; the audit entry names its prefix, never it."""
    name = clean_name(name)
    for _ in range(5):  # a prefix taken already (48 random bits): draw again
        secret = TOKEN_START + secrets.token_urlsafe(32)
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user, name=name, prefix=secret[:PREFIX_LENGTH], digest=digest_of(secret)
                )
                record_as(
                    AuditAction.TOKEN_CREATE,
                    origin,
                    object_type="api_token",
                    object_id=token.prefix,
                    summary=f"created API token {token.prefix}… “{name}” for {user.get_username()}",
                    # The hash of the digest, not of the token: the log must not be a way in.
                    content=token.digest,
                )
        except IntegrityError:
            continue
        return NewToken(token, secret)
    raise RuntimeError("could not draw an unused token prefix in five tries")


def revoke_token(token: ApiToken, origin: Origin) -> bool:
    """Revoke ``token`` (compare-and-set: only the first revocation counts and is audited)."""
    with transaction.atomic():
        won = ApiToken.objects.filter(id=token.id, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if not won:
            return False
        record_as(
            AuditAction.TOKEN_REVOKE,
            origin,
            object_type="api_token",
            object_id=token.prefix,
            summary=f"revoked API token {token.prefix}… “{token.name}” of "
            f"{token.user.get_username()}",
            content=token.digest,
        )
    token.refresh_from_db()
    return True


def user_for(secret: str) -> tuple[Any, ApiToken]:
    """The user a presented token signs in, and its row; raises TokenRefused."""
    if not TOKEN_PATTERN.match(secret):
        raise TokenRefused("the token is not a Drillhall API token (they start with dh_)")
    token = ApiToken.objects.select_related("user").filter(prefix=secret[:PREFIX_LENGTH]).first()
    # Compared even without a row, so an unknown prefix costs what a wrong digest costs.
    stored = token.digest if token is not None else "0" * 64
    if not hmac.compare_digest(stored, digest_of(secret)) or token is None:
        raise TokenRefused("the token is not valid; make one on the API tokens page")
    if token.revoked:
        raise TokenRefused(
            f"token {token.prefix}… was revoked at {token.revoked_at:%Y-%m-%d %H:%M} UTC"
        )
    if not token.user.is_active:
        raise TokenRefused("the token's user is deactivated")
    now = timezone.now()
    ApiToken.objects.filter(id=token.id).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_EVERY)
    ).update(last_used_at=now)
    return token.user, token
