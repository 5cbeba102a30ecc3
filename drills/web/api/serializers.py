"""What the API reads and answers, one serializer per shape: the OpenAPI schema is made from
these, and the answers are built through them, so the two cannot drift apart."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from drills.engine.states import RunState
from drills.gameday.progress import GameDayState

CONTENT_MAX = 256 * 1024  # a playbook or game day text; the parser refuses far less anyway
RUN_STATES = [s.value for s in RunState]
GAMEDAY_STATES = [s.value for s in GameDayState]
EVENTS_PAGE_MAX = 2000
# Long-poll: at most this long per request (a bound: one client holds one server thread).
WAIT_MAX = float(settings.DRILLHALL_API_WAIT_MAX_SECONDS)


def username(user: Any) -> str | None:
    return user.get_username() if user is not None else None


# -- playbooks and versions ---------------------------------------------------------------------


class PlaybookSerializer(serializers.Serializer):
    name = serializers.CharField()
    team = serializers.CharField(allow_null=True, help_text="The team whose roles apply.")
    owner = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    latest_version = serializers.IntegerField(allow_null=True)

    @staticmethod
    def of(playbook: Any) -> dict[str, Any]:
        latest = playbook.latest_version()
        return {
            "name": playbook.name,
            "team": playbook.team.name if playbook.team else None,
            "owner": username(playbook.owner),
            "created_at": playbook.created_at,
            "latest_version": latest.number if latest else None,
        }


class VersionSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    author = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    message = serializers.CharField(allow_blank=True)
    content_hash = serializers.CharField(help_text="sha256 of the text as stored.")

    @staticmethod
    def of(version: Any) -> dict[str, Any]:
        return {
            "number": version.number,
            "author": username(version.author),
            "created_at": version.created_at,
            "message": version.message,
            "content_hash": version.content_hash,
        }


class VersionDetailSerializer(VersionSerializer):
    content = serializers.CharField(
        allow_blank=True, help_text="The text, with anything that looks like a credential masked."
    )


class TextSerializer(serializers.Serializer):
    content = serializers.CharField(max_length=CONTENT_MAX, trim_whitespace=False)
    message = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")


class NewPlaybookSerializer(TextSerializer):
    team = serializers.CharField(
        max_length=150,
        required=False,
        allow_blank=True,
        default="",
        help_text="Where the playbook goes when metadata.owner names no team of yours.",
    )


class SavedSerializer(serializers.Serializer):
    playbook = serializers.CharField()
    created = serializers.BooleanField(help_text="False: the text equals the latest version.")
    version = VersionSerializer()


class DiffLineSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["add", "del", "same", "gap"])
    old = serializers.IntegerField(allow_null=True)
    new = serializers.IntegerField(allow_null=True)
    text = serializers.CharField(allow_blank=True)


class DiffSerializer(serializers.Serializer):
    playbook = serializers.CharField()
    a = serializers.IntegerField()
    b = serializers.IntegerField()
    unified = serializers.CharField(allow_blank=True, help_text="The diff as `diff -u` prints it.")
    lines = DiffLineSerializer(many=True)


# -- validate and plan ----------------------------------------------------------------------------


class CheckRequestSerializer(serializers.Serializer):
    content = serializers.CharField(max_length=CONTENT_MAX, trim_whitespace=False, allow_blank=True)
    filename = serializers.CharField(max_length=200, required=False, default="playbook.yaml")
    playbook = serializers.CharField(
        max_length=63,
        required=False,
        allow_blank=True,
        default="",
        help_text="The stored playbook this text is for: its metadata.name must match.",
    )


class IssueSerializer(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True)
    column = serializers.IntegerField(allow_null=True)
    message = serializers.CharField()
    hint = serializers.CharField(allow_null=True, allow_blank=True)


class CheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    issues = IssueSerializer(many=True)
    plan = serializers.JSONField(allow_null=True, help_text="The dry-run plan, when allowed.")
    plan_problems = serializers.ListField(child=serializers.CharField())


# -- runs ---------------------------------------------------------------------------------------


class RunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField(help_text="The run's identity outside this database.")
    playbook = serializers.CharField()
    version = serializers.IntegerField()
    content_hash = serializers.CharField()
    state = serializers.ChoiceField(choices=RUN_STATES)
    finished = serializers.BooleanField()
    source = serializers.CharField()
    started_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    abort_requested = serializers.BooleanField()
    abort_reason = serializers.CharField(allow_blank=True)
    result = serializers.JSONField(help_text="Verdict, reason, SLA verdicts, RTO and RPO.")
    gameday_run = serializers.IntegerField(allow_null=True)
    queue = serializers.CharField(
        allow_null=True,
        help_text="A pending run that waits for admission: 'queued, 3 ahead: why'; else null.",
    )

    @staticmethod
    def of(run: Any) -> dict[str, Any]:
        from drills.playbook.redaction import redact_data

        version = run.version
        return {
            "id": run.id,
            "key": run.key,
            "playbook": version.playbook.name,
            "version": version.number,
            "content_hash": version.content_hash,
            "state": run.state,
            "finished": run.finished,
            "source": run.source,
            "started_by": username(run.started_by),
            "created_at": run.created_at,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "abort_requested": run.abort_requested_at is not None,
            "abort_reason": run.abort_reason,
            "result": redact_data(run.result if isinstance(run.result, dict) else {}),
            "gameday_run": run.gameday_run_id,
            "queue": run.queue_phrase or None,
        }


class RunDetailSerializer(RunSerializer):
    plan = serializers.JSONField(allow_null=True, help_text="The plan stored when it was made.")


class StartRunSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        required=False, min_value=1, help_text="Which version to run; the latest by default."
    )


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=160, required=False, allow_blank=True, default="")


class ApproveSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1, help_text="The version you were shown.")
    content_hash = serializers.CharField(max_length=64, help_text="Its content_hash.")


class RunActionSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What happened, as a sentence.")
    run = RunSerializer()


class ListQuerySerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        min_value=1, max_value=200, required=False, default=50, help_text="At most this many."
    )


class RunsQuerySerializer(ListQuerySerializer):
    playbook = serializers.CharField(
        max_length=63, required=False, default="", help_text="Only this playbook's runs."
    )


class EventsQuerySerializer(serializers.Serializer):
    after = serializers.IntegerField(
        min_value=0, max_value=2**31 - 1, required=False, default=0,
        help_text="Only events with seq above this.",
    )  # fmt: skip
    limit = serializers.IntegerField(
        min_value=1, max_value=EVENTS_PAGE_MAX, required=False, default=EVENTS_PAGE_MAX,
        help_text="At most this many.",
    )  # fmt: skip
    wait = serializers.FloatField(
        min_value=0, max_value=WAIT_MAX, required=False, default=0,
        help_text="When no event is there yet, wait up to this many seconds for one (0 answers "
        "at once).",
    )  # fmt: skip


class EventSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    type = serializers.CharField()
    t = serializers.FloatField(help_text="Unix time of the event.")
    data = serializers.JSONField()
    text = serializers.CharField(help_text="The event as a sentence.")


class EventsSerializer(serializers.Serializer):
    events = EventSerializer(many=True)
    state = serializers.ChoiceField(choices=RUN_STATES)
    finished = serializers.BooleanField()
    more = serializers.BooleanField(help_text="More events follow: ask again after last_seq.")
    last_seq = serializers.IntegerField(help_text="Pass it as `after` to read on.")


# -- game days ------------------------------------------------------------------------------------


class GameDaySerializer(serializers.Serializer):
    name = serializers.CharField()
    team = serializers.CharField(allow_null=True)
    owner = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    paused = serializers.BooleanField()
    latest_version = serializers.IntegerField(allow_null=True)

    @staticmethod
    def of(gameday: Any) -> dict[str, Any]:
        latest = gameday.latest_version()
        return {
            "name": gameday.name,
            "team": gameday.team.name if gameday.team else None,
            "owner": username(gameday.owner),
            "created_at": gameday.created_at,
            "paused": gameday.paused,
            "latest_version": latest.number if latest else None,
        }


class GameDayDrillSerializer(serializers.Serializer):
    position = serializers.IntegerField(help_text="0-based, in the document's list.")
    run = serializers.IntegerField()
    playbook = serializers.CharField()
    state = serializers.ChoiceField(choices=RUN_STATES)


class GameDayRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    gameday = serializers.CharField()
    version = serializers.IntegerField()
    state = serializers.ChoiceField(choices=GAMEDAY_STATES)
    finished = serializers.BooleanField()
    source = serializers.CharField()
    started_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    stop_requested = serializers.BooleanField()
    stop_reason = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    result = serializers.JSONField(help_text="The combined result once it ends.")
    drills = GameDayDrillSerializer(many=True)

    @staticmethod
    def of(run: Any) -> dict[str, Any]:
        from drills.playbook.redaction import redact_data

        drills = run.drill_runs.select_related("version__playbook").order_by("gameday_position")
        return {
            "id": run.id,
            "key": run.key,
            "gameday": run.gameday.name,
            "version": run.version.number,
            "state": run.state,
            "finished": run.finished,
            "source": run.source,
            "started_by": username(run.started_by),
            "created_at": run.created_at,
            "finished_at": run.finished_at,
            "stop_requested": run.stop_requested_at is not None,
            "stop_reason": run.stop_reason,
            "reason": run.reason,
            "result": redact_data(run.result if isinstance(run.result, dict) else {}),
            "drills": [
                {
                    "position": d.gameday_position,
                    "run": d.id,
                    "playbook": d.version.playbook.name,
                    "state": d.state,
                }
                for d in drills
            ],
        }


class GameDayRunActionSerializer(serializers.Serializer):
    detail = serializers.CharField()
    gameday_run = GameDayRunSerializer()


# -- inventory and halt ---------------------------------------------------------------------------


class ServiceSerializer(serializers.Serializer):
    name = serializers.CharField()
    port = serializers.IntegerField()
    kind = serializers.CharField(allow_blank=True)


class HostSerializer(serializers.Serializer):
    name = serializers.CharField()
    address = serializers.CharField()
    netns = serializers.CharField(allow_blank=True)
    labels = serializers.DictField(child=serializers.CharField(allow_blank=True))
    protected = serializers.BooleanField(help_text="Faults here need another person's approval.")
    lab = serializers.BooleanField()
    services = ServiceSerializer(many=True)
    updated_at = serializers.DateTimeField()

    @staticmethod
    def of(host: Any) -> dict[str, Any]:
        return {
            "name": host.name,
            "address": host.address,
            "netns": host.netns,
            "labels": {str(k): str(v) for k, v in (host.labels or {}).items()},
            "protected": host.protected,
            "lab": host.lab,
            "services": [
                {"name": s.name, "port": s.port, "kind": s.kind} for s in host.services.all()
            ],
            "updated_at": host.updated_at,
        }


class HaltSerializer(serializers.Serializer):
    halted = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    by = serializers.CharField(allow_null=True)
    since = serializers.FloatField(allow_null=True, help_text="Unix time it began.")
    detail = serializers.CharField(help_text="The state, as a sentence.")


class HaltRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
