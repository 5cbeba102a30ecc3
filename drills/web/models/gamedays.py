"""Game days as stored: the document and its versions, its runs (each owning its drill runs),
what the schedule did at each fire time, and what people wrote down (observations, action
items). The logic lives in drills/gameday; these rows only hold what it decided."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.urls import reverse

from drills.gameday.fire_outcome import Outcome
from drills.gameday.progress import GAMEDAY_TERMINAL, GameDayState
from drills.web.models.versions import DocumentVersion, save_new_version
from drills.web.roles import Action, can, is_admin, teams_where


def new_gameday_run_key() -> str:
    return uuid.uuid4().hex


class GameDay(models.Model):
    name = models.SlugField(max_length=63, unique=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    # Access as for playbooks: people's roles in this team (drills.web.roles).
    team = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    # Paused from its page (the document's own `paused: true` pauses it as well).
    paused = models.BooleanField(default=False)
    # Up to when beat's clock has looked at the schedule: fire times after it are still to
    # be decided, each exactly once (see drills.web.gameday_clock).
    checked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def latest_version(self) -> GameDayVersion | None:
        return self.versions.order_by("-number").first()

    def get_absolute_url(self) -> str:
        return reverse("gameday-detail", args=[self.name])

    def save_version(  # type: ignore[no-untyped-def]
        self, content: str, author=None, message: str = "", *, origin=None
    ) -> GameDayVersion:
        """A new immutable version unless the text equals the latest; one audit entry."""
        from drills.web.audit import AuditAction

        return save_new_version(
            self,
            content,
            author,
            message,
            origin,
            action=AuditAction.GAMEDAY_SAVE,
            object_type="gameday",
            created="created game day {name} as v1",
            saved="saved game day {name} v{number}",
        )

    @classmethod
    def visible_to(cls, user):  # type: ignore[no-untyped-def]
        if not user.is_authenticated or not user.is_active:
            return cls.objects.none()
        if is_admin(user):
            return cls.objects.all()
        return cls.objects.filter(
            models.Q(owner=user) | models.Q(team__in=teams_where(user, Action.VIEW))
        )

    def can_access(self, user) -> bool:  # type: ignore[no-untyped-def]
        return can(user, Action.VIEW, self)  # type: ignore[arg-type]


class GameDayVersion(DocumentVersion):
    gameday = models.ForeignKey(GameDay, related_name="versions", on_delete=models.CASCADE)

    class Meta:
        ordering = ["gameday", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["gameday", "number"], name="unique_gameday_version_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.gameday.name} v{self.number}"


GAMEDAY_STATE_CHOICES = [(s.value, s.label) for s in GameDayState]


class GameDayRun(models.Model):
    """One performance of a game day: its drills run in order, under its policy."""

    key = models.CharField(max_length=32, unique=True, default=new_gameday_run_key, editable=False)
    gameday = models.ForeignKey(GameDay, related_name="runs", on_delete=models.CASCADE)
    version = models.ForeignKey(GameDayVersion, related_name="runs", on_delete=models.PROTECT)
    state = models.CharField(
        max_length=16, choices=GAMEDAY_STATE_CHOICES, default=GameDayState.PENDING
    )
    source = models.CharField(max_length=20, default="web")  # web | cli | schedule
    # The schedule's fire time this run is for (none when started by hand).
    fire_time = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.CharField(max_length=200, blank=True)
    # The combined result once it ends: each drill's verdict, RTO/RPO, the first breach.
    result = models.JSONField(default=dict, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"game day run {self.id} of {self.gameday.name}"

    @property
    def finished(self) -> bool:
        return GameDayState(self.state) in GAMEDAY_TERMINAL

    @property
    def group_name(self) -> str:
        return f"gameday-{self.key}"

    def get_absolute_url(self) -> str:
        return reverse("gameday-run-detail", args=[self.id])


class FireRecord(models.Model):
    """What the schedule did at one fire time: ran it, skipped it, or missed it, and why.
    One per game day and fire time: the constraint is what makes "never twice" hold."""

    gameday = models.ForeignKey(GameDay, related_name="fire_records", on_delete=models.CASCADE)
    fire_time = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=[(o.value, o.value) for o in Outcome])
    reason = models.CharField(max_length=300)
    run = models.ForeignKey(
        GameDayRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-fire_time"]
        constraints = [
            models.UniqueConstraint(fields=["gameday", "fire_time"], name="one_record_per_fire")
        ]


class Verdict(models.TextChoices):
    PASSED = "passed", "passed"
    FAILED = "failed", "failed"
    UNSURE = "unsure", "unsure"


class Observation(models.Model):
    """What the people saw of one drill of a game-day run (one per drill; edits replace it,
    and each edit is an audit entry)."""

    run = models.ForeignKey(GameDayRun, related_name="observations", on_delete=models.CASCADE)
    drill_run = models.ForeignKey(
        "drills.DrillRun", related_name="observations", on_delete=models.CASCADE
    )
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    detected = models.BooleanField(default=False)
    detected_at = models.DateTimeField(null=True, blank=True)
    mitigated = models.BooleanField(default=False)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True, max_length=10000)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["drill_run__gameday_position"]
        constraints = [
            models.UniqueConstraint(fields=["drill_run"], name="one_observation_per_drill")
        ]


class ActionItem(models.Model):
    """Something to do after the game day, and who does it."""

    run = models.ForeignKey(GameDayRun, related_name="action_items", on_delete=models.CASCADE)
    text = models.CharField(max_length=500)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="drillhall_action_items"
    )
    done = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
