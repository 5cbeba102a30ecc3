"""Runs: list, start, read, abort, resume, approve, decline, and their events (paged after a
sequence number, or long-polled). Each action is the page's: run_control and approvals do the
work, the compare-and-set and the audit entry; the answer says what happened in a sentence."""

from __future__ import annotations

import time
from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from drills.web.access import NotAllowed, visible_playbook, visible_run
from drills.web.api import serializers as s
from drills.web.api.base import SOURCE, ApiView, origin
from drills.web.api.error_responses import Conflict
from drills.web.approvals import ApprovalRefused, NotAnApprover, approve_run, decline_run
from drills.web.models import DrillRun, Playbook, RunEvent
from drills.web.roles import Action
from drills.web.run_control import abort_run, resume_run, start_run

TAG = ["runs"]
WAIT_STEP = 0.25  # how often a long-poll looks for a new event


def _answer(run: DrillRun, detail: str, code: int = status.HTTP_200_OK) -> Response:
    run.refresh_from_db()
    data = {"detail": detail, "run": s.RunSerializer.of(run)}
    return Response(s.RunActionSerializer(data).data, status=code)


class RunList(ApiView):
    @extend_schema(
        tags=TAG,
        responses=s.RunSerializer(many=True),
        summary="Runs you may see, newest first",
        parameters=[s.RunsQuerySerializer],
    )
    def get(self, request: Request) -> Response:
        query = s.RunsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit, name = query.validated_data["limit"], query.validated_data["playbook"]
        playbooks = Playbook.visible_to(request.user)
        if name:
            playbooks = playbooks.filter(name=name)
        runs = (
            DrillRun.objects.filter(version__playbook__in=playbooks)
            .select_related("version__playbook", "started_by")
            .order_by("-id")[:limit]
        )
        return Response(s.RunSerializer([s.RunSerializer.of(r) for r in runs], many=True).data)


class RunStart(ApiView):
    @extend_schema(
        tags=TAG,
        request=s.StartRunSerializer,
        responses={201: s.RunDetailSerializer},
        summary="Start a run of a playbook (operator role)",
        description="The run is created with its plan stored and handed to the orchestrator; "
        "one whose plan faults a protected host waits for another person's approval "
        "(state awaiting_approval), and one that cannot start ends at once with the reason "
        "in its result.",
    )
    def post(self, request: Request, name: str) -> Response:
        playbook = visible_playbook(request, name, Action.RUN)
        body = s.StartRunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        number = body.validated_data.get("version")
        if number is None:
            version = playbook.latest_version()
            if version is None:
                raise Conflict(f"playbook {playbook.name} has no saved version to run")
        else:
            version = playbook.versions.filter(number=number).first()
            if version is None:
                raise Http404(f"playbook {playbook.name} has no version {number}")
        run = start_run(version, request.user, SOURCE, origin=origin(request))
        return Response(_detail(run), status=status.HTTP_201_CREATED)


def _detail(run: DrillRun) -> dict[str, Any]:
    from drills.playbook.redaction import redact_data

    return dict(
        s.RunDetailSerializer(
            {**s.RunSerializer.of(run), "plan": redact_data(run.plan) if run.plan else None}
        ).data
    )


class RunDetail(ApiView):
    @extend_schema(tags=TAG, responses=s.RunDetailSerializer, summary="A run's status")
    def get(self, request: Request, run_id: int) -> Response:
        return Response(_detail(visible_run(request, run_id)))


