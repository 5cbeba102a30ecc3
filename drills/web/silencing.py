"""Which silencer a run gets: the server's Alertmanager (DRILLHALL_ALERTMANAGER_URL) and the
alert label that names a host, or none; and the silences a lost run left behind.

The one place that decides whether, and by which label, a run silences alerts during its fault
windows (the engine's drills/engine/silences.py does the silencing itself).
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings

from drills.engine.alertmanager import (
    DEFAULT_HOST_LABEL,
    AlertmanagerClient,
    AlertmanagerSilencer,
)
from drills.engine.events import EventType
from drills.engine.silences import HeldSilence, SilenceError, SilenceState, expired, not_expired
from drills.web.models import DrillRun


def silence_label_for(run: DrillRun) -> str | None:
    """The alert label whose value names a faulted host, for ``run``'s silences; None: the run
    silences nothing.

    Prometheus' ``instance``, unless the run is a drill of a game day whose document names
    another (``silence.host_label``). Every drill silences when the server has an Alertmanager:
    alerts a drill sets off on purpose page nobody, game day or not.
    """
    if run.gameday_run_id is None:
        return DEFAULT_HOST_LABEL
    from drills.playbook.errors import PlaybookError
    from drills.web.gameday_runs import document_of

    try:
        document = document_of(run.gameday_run.version)  # type: ignore[union-attr]
    except PlaybookError:
        return DEFAULT_HOST_LABEL
    return document.silence.host_label if document.silence is not None else DEFAULT_HOST_LABEL


def silencer_for(run: DrillRun) -> AlertmanagerSilencer | None:
    """The silencer ``run`` hands its engine: None without an Alertmanager or a label."""
    url = settings.DRILLHALL_ALERTMANAGER_URL
    if not url:
        return None
    label = silence_label_for(run)
    if label is None:
        return None
    return AlertmanagerSilencer(AlertmanagerClient(url), label)


def expire_left_silences(run: DrillRun) -> list[tuple[EventType, dict[str, Any]]]:
    """A run whose orchestrator died ends now: expire the silences its stream says it made and
    did not expire, and return their events for the stream of the run's end. (Each would also
    end by itself at its window's end plus a margin; this ends them when the run does.)"""
    left: dict[str, HeldSilence] = {}
    for data in run.events.filter(type=EventType.SILENCE.value).values_list("data", flat=True):
        silence_id = data.get("silence_id")
        if not isinstance(silence_id, str):
            continue  # a silence that was never made
        if data.get("state") == SilenceState.CREATED:
            ends_at = data.get("ends_at")
            left[silence_id] = HeldSilence(
                silence_id,
                int(data.get("step") or 0),
                str(data.get("host", "?")),
                float(ends_at) if isinstance(ends_at, int | float) else time.time(),
            )
        elif data.get("state") == SilenceState.EXPIRED:
            left.pop(silence_id, None)
    if not left or not settings.DRILLHALL_ALERTMANAGER_URL:
        return []
    client = AlertmanagerClient(settings.DRILLHALL_ALERTMANAGER_URL)
    events: list[tuple[EventType, dict[str, Any]]] = []
    for held in left.values():
        try:
            client.expire_silence(held.silence_id)
        except (SilenceError, ValueError) as exc:
            events.append((EventType.SILENCE, not_expired(held, str(exc))))
        else:
            events.append((EventType.SILENCE, expired(held, time.time())))
    return events
