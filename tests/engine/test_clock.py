"""The engine's clock: the fake one moves only when slept on, at once, and never back."""

from __future__ import annotations

import threading
import time

import pytest

from drills.engine.clock import FAKE_EPOCH, FakeClock, SystemClock, utc_time


def test_a_fake_clock_moves_only_when_slept_on_and_instantly() -> None:
    clock = FakeClock()
    started = time.monotonic()
    assert clock.now() == FAKE_EPOCH and clock.monotonic() == 0.0
    clock.sleep(3600)
    assert clock.now() == FAKE_EPOCH + 3600 and clock.monotonic() == 3600
    assert clock.now() == FAKE_EPOCH + 3600  # reading it does not move it
    assert time.monotonic() - started < 0.5


def test_waiting_on_a_fake_clock_returns_at_once_when_the_event_is_set() -> None:
    clock = FakeClock()
    event = threading.Event()
    assert clock.wait(event, 2.0) is False and clock.elapsed == 2.0
    event.set()
    assert clock.wait(event, 2.0) is True and clock.elapsed == 2.0


def test_a_fake_clock_cannot_go_back() -> None:
    with pytest.raises(ValueError):
        FakeClock().advance(-1)


def test_only_the_system_clock_is_real_time() -> None:
    assert SystemClock().realtime and not FakeClock().realtime
    assert abs(SystemClock().now() - time.time()) < 1


def test_times_in_sentences_are_utc() -> None:
    assert utc_time(FAKE_EPOCH) == "22:13:20 UTC"
