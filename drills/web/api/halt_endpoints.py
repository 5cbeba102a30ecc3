"""Halt all and release, as the kill switch on every page: any signed-in person halts, only
an admin releases (drills/web/halt.py does the work and the audit entry)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from drills.web.access import NotAllowed
from drills.web.api import serializers as s
from drills.web.api.base import ApiView, origin
from drills.web.api.error_responses import Conflict
from drills.web.halt import ReleaseRefused, current_halt, halt_all, may_release, release
from injector.halt import HaltUnknown
from injector.protocol import MAX_HALT_REASON

TAG = ["halt"]


def _state(detail: str) -> dict[str, Any]:
    none = {"halted": False, "reason": None, "by": None, "since": None}
    try:
        state = current_halt()
    except HaltUnknown as exc:
        # No halt in the database and Redis unreadable: say so rather than "not halted".
        unknown = f"Whether agents hold a halt of their own cannot be told: {exc}."
        return {**none, "detail": f"{detail} {unknown}".strip()}
    if state is None:
        return {**none, "detail": detail or "Not halted."}
    by = state.by or "someone unknown"
    said = detail or f"Halted since {state.since:.0f} (Unix time) by {by}: {state.reason}."
    return {
        "halted": True,
        "reason": state.reason,
        "by": state.by or None,
        "since": state.since,
        "detail": said,
    }


class Halt(ApiView):
    @extend_schema(tags=TAG, responses=s.HaltSerializer, summary="Whether every drill is halted")
    def get(self, request: Request) -> Response:
        return Response(s.HaltSerializer(_state("")).data)

    @extend_schema(
        tags=TAG,
        request=s.HaltRequestSerializer,
        responses={201: s.HaltSerializer, 200: s.HaltSerializer},
        summary="Halt every drill (anyone signed in); 200 when a halt was in force already",
    )
    def post(self, request: Request) -> Response:
        body = s.HaltRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        who = origin(request)
        reason = body.validated_data["reason"].strip()[:MAX_HALT_REASON]
        reason = reason or f"kill switch by {request.user.get_username()} through the API"
        result = halt_all(reason, request.user, who.source)
        if result.redis_error:
            detail = (
                "Halted: no drill may start, and runs in progress abort. Redis did not answer "
                f"({result.redis_error}), so agents hear of the halt when it is back."
            )
        elif not result.created:
            detail = f"Already halted ({result.halt.reason}); every agent was told again."
        else:
            detail = (
                f"Halted: every fault is being reverted on {len(result.queues)} agent queue(s); "
                "new faults are refused until an admin releases."
            )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(s.HaltSerializer(_state(detail)).data, status=code)


class Release(ApiView):
    @extend_schema(
        tags=TAG,
        request=None,
        responses=s.HaltSerializer,
        summary="Release the halt (admin role)",
    )
    def post(self, request: Request) -> Response:
        if not may_release(request.user):
            raise NotAllowed("Only an admin may release a halt.")
        try:
            result = release(request.user, origin(request).source)
        except ReleaseRefused as exc:
            raise NotAllowed(str(exc)) from None
        if result.redis_error and result.released:
            detail = (
                f"Released, but Redis did not answer ({result.redis_error}): agents stay halted "
                "until it is back, and hear of the release then."
            )
        elif result.redis_error:
            raise Conflict(f"could not release: Redis did not answer ({result.redis_error})")
        elif result.released:
            detail = "Released: drills may inject faults again."
        else:
            detail = "Nothing was halted."
        return Response(s.HaltSerializer(_state(detail)).data)
