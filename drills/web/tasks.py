"""Celery tasks: thin shells that take ids and call the engine."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="drillhall.run_drill", acks_late=True)
def run_drill(run_id: int) -> str:
    from drills.web.orchestrator import execute_run

    return execute_run(run_id)


@shared_task(name="drillhall.register_host", ignore_result=True)
def register_host(payload: dict) -> dict:  # type: ignore[type-arg]
    """An agent announcing itself at start (see injector.agent); idempotent."""
    from drills.web.hosts import register_agent

    return register_agent(payload)
