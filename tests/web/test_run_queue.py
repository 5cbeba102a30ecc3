"""Runs beyond DRILLHALL_MAX_RUNS, and runs on a host and port another run faults, wait in a
visible queue: the run says how many are ahead and why, and starts when a slot frees.

Real database and a real broker queue of the test's own: what is handed to an orchestrator is
read back from Redis; the runs are claimed by the orchestrator's own admission (no worker).
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from drills.engine.admission import Admission
from drills.report.sentences import describe
from drills.web import group_commit
from drills.web.group_commit import committed
from drills.web.hosts import register_host
from drills.web.liveness import Reaper
from drills.web.models import DrillRun, PlaybookVersion
from drills.web.orchestrator import execute_run
from drills.web.run_control import create_run
from drills.web.run_queue import admit_waiting, claim
from tests.web.approval_queue import OrchestratorQueue
from tests.web.personas import World
from tests.web.statements import statements_of_the_writer

pytestmark = pytest.mark.django_db(transaction=True)

PORT_PARTITION = (
    Path(__file__).parents[1] / "fixtures" / "playbooks" / "queue" / "redis-port-partition.yaml"
)


@pytest.fixture
def versions(world: World):  # type: ignore[no-untyped-def]
    """``versions(port)``: a saved version of a partition of db1's ``port`` from web."""
    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")
    made: dict[int, PlaybookVersion] = {}

    def version(port: int) -> PlaybookVersion:
        if port not in made:
            text = PORT_PARTITION.read_text().replace("ports: [6379]", f"ports: [{port}]")
            made[port] = world.playbook.save_version(text, author=world.owner, message=str(port))
        return made[port]

    return version


def queued_sentences(run: DrillRun) -> list[str]:
    return [describe(e.type, e.data) for e in run.events.filter(type="queued").order_by("seq")]


def end(run: DrillRun) -> None:
    DrillRun.objects.filter(id=run.id).update(state="passed", finished_at=timezone.now())


def test_runs_beyond_the_maximum_wait_in_order_and_start_when_a_slot_frees(
    world: World, versions, settings, private_queue: str
) -> None:  # type: ignore[no-untyped-def]
    settings.DRILLHALL_MAX_RUNS = 2
    first, second, third, fourth = (
        create_run(versions(port), world.member) for port in (1, 2, 3, 4)
    )
    assert claim(first).admitted and claim(second).admitted
    assert not claim(third).admitted and not claim(fourth).admitted
    third.refresh_from_db()
    fourth.refresh_from_db()
    assert (third.state, third.started_at, third.queue_ahead) == ("pending", None, 0)
    assert fourth.queue_ahead == 1
    assert queued_sentences(fourth) == [
        "queued, 1 ahead: 2 runs are in progress and at most 2 run at once (DRILLHALL_MAX_RUNS)"
    ]
    # The orchestrator's task for a queued run ends at once, leaving it pending.
    assert execute_run(fourth.key) == "queued"

    queue = OrchestratorQueue(settings.REDIS_URL, private_queue)
    queue.clear()
    end(first)
    assert admit_waiting() == 1
    assert queue.run_keys() == [third.key]  # the oldest: the fourth stays behind it
    assert queued_sentences(fourth)[-1] == (
        "queued, 0 ahead: 2 runs are in progress and at most 2 run at once (DRILLHALL_MAX_RUNS)"
    )
    assert claim(third).admitted
    assert not claim(fourth).admitted
    assert len(queued_sentences(fourth)) == 2  # no new event while nothing changed


def test_a_run_on_the_same_host_and_port_waits_and_others_pass_it(
    world: World, versions, private_queue: str
) -> None:  # type: ignore[no-untyped-def]
    running = create_run(versions(6379), world.member)
    same = create_run(versions(6379), world.member)
    other_port = create_run(versions(80), world.member)
    assert claim(running).admitted
    decision = claim(same)
    assert not decision.admitted
    assert queued_sentences(same) == [
        f"queued, 0 ahead: run {running.id}, which is in progress, faults db1 port 6379 too, "
        "and runs that fault the same host and port run one after the other"
    ]
    assert claim(other_port).admitted  # not held up behind the waiting run
    end(running)
    admit_waiting()
    assert claim(same).admitted


def test_a_run_is_claimed_once(world: World, versions) -> None:  # type: ignore[no-untyped-def]
    run = create_run(versions(6379), world.member)
    assert claim(run).admitted
    again = claim(run)
    assert not again.admitted and again.reason == ""


