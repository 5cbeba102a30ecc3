"""Talking to a real agent worker over a real broker, as the orchestrator does (signed), or as
anyone else on the broker could (whatever they like)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from celery import Celery

from injector.protocol import (
    SIGNED_TASKS,
    AgentTask,
    ApprovalRecord,
    RunTicket,
    agent_queue,
    agent_task_id,
)
from injector.signing import sign


@dataclass
class AgentClient:
    app: Celery
    host: str
    key: bytes
    timeout: float = 20.0

    def send(self, task: AgentTask, request: Any) -> dict[str, Any]:
        """``request`` exactly as given: a forged message is just this."""
        # The id names the host: its agent's Redis user may write the replies of such ids only.
        result = self.app.send_task(
            task, args=[request], queue=agent_queue(self.host), task_id=agent_task_id(self.host)
        )
        try:
            return result.get(timeout=self.timeout)  # type: ignore[no-any-return]
        finally:
            result.forget()

    def signed(self, task: AgentTask, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` as the orchestrator sends it: signed for this host when the task is."""
        if task not in SIGNED_TASKS:
            return body
        return sign(self.key, task, self.host, body, time.time() + 60).to_json()

    def call(self, task: AgentTask, body: dict[str, Any]) -> dict[str, Any]:
        return self.send(task, self.signed(task, body))

    def admit(
        self,
        run: str,
        max_lease: float = 300.0,
        approval: ApprovalRecord | None = None,
        expires_in: float = 600.0,
    ) -> dict[str, Any]:
        ticket = RunTicket(run, self.host, max_lease, time.time() + expires_in, approval)
        return self.call(AgentTask.ADMIT, ticket.to_json())
