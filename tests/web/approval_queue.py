"""What the orchestrator queue on the tests' Redis holds: the run keys handed over, in order.

Approval tests use the real broker (no mocked apply_async): "never handed to the
orchestrator" is checked where the orchestrator would read it.
"""

from __future__ import annotations

import base64
import json

import redis

from drills.web.tasks import RUN_DRILL_TASK


class OrchestratorQueue:
    def __init__(self, url: str, name: str = "orchestrator") -> None:
        self.client = redis.Redis.from_url(url)
        self.name = name

    def clear(self) -> None:
        self.client.delete(self.name)

    def run_keys(self) -> list[str]:
        """The run keys of every run_drill message waiting in the queue, oldest first."""
        keys = []
        # kombu pushes on the left and workers pop on the right: oldest last in the list.
        for raw in reversed(self.client.lrange(self.name, 0, -1)):
            message = json.loads(raw)
            if message["headers"].get("task") != RUN_DRILL_TASK:
                continue
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            keys.append(str(args[0]))
        return keys
