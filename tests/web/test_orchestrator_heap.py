"""An orchestrator worker, once ready, leaves its startup heap out of Python's full garbage
collections: each walks every object the process holds with the GIL held, and with a hundred
drills at once one took 140-220 ms, every run's events waiting behind it (docs/performance.md,
"Many drills at once")."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from celery.signals import worker_ready

from drills.web import tasks


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_ready_orchestrator_worker_keeps_its_startup_heap_out_of_full_collections(
    unfrozen: None,
) -> None:
    tasks._freeze_the_startup_heap(sender=None)
    # Every object loaded so far is frozen: a full collection walks only what came after.
    assert gc.get_freeze_count() > 50_000
    assert len(gc.get_objects()) < gc.get_freeze_count() / 10


def test_the_heap_is_frozen_when_the_worker_is_ready() -> None:
    receivers = [ref() for _, ref in worker_ready.receivers]
    assert tasks._freeze_the_startup_heap in receivers
