"""One look at abort requests and the halt answers every run of an orchestrator process.

The watch's timing on a fake clock and a counted look; what a look reads, against the test
database and the tests' Redis.
"""

from __future__ import annotations

from django.utils import timezone

from drills.web.abort_watch import AbortWatch, Look, look_now
from drills.web.halt import halt_all
from drills.web.models import DrillRun
from injector.halt import HaltFlag
from tests.web.halt_state import forget_redis
from tests.web.personas import World, make_run


class Counted:
    def __init__(self) -> None:
        self.looks = 0
        self.next = Look()

    def __call__(self) -> Look:
        self.looks += 1
        return self.next


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_runs_asking_within_the_age_share_one_look() -> None:
    look, clock = Counted(), Clock()
    watch = AbortWatch(look, max_age=0.1, clock=clock)
    for run_id in range(100):
        assert watch.reason(run_id) is None
    clock.now += 0.05
    assert watch.reason(7) is None
    assert look.looks == 1


def test_a_look_older_than_the_age_is_taken_again() -> None:
    look, clock = Counted(), Clock()
    watch = AbortWatch(look, max_age=0.1, clock=clock)
    watch.reason(1)
    look.next = Look(requested={1: "aborted by max"})
    clock.now += 0.11
    assert watch.reason(1) == "aborted by max"
    assert watch.reason(2) is None
    assert look.looks == 2


def test_a_runs_first_question_never_gets_an_older_look() -> None:
    look, clock = Counted(), Clock()
    watch = AbortWatch(look, max_age=0.1, clock=clock)
    look.next = Look(halt="halted: game over")
    assert watch.reason(1) == "halted: game over"
    look.next = Look()  # released; a run that starts now must not hear the old halt
    clock.now += 0.01
    assert watch.reason(2, fresh=True) is None
    assert look.looks == 2


def test_the_halt_answers_every_run() -> None:
    look, clock = Counted(), Clock()
    look.next = Look(requested={3: "aborted by max"}, halt="halted: stop everything")
    watch = AbortWatch(look, clock=clock)
    assert watch.reason(3) == "aborted by max"
    assert watch.reason(4) == "halted: stop everything"


def test_a_look_sees_open_runs_asked_to_abort_and_not_finished_ones(
    world: World, halt_redis: HaltFlag
) -> None:
    asked = make_run(world.version, world.owner, state="observing")
    asked.request_abort("aborted by max")
    quiet = make_run(world.version, world.owner, state="observing")
    ended = make_run(world.version, world.owner, state="observing")
    ended.request_abort("too late")
    DrillRun.objects.filter(id=ended.id).update(state="aborted", finished_at=timezone.now())
    look = look_now()
    assert look.requested == {asked.id: "aborted by max"}
    assert look.reason(quiet.id) is None
    assert look.halt is None


def test_a_look_sees_the_halt_in_the_database_and_the_one_only_redis_holds(
    world: World, halt_redis: HaltFlag, needs_redis: str
) -> None:
    halt_redis.set("set by hand")
    assert look_now().halt == "halted: set by hand"
    forget_redis(needs_redis)
    halt_all("stop everything", world.member)
    forget_redis(needs_redis)  # the database's halt holds without Redis
    assert look_now().halt == "halted: stop everything"