class RunAbort(ApiView):
    @extend_schema(
        tags=TAG,
        request=s.ReasonSerializer,
        responses=s.RunActionSerializer,
        summary="Abort a run (operator role): every fault is reverted; 409 once it has ended",
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = visible_run(request, run_id, Action.RUN)
        body = s.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        said = " ".join(body.validated_data["reason"].split())
        reason = f"aborted by {request.user.get_username()}" + (f": {said}" if said else "")
        if abort_run(run, reason, origin=origin(request)):
            return _answer(run, "Abort requested: every fault is being reverted.")
        run.refresh_from_db()
        if run.finished:
            raise Conflict(f"run {run.id} had already finished ({run.state})")
        raise Conflict(f"an abort of run {run.id} was already requested")


class RunResume(ApiView):
    @extend_schema(
        tags=TAG,
        request=None,
        responses=s.RunActionSerializer,
        summary="Let a run waiting at a pause step go on (operator role)",
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = visible_run(request, run_id, Action.RUN)
        if resume_run(run, origin=origin(request)):
            return _answer(run, "Resumed: the drill goes on with its next step.")
        raise Conflict(f"run {run.id} had already finished")


class RunApprove(ApiView):
    @extend_schema(
        tags=TAG,
        request=s.ApproveSerializer,
        responses=s.RunActionSerializer,
        summary="Approve a run that faults protected hosts (approver role, not its starter)",
        description="Name the version and content hash you were shown: an approval of another "
        "version is refused (409).",
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = visible_run(request, run_id, Action.APPROVE)
        body = s.ApproveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            approval = approve_run(
                run,
                request.user,
                version_number=body.validated_data["version"],
                content_hash=body.validated_data["content_hash"],
                source=origin(request).source,
            )
        except NotAnApprover as exc:
            raise NotAllowed(str(exc)) from None
        except ApprovalRefused as exc:
            raise Conflict(f"not approved: {exc}") from None
        return _answer(
            run, f"Approved: {approval.playbook_name} v{approval.version_number} runs now."
        )


class RunDecline(ApiView):
    @extend_schema(
        tags=TAG,
        request=s.ReasonSerializer,
        responses=s.RunActionSerializer,
        summary="Decline a run that waits for approval (approver role): it ends untouched",
    )
    def post(self, request: Request, run_id: int) -> Response:
        run = visible_run(request, run_id, Action.APPROVE)
        body = s.ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            decline_run(
                run, request.user, body.validated_data["reason"], source=origin(request).source
            )
        except NotAnApprover as exc:
            raise NotAllowed(str(exc)) from None
        except ApprovalRefused as exc:
            raise Conflict(f"not declined: {exc}") from None
        return _answer(run, "Declined: the run has ended without touching any host.")


def event_text(event: dict[str, Any]) -> str:
    """The event as the command line says it; its type when the data is not what the line
    expects (events stored by older versions)."""
    from drills.cli.event_lines import describe

    try:
        return describe(event["type"], event["data"] if isinstance(event["data"], dict) else {})
    except (KeyError, TypeError, ValueError, AttributeError):
        return str(event["type"]).replace("_", " ")


class RunEvents(ApiView):
    @extend_schema(
        tags=TAG,
        responses=s.EventsSerializer,
        summary="A run's events after a sequence number, paged; optionally waiting for new ones",
        parameters=[s.EventsQuerySerializer],
    )
    def get(self, request: Request, run_id: int) -> Response:
        run = visible_run(request, run_id)
        query = s.EventsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        after, limit, wait = (query.validated_data[k] for k in ("after", "limit", "wait"))
        deadline = time.monotonic() + wait
        while True:
            page = list(
                RunEvent.objects.filter(run_id=run.id, seq__gt=after).order_by("seq")[: limit + 1]
            )
            run.refresh_from_db(fields=["state"])
            if page or run.finished or time.monotonic() >= deadline:
                break
            time.sleep(min(WAIT_STEP, max(0.0, deadline - time.monotonic())))
        events = []
        for event in page[:limit]:
            message = event.as_message()
            events.append({**message, "text": event_text(message)})
        answer = {
            "events": events,
            "state": run.state,
            "finished": run.finished,
            "more": len(page) > limit,
            "last_seq": events[-1]["seq"] if events else after,
        }
        return Response(s.EventsSerializer(answer).data)
