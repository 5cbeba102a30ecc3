"""Which silencer a run gets: the server's Alertmanager (DRILLHALL_ALERTMANAGER_URL) and the
alert label that names a host, or none.

The one place that decides whether, and by which label, a run silences alerts during its fault
windows (the engine's drills/engine/silences.py does the silencing itself).
"""

from __future__ import annotations

from django.conf import settings

from drills.engine.alertmanager import DEFAULT_HOST_LABEL, AlertmanagerClient, AlertmanagerSilencer
from drills.web.models import DrillRun


def silence_label_for(run: DrillRun) -> str | None:
    """The alert label whose value names a faulted host, for ``run``'s silences; None: the run
    silences nothing.

    Every run uses Prometheus' ``instance`` for now. A game-day run will use its document's
    ``silence.host_label``, and None when the document asks for no silences (issue 12).
    """
    return DEFAULT_HOST_LABEL


def silencer_for(run: DrillRun) -> AlertmanagerSilencer | None:
    """The silencer ``run`` hands its engine: None without an Alertmanager or a label."""
    url = settings.DRILLHALL_ALERTMANAGER_URL
    if not url:
        return None
    label = silence_label_for(run)
    if label is None:
        return None
    return AlertmanagerSilencer(AlertmanagerClient(url), label)
