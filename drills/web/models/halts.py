"""Halt all, as the server records it: the authority over whether drills may inject faults.

Redis and every agent hold copies (``injector.halt``); this row is what they are put back from
when they lose them. At most one halt is in force at a time (``released_at`` empty), and a
halt's ``since`` is its name on the agents' side, so it only ever grows.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from injector.halt import HaltRelease, HaltState

# How close two times must be to name the same halt: a float of seconds and a database's
# microseconds may differ in the last digit, and two halts are never this close.
SAME_HALT_S = 0.0005


class HaltQuerySet(models.QuerySet["Halt"]):
    def in_force(self) -> HaltQuerySet:
        return self.filter(released_at__isnull=True)

    def released(self) -> HaltQuerySet:
        return self.filter(released_at__isnull=False)

    def named(self, since: float) -> HaltQuerySet:
        """The halt an agent or Redis knows by ``since``."""
        at = dt.datetime.fromtimestamp(since, tz=dt.UTC)
        margin = dt.timedelta(seconds=SAME_HALT_S)
        return self.filter(since__gte=at - margin, since__lte=at + margin)


class Halt(models.Model):
    reason = models.CharField(max_length=200)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    # The name as it was when they pressed it: the record outlives a renamed or deleted account.
    by_name = models.CharField(max_length=150, blank=True)
    since = models.DateTimeField(default=timezone.now, unique=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )  # fmt: skip
    released_by_name = models.CharField(max_length=150, blank=True)

    objects = HaltQuerySet.as_manager()

    class Meta:
        ordering = ["-since"]
        constraints = [
            # One halt in force: a unique index on a constant, over the rows not released.
            models.UniqueConstraint(
                models.Value(1),
                condition=Q(released_at__isnull=True),
                name="drills_one_halt_in_force",
            ),
        ]

    def __str__(self) -> str:
        return f"halt since {self.since:%Y-%m-%d %H:%M:%S} UTC by {self.by_name or 'someone'}"

    @property
    def in_force(self) -> bool:
        return self.released_at is None

    @property
    def since_ts(self) -> float:
        return self.since.timestamp()

    def state(self) -> HaltState:
        """The copy Redis and the agents hold."""
        return HaltState(reason=self.reason, since=self.since_ts, by=self.by_name)

    def release_record(self) -> HaltRelease:
        at = self.released_at.timestamp() if self.released_at else 0.0
        return HaltRelease(since=self.since_ts, by=self.released_by_name, at=at)
