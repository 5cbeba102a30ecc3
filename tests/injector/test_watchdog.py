"""A deaf worker exits so that its supervisor starts a fresh one; a worker that answers, that
is busy taking tasks, or whose broker is down, is left alone."""

from __future__ import annotations

import threading
from collections.abc import Callable

from injector.watchdog import EXIT_DEAF, TasksTaken, watch


class Control:
    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers
        self.asked: list[list[str]] = []

    def ping(self, destination: list[str], timeout: float) -> list[dict[str, str]]:
        self.asked.append(destination)
        answer = self.answers.pop(0) if self.answers else False
        return [{destination[0]: "pong"}] if answer else []


class App:
    def __init__(self, answers: list[bool]) -> None:
        self.control = Control(answers)


def run_watch(
    app: App,
    broker: list[bool],
    checks: int,
    misses: int = 3,
    on_answer: Callable[[], None] | None = None,
    progress: Callable[[], int] | None = None,
) -> list[int]:
    exits: list[int] = []
    done = threading.Event()
    seen = iter(broker)

    def broker_answers() -> bool:
        value = next(seen, None)
        if value is None:
            done.set()
            return False
        return value

    def exit(code: int) -> None:
        exits.append(code)
        done.set()

    watch(
        app, "orch@host", broker_answers, every=0.001, misses=misses, exit=exit,
        on_answer=on_answer, progress=progress,
    )  # fmt: skip
    assert done.wait(5)
    return exits


def test_a_worker_that_stops_answering_its_own_ping_exits() -> None:
    app = App([True, True, False, False, False])
    assert run_watch(app, [True] * 10, checks=10) == [EXIT_DEAF]
    assert app.control.asked[0] == ["orch@host"] and len(app.control.asked) == 5


def test_one_missed_ping_in_between_is_forgiven() -> None:
    app = App([False, False, True, False, False, True, True])
    assert run_watch(app, [True] * 7, checks=7) == []


def test_nothing_is_judged_while_the_broker_is_away() -> None:
    app = App([])  # would never answer
    assert run_watch(app, [False] * 10, checks=10) == []
    assert app.control.asked == []


def test_each_answer_and_only_an_answer_is_a_heartbeat() -> None:
    beats: list[int] = []
    app = App([True, False, True, True, False])
    run_watch(app, [True] * 5 + [False], checks=6, on_answer=lambda: beats.append(1))
    assert len(app.control.asked) == 5 and len(beats) == 3


def test_a_busy_worker_whose_own_ping_waits_behind_its_tasks_is_left_alone() -> None:
    taken = TasksTaken()
    app = App([])  # its ping is never answered in time: it waits behind the tasks
    exits: list[int] = []
    beats: list[int] = []
    done = threading.Event()
    looks = iter(range(10))

    def broker_answers() -> bool:
        if next(looks, None) is None:
            done.set()
            return False
        taken.count()  # the worker took a task since the last look
        return True

    watch(
        app, "agent-db1@host", broker_answers, every=0.001, misses=3, exit=exits.append,
        on_answer=lambda: beats.append(1), progress=taken,
    )  # fmt: skip
    assert done.wait(5)
    assert exits == [] and app.control.asked == []
    assert len(beats) == 10  # a worker that takes tasks is alive: each look is a heartbeat


def test_a_worker_that_takes_no_task_and_does_not_answer_exits_all_the_same() -> None:
    taken = TasksTaken()
    taken.count()  # tasks taken before the watch began do not count as an answer
    app = App([])
    assert run_watch(app, [True] * 10, checks=10, progress=taken) == [EXIT_DEAF]
    assert len(app.control.asked) == 3
