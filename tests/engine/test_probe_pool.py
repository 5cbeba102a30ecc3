"""The probe pool on a fake clock: due probes sampled on the loop's tick, on their schedule,
stamped with the clock's time, and no thread started."""

from __future__ import annotations

import threading

from drills.engine.clock import FAKE_EPOCH, FakeClock
from drills.engine.plan import PlannedProbe
from drills.engine.probe_pool import ProbePool
from tests.engine.fakes import FakeProbe, FakeService


class Closable(FakeProbe):
    closed = False

    def close(self) -> None:
        self.closed = True


def planned(name: str, every: float, netns: str = "") -> PlannedProbe:
    return PlannedProbe(name, "http", every, None, {}, "http://127.0.0.1:9/", netns=netns)


def test_due_probes_are_sampled_on_each_tick_without_threads() -> None:
    clock = FakeClock()
    service = FakeService(clock)
    probes = {"fast": Closable("fast", service), "slow": Closable("slow", service)}
    pool = ProbePool([planned("fast", 0.1), planned("slow", 0.25)], dict(probes), clock)
    threads = threading.active_count()
    pool.start()
    taken = []
    for _ in range(10):  # ten ticks of 100 ms
        taken += pool.collect()
        clock.sleep(0.1)
    assert threading.active_count() == threads
    fast = [round(s.t - FAKE_EPOCH, 6) for s in taken if s.probe == "fast"]
    slow = [round(s.t - FAKE_EPOCH, 6) for s in taken if s.probe == "slow"]
    assert len(fast) == 10 and fast[0] == 0.0  # every tick
    assert slow == [0.0, 0.3, 0.5, 0.8]  # due at 0, .25, .5, .75: the first tick after each
    assert pool.stop() == []  # everything was collected; stopping samples nothing more
    assert all(p.closed for p in probes.values())


def test_a_probe_whose_namespace_is_gone_keeps_failing_visibly() -> None:
    clock = FakeClock()
    probe = FakeProbe("inside", FakeService(clock))
    pool = ProbePool([planned("inside", 0.1, netns="dhprobe-gone")], {"inside": probe}, clock)
    pool.start()
    [sample] = pool.collect()
    assert not sample.ok and sample.t == clock.now()
    assert sample.error is not None
    assert sample.error.startswith("cannot sample from namespace dhprobe-gone")
