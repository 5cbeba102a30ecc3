from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import connections, models
from django.db.models import sql
from django.utils import timezone

from drills.engine.admission import Admission
from drills.engine.states import TERMINAL, RunState
from drills.playbook.redaction import redact_data
from injector.protocol import new_run_key

RUN_STATE_CHOICES = [(s.value, s.label) for s in RunState]


class DrillRun(models.Model):
    # The run's identity everywhere outside this database: task messages, fault ids, agents'
    # ledgers, Redis keys, channel groups. The row id is only this database's page number.
    key = models.CharField(max_length=32, unique=True, default=new_run_key, editable=False)
    version = models.ForeignKey(
        "drills.PlaybookVersion", related_name="runs", on_delete=models.PROTECT
    )
    state = models.CharField(max_length=20, choices=RUN_STATE_CHOICES, default=RunState.PENDING)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    source = models.CharField(max_length=20, default="web")  # web | cli | schedule
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    abort_requested_at = models.DateTimeField(null=True, blank=True)
    abort_reason = models.CharField(max_length=200, blank=True)
    # Incremented by each Resume click; a `pause` step waits for it to grow.
    resumes = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    # The plan resolved when the run was created (drills.engine.plan.Plan.to_dict): the
    # orchestrator, the CLI, the run page and the report all read this one, never a new one.
    plan = models.JSONField(null=True, blank=True)
    # When the run was last handed to the orchestrator queue (a pending run whose message was
    # lost, e.g. with a broker restart, is handed over again; see drills.web.liveness).
    enqueued_at = models.DateTimeField(null=True, blank=True)
    # The orchestrator driving the run beats here (database time) every third of a run lease;
    # a started run whose beats stopped is ended as "orchestrator lost" (drills.web.liveness).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # An orchestrator looked at the pending run and admission held it back
    # (drills/engine/admission.py): since when, how many runs start before it, and why.
    queued_at = models.DateTimeField(null=True, blank=True)
    queue_ahead = models.PositiveIntegerField(null=True, blank=True)
    queue_reason = models.CharField(max_length=300, blank=True)
    # A drill of a game day: which run of it, and which drill of its list (0-based). The pair
    # is unique, so two looks at a game day can never start the same drill twice.
    gameday_run = models.ForeignKey(
        "drills.GameDayRun",
        null=True,
        blank=True,
        related_name="drill_runs",
        on_delete=models.PROTECT,
    )
    gameday_position = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gameday_run", "gameday_position"], name="one_run_per_gameday_drill"
            )
        ]

    def __str__(self) -> str:
        return f"run {self.id} of {self.version}"

    @property
    def playbook(self):  # type: ignore[no-untyped-def]
        return self.version.playbook

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    @property
    def queue_phrase(self) -> str:
        """ "queued, 3 ahead: why" while admission holds the pending run back; else ""."""
        if self.state != RunState.PENDING or self.queue_ahead is None or self.started_at:
            return ""
        return Admission(False, self.queue_ahead, self.queue_reason).phrase

    @property
    def group_name(self) -> str:
        return f"run-{self.key}"

    def request_abort(self, reason: str) -> bool:
        """Compare-and-set: only the first abort request of an unfinished run counts."""
        updated = (
            DrillRun.objects.filter(id=self.id, abort_requested_at__isnull=True)
            .exclude(state__in=[s.value for s in TERMINAL])
            .update(abort_requested_at=timezone.now(), abort_reason=reason[:200])
        )
        return updated == 1


class CompiledInsert:
    """INSERT statements made ready on one thread, run on another (the writer's)."""

    def __init__(self, using: str, statements: list[tuple[str, Any]]) -> None:
        self.using, self.statements = using, statements

    def run(self) -> None:
        with connections[self.using].cursor() as cursor:
            for statement, params in self.statements:
                cursor.execute(statement, params)

    @staticmethod
    def run_together(inserts: list[CompiledInsert]) -> None:
        """Several inserts into one table as few statements as the database's limit on
        parameters allows: the rows of "INSERT ... VALUES (...), (...)" statements with
        the same head are joined. Statements of another shape run as they are."""
        if not inserts:
            return
        using = inserts[0].using
        limit = connections[using].features.max_query_params or 999
        joined: dict[str, list[tuple[str, list[Any]]]] = {}  # head -> (values, params)
        single: list[tuple[str, Any]] = []
        for insert in inserts:
            for statement, params in insert.statements:
                head, sep, values = statement.partition(" VALUES (")
                if not sep or insert.using != using:
                    single.append((statement, params))
                    continue
                joined.setdefault(head, []).append(("(" + values, list(params)))
        with connections[using].cursor() as cursor:
            for head, parts in joined.items():
                values: list[str] = []
                params: list[Any] = []
                for part, part_params in parts:
                    if values and len(params) + len(part_params) > limit:
                        cursor.execute(f"{head} VALUES {', '.join(values)}", params)
                        values, params = [], []
                    values.append(part)
                    params.extend(part_params)
                cursor.execute(f"{head} VALUES {', '.join(values)}", params)
            for statement, params in single:
                cursor.execute(statement, params)


class RunEventManager(models.Manager["RunEvent"]):
    def compile_append(self, events: list[RunEvent]) -> CompiledInsert:
        """The INSERT of ``events``, asking nothing back, made now and run later.

        ``bulk_create`` on SQLite adds RETURNING for the new ids, and SQLite steps once per
        returned row, each step giving up the GIL and waiting to get it back: behind a
        hundred runs' threads, the writer that stores every run's events spent most of its
        time waiting there (docs/performance.md, "Many drills at once"). Nobody reads an
        event's id. Made apart from running it so that the SQL and its parameters are built
        on the run's thread, not on the one writer thread every run waits for."""
        fields = [f for f in self.model._meta.concrete_fields if not f.primary_key]
        connection = connections[self.db]
        statements: list[tuple[str, Any]] = []
        size = connection.ops.bulk_batch_size(fields, events) or len(events) or 1
        for start in range(0, len(events), size):
            query = sql.InsertQuery(self.model)
            query.insert_values(fields, events[start : start + size])
            statements.extend(query.get_compiler(connection=connection).as_sql())
        return CompiledInsert(self.db, statements)


class RunEvent(models.Model):
    """One entry of a run's event stream; seq increases by one per event within a run."""

    objects = RunEventManager()

    run = models.ForeignKey(DrillRun, related_name="events", on_delete=models.CASCADE)
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=32)
    t = models.FloatField(help_text="Unix time of the event")
    data = models.JSONField(default=dict)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_event_seq")]

    def as_message(self) -> dict:
        from drills.report.sentences import describe

        # Redacted again on the way out: events stored before the sink redacted them.
        data = redact_data(self.data)
        # The sentence the report and the CLI say for it (drills/report/sentences.py), made
        # from the redacted data: the live page shows it as it is.
        return {"seq": self.seq, "type": self.type, "t": self.t, "data": data,
                "text": describe(self.type, data)}  # fmt: skip