def test_the_reaper_leaves_a_queued_run_waiting_past_the_pending_limit(
    world: World, versions, settings, private_queue: str
) -> None:  # type: ignore[no-untyped-def]
    settings.DRILLHALL_MAX_RUNS = 1
    running, queued, lost = (create_run(versions(port), world.member) for port in (1, 2, 3))
    assert claim(running).admitted and not claim(queued).admitted
    an_hour_ago = timezone.now() - timedelta(hours=1)
    DrillRun.objects.filter(id__in=[queued.id, lost.id]).update(created_at=an_hour_ago)
    Reaper(pending_limit=60).sweep()
    queued.refresh_from_db()
    lost.refresh_from_db()
    assert queued.finished_at is None and queued.state == "pending"
    # A run no orchestrator ever looked at still ends: nobody is there to take it.
    assert lost.state == "error"


def test_the_run_page_and_the_api_say_the_place_and_the_reason(
    world: World, versions, settings, private_queue: str, client
) -> None:  # type: ignore[no-untyped-def]
    settings.DRILLHALL_MAX_RUNS = 1
    running, queued = (create_run(versions(port), world.member) for port in (1, 2))
    assert claim(running).admitted and not claim(queued).admitted
    client.force_login(world.member)
    page = client.get(reverse("run-detail", args=[queued.id])).content.decode()
    assert ">queued, 0 ahead</span>" in page
    assert "1 run is in progress and at most 1 run at once (DRILLHALL_MAX_RUNS)" in page
    detail = client.get(f"/api/v1/runs/{queued.id}/").json()
    assert detail["state"] == "pending"
    assert detail["queue"] == (
        "queued, 0 ahead: 1 run is in progress and at most 1 run at once (DRILLHALL_MAX_RUNS)"
    )
    assert client.get(f"/api/v1/runs/{running.id}/").json()["queue"] is None


def test_claims_that_arrive_together_are_decided_together_as_one_after_another_would(
    world: World, versions, settings
) -> None:  # type: ignore[no-untyped-def]
    """A hundred runs handed over at once must not each take SQLite's lock for a transaction
    of their own: the claims waiting for the process's writer are decided in one look."""
    settings.DRILLHALL_MAX_RUNS = 2
    runs = [create_run(versions(port), world.member) for port in (1, 2, 3, 3)]
    decisions: dict[int, Admission] = {}

    def claimed(run: DrillRun) -> None:
        decisions[run.id] = claim(run)
        connection.close()

    release = threading.Event()
    with statements_of_the_writer() as statements:
        busy = threading.Thread(target=committed, args=(lambda: release.wait(5),))
        busy.start()
        time.sleep(0.2)
        claims = [threading.Thread(target=claimed, args=(run,)) for run in reversed(runs)]
        for thread in claims:
            thread.start()
        # All four wait for the writer together (its queue, read here for that alone).
        writer = group_commit._writer
        assert writer is not None
        deadline = time.monotonic() + 10
        while writer._queue.qsize() < len(runs) and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        for thread in (busy, *claims):
            thread.join(10)
    third = runs[2].id
    assert [decisions[run.id].phrase for run in runs] == [
        "admitted",
        "admitted",
        "queued, 0 ahead: 2 runs are in progress and at most 2 run at once (DRILLHALL_MAX_RUNS)",
        f"queued, 1 ahead: run {third}, which was queued first, faults db1 port 3 too, and "
        "runs that fault the same host and port run one after the other",
    ]
    assert [queued_sentences(run) for run in runs[2:]] == [
        [decisions[run.id].phrase] for run in runs[2:]
    ]
    looks = [s for s in statements if s.startswith("SELECT") and '"finished_at" IS NULL' in s]
    assert len(looks) == 1  # one read of the runs in progress and waiting, for all four


def test_the_claims_read_of_the_runs_not_ended_is_one_row_on_sqlite_whatever_their_number(
    world: World, versions
) -> None:  # type: ignore[no-untyped-def]
    """Python's sqlite3 gives up the GIL at every row it steps to; in the writer, with a
    hundred runs starting, each was a wait behind their threads (docs/performance.md)."""
    runs = [create_run(versions(port), world.member) for port in range(1, 13)]
    read: list[tuple[str, tuple[object, ...]]] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if sql.startswith("SELECT") and '"finished_at" IS NULL' in sql:
            read.append((sql, tuple(params or ())))
        return execute(sql, params, many, context)

    committed(lambda: connection.execute_wrappers.append(record))
    try:
        assert claim(runs[0]).admitted
        assert claim(runs[1]).admitted
    finally:
        committed(lambda: connection.execute_wrappers.remove(record))
    assert len(read) == 2
    with connection.cursor() as cursor:
        for sql, params in read:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
            assert len(rows) == (1 if connection.vendor == "sqlite" else len(runs))
    # What the one row says is what the runs are: the admitted two started, ten wait.
    assert claim(runs[2]).admitted and not claim(runs[2]).admitted
