"""Celery tasks: thin shells that take ids and call the engine."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from injector.protocol import REGISTER_HOST_TASK

RUN_DRILL_TASK = "drillhall.run_drill"


@shared_task(name=RUN_DRILL_TASK, acks_late=True)
def run_drill(run_key: str) -> str:
    from drills.web.orchestrator import execute_run

    return execute_run(run_key)


@shared_task(name=REGISTER_HOST_TASK, ignore_result=True)
def register_host(payload: dict[str, Any]) -> dict[str, Any]:
    """An agent announcing itself at start (see injector.agent); idempotent."""
    from drills.web.hosts import register_agent

    return register_agent(payload)
