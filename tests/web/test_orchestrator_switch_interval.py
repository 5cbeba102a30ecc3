"""An orchestrator worker hands Python's GIL over sooner than the default: with a hundred runs'
threads, its writer and publisher threads waited up to 5 ms for it after every database or
Redis call (docs/performance.md, "Many drills at once")."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest
from celery.signals import worker_ready

from drills.web import tasks


@pytest.fixture
def python_default_interval() -> Iterator[None]:
    before = sys.getswitchinterval()
    yield
    sys.setswitchinterval(before)


def test_a_ready_orchestrator_worker_uses_the_configured_switch_interval(
    settings, python_default_interval
) -> None:
    settings.DRILLHALL_ORCHESTRATOR_SWITCH_INTERVAL_US = 250
    sys.setswitchinterval(0.005)
    tasks._shorten_switch_interval(sender=None)
    assert sys.getswitchinterval() == pytest.approx(0.00025)


def test_the_switch_interval_is_set_when_the_worker_is_ready() -> None:
    receivers = [ref() for _, ref in worker_ready.receivers]
    assert tasks._shorten_switch_interval in receivers
