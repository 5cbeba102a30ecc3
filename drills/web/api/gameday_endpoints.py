"""Game days and their runs: list, read, start, stop, as on their pages (start_gameday and
stop_gameday do the work and the audit entry)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from drills.web.access import visible_gameday, visible_gameday_run
from drills.web.api import serializers as s
from drills.web.api.base import SOURCE, ApiView, origin
from drills.web.api.error_responses import Conflict
from drills.web.gameday_runs import GameDayRefused, start_gameday, stop_gameday
from drills.web.models import GameDay, GameDayRun
from drills.web.roles import Action

TAG = ["game days"]


def _run_data(run: GameDayRun) -> dict:  # type: ignore[type-arg]
    return dict(s.GameDayRunSerializer(s.GameDayRunSerializer.of(run)).data)


class GameDayList(ApiView):
    @extend_schema(
        tags=TAG, responses=s.GameDaySerializer(many=True), summary="Game days you may see"
    )
    def get(self, request: Request) -> Response:
        days = GameDay.visible_to(request.user).select_related("team", "owner")
        return Response(
            s.GameDaySerializer([s.GameDaySerializer.of(d) for d in days], many=True).data
        )


class GameDayDetail(ApiView):
    @extend_schema(tags=TAG, responses=s.GameDaySerializer, summary="One game day")
    def get(self, request: Request, gameday: str) -> Response:
        return Response(
            s.GameDaySerializer(s.GameDaySerializer.of(visible_gameday(request, gameday))).data
        )


class GameDayRuns(ApiView):
    @extend_schema(
        tags=TAG,
        responses=s.GameDayRunSerializer(many=True),
        summary="A game day's runs, newest first",
        parameters=[s.ListQuerySerializer],
    )
    def get(self, request: Request, gameday: str) -> Response:
        day = visible_gameday(request, gameday)
        query = s.ListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        limit = query.validated_data["limit"]
        runs = GameDayRun.objects.filter(gameday=day).select_related(
            "gameday", "version", "started_by"
        )
        return Response([_run_data(r) for r in runs.order_by("-id")[:limit]])


class GameDayStart(ApiView):
    @extend_schema(
        tags=TAG,
        request=None,
        responses={201: s.GameDayRunSerializer},
        summary="Start a run of the game day's latest version (operator role)",
        description="409 when it cannot start now (a run of it still runs, no valid version).",
    )
    def post(self, request: Request, gameday: str) -> Response:
        day = visible_gameday(request, gameday, Action.RUN)
        try:
            run = start_gameday(day, request.user, SOURCE, origin=origin(request))
        except GameDayRefused as refused:
            raise Conflict(f"not started: {refused}") from None
        return Response(_run_data(run), status=status.HTTP_201_CREATED)


class GameDayRunDetail(ApiView):
    @extend_schema(tags=TAG, responses=s.GameDayRunSerializer, summary="A game-day run's status")
    def get(self, request: Request, gameday_run_id: int) -> Response:
        return Response(_run_data(visible_gameday_run(request, gameday_run_id)))


class GameDayRunStop(ApiView):
    @extend_schema(
        tags=TAG,
        request=None,
        responses=s.GameDayRunActionSerializer,
        summary="Stop a game-day run (operator role): its drill is aborted, no other starts",
    )
    def post(self, request: Request, gameday_run_id: int) -> Response:
        run = visible_gameday_run(request, gameday_run_id, Action.RUN)
        reason = f"stopped by {request.user.get_username()} through the API"
        if not stop_gameday(run, reason, origin=origin(request)):
            run.refresh_from_db()
            if run.finished:
                raise Conflict(f"game-day run {run.id} had already ended")
            raise Conflict(f"a stop of game-day run {run.id} was already requested")
        run.refresh_from_db()
        detail = "Stop requested: the drill that runs is aborted, no other starts."
        return Response(
            s.GameDayRunActionSerializer({"detail": detail, "gameday_run": _run_data(run)}).data
        )
