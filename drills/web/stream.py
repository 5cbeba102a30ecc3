"""The run's event stream: stored as RunEvents, then pushed to the run's channel group."""

from __future__ import annotations

import logging
import threading
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db.models import Max

from drills.engine.events import EventType
from drills.web.models import DrillRun, RunEvent

log = logging.getLogger(__name__)


class RunEventSink:
    """Single writer per run: the orchestrator task. seq continues from what is stored."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self.group = DrillRun.objects.get(id=run_id).group_name
        self._lock = threading.Lock()
        last = RunEvent.objects.filter(run_id=run_id).aggregate(m=Max("seq"))["m"]
        self._seq = last or 0
        self._layer = get_channel_layer()

    def emit(self, type: EventType, data: dict[str, Any], t: float) -> None:
        with self._lock:
            self._seq += 1
            event = RunEvent.objects.create(
                run_id=self.run_id, seq=self._seq, type=str(type), t=t, data=data
            )
        if self._layer is None:
            return
        try:
            async_to_sync(self._layer.group_send)(
                self.group, {"type": "run.event", "event": event.as_message()}
            )
        except Exception:  # the stored stream is the truth; live pages catch up from it
            log.warning(
                "could not publish event %s of run %s", event.seq, self.run_id, exc_info=True
            )
