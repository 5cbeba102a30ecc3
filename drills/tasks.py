"""Celery tasks: thin shells that take ids and call the engine."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="drillhall.run_drill", acks_late=True)
def run_drill(run_id: int) -> str:
    from drills.orchestrator import execute_run

    return execute_run(run_id)
