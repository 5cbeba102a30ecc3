"""What every API view shares: who is asking (for the audit log), and "some team" checks."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.views import APIView

from drills.web.access import NotAllowed, refusal
from drills.web.audit import Origin, request_source
from drills.web.roles import Action, can

SOURCE = "api"  # DrillRun.source / GameDayRun.source of what the API starts


# No docstring: drf-spectacular would print it as every operation's description.
class ApiView(APIView):
    pass


def origin(request: Request) -> Origin:
    """The person (the token's or the session's) and the client's address, for the audit log."""
    return Origin(request.user, request_source(request._request))


def need_somewhere(user: Any, action: Action, doing: str | None = None) -> None:
    """The role for ``action`` in some team (or the admin role), as ``@requires`` asks of a
    page whose URL names no object; NotAllowed with the same sentence otherwise."""
    if not can(user, action):
        raise NotAllowed(refusal(user, action, doing=doing))
