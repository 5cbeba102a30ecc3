"""The PostgreSQL canary against a real PostgreSQL server on loopback."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import psycopg
import pytest

from ebpf.netns import run_in_netns
from tests.conftest import run
from tests.verifier.probes.pgserver import PgServer, postgres_server
from verifier.probes.canary import Canary
from verifier.probes.pgcanary import CREATE_TABLE, TABLE, PostgresCanary, connection_params


@pytest.fixture(scope="module")
def shared() -> Iterator[PgServer]:
    with postgres_server() as server:
        yield server


def sql(server: PgServer, query: str) -> list[tuple[object, ...]]:
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        cursor = conn.execute(query)
        return cursor.fetchall() if cursor.description else []


def writes(canary: PostgresCanary, count: int) -> None:
    for _ in range(count):
        sample = canary.sample()
        assert sample.ok, sample.error


def test_every_acknowledged_write_is_a_row_and_remembered_in_order(shared: PgServer) -> None:
    canary = PostgresCanary("orders-a", shared.dsn)
    assert isinstance(canary, Canary)
    before = time.time()
    samples = [canary.sample() for _ in range(5)]
    assert [s.seq for s in samples] == [1, 2, 3, 4, 5] and all(s.ok for s in samples)
    acked = canary.acknowledged()
    assert [a.seq for a in acked] == [1, 2, 3, 4, 5]
    assert all(before <= a.t <= time.time() for a in acked)
    rows = sql(shared, f"SELECT seq, t FROM {TABLE} WHERE probe = 'orders-a' ORDER BY seq")
    assert rows == [(a.seq, a.t) for a in acked]
    canary.close()


def test_verify_reports_exactly_the_rows_lost_behind_the_probes_back(shared: PgServer) -> None:
    canary = PostgresCanary("orders-b", shared.dsn)
    writes(canary, 30)
    assert canary.verify() == []
    sql(shared, f"DELETE FROM {TABLE} WHERE probe = 'orders-b' AND seq IN (4, 17, 30)")
    # A row rewritten by someone else is not our write either.
    sql(shared, f"UPDATE {TABLE} SET t = 0 WHERE probe = 'orders-b' AND seq = 9")
    acked = {a.seq: a for a in canary.acknowledged()}
    assert canary.verify() == [acked[4], acked[9], acked[17], acked[30]]
    assert canary.verify(after_seconds=acked[10].t) == [acked[17], acked[30]]


def test_rows_of_an_earlier_canary_with_the_same_name_never_count(shared: PgServer) -> None:
    earlier = PostgresCanary("orders-c", shared.dsn)
    writes(earlier, 3)
    canary = PostgresCanary("orders-c", shared.dsn)
    writes(canary, 3)
    first = canary.acknowledged()[0].t
    sql(shared, f"DELETE FROM {TABLE} WHERE probe = 'orders-c' AND t >= {first!r}")
    # Seqs 1..3 are still in the table, but written by the earlier canary.
    assert [a.seq for a in canary.verify()] == [1, 2, 3]
    assert earlier.verify() == []


def test_verify_reads_in_chunks_across_many_writes(shared: PgServer) -> None:
    canary = PostgresCanary("orders-d", shared.dsn)
    writes(canary, 1205)  # more than one read-back chunk of 1000
    sql(shared, f"DELETE FROM {TABLE} WHERE probe = 'orders-d' AND seq IN (3, 1001, 1205)")
    assert [a.seq for a in canary.verify()] == [3, 1001, 1205]


def test_verify_works_after_the_probe_closed_its_connection(shared: PgServer) -> None:
    canary = PostgresCanary("orders-e", shared.dsn)
    writes(canary, 4)
    canary.close()  # the engine closes probes when the run stops sampling
    sql(shared, f"DELETE FROM {TABLE} WHERE probe = 'orders-e' AND seq = 2")
    assert canary.verify() == [canary.acknowledged()[1]]


def test_the_table_is_created_when_it_is_missing() -> None:
    with postgres_server() as server:
        assert sql(server, f"SELECT to_regclass('{TABLE}') IS NULL") == [(True,)]
        canary = PostgresCanary("fresh", server.dsn)
        writes(canary, 1)
        assert sql(server, f"SELECT count(*) FROM {TABLE}") == [(1,)]
        canary.close()


def test_a_stopped_server_fails_samples_and_verify_cannot_read() -> None:
    with postgres_server() as server:
        canary = PostgresCanary("orders", server.dsn, timeout=0.5)
        writes(canary, 3)
        server.stop()
        sample = canary.sample()
        after = canary.sample()  # the next one reconnects, and fails too
    for failed in (sample, after):
        assert not failed.ok and failed.seq is None and failed.error
    # The open connection hears of the shutdown; the new one finds nobody listening.
    assert after.error is not None and "OperationalError" in after.error
    assert [a.seq for a in canary.acknowledged()] == [1, 2, 3]
    assert after.latency_ms is not None and after.latency_ms < 2500
    with pytest.raises(psycopg.OperationalError):
        canary.verify()  # "cannot tell" must never read as "nothing lost"


def test_a_write_whose_commit_did_not_return_is_not_acknowledged() -> None:
    # A synchronous standby that never connects: every commit waits for it, forever.
    with postgres_server(settings={"synchronous_standby_names": "absent_standby"}) as server:
        local = connection_params(server.dsn, 5.0)
        local["options"] += " -c synchronous_commit=local"
        with psycopg.connect(**local, autocommit=True) as conn:
            conn.execute(CREATE_TABLE)
        canary = PostgresCanary("orders", server.dsn, timeout=0.5)
        start = time.monotonic()
        sample = canary.sample()
        elapsed = time.monotonic() - start
        waiting = sql(server, "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep'")
        assert canary.verify() == []  # not acknowledged, so not expected back either
    assert not sample.ok and sample.seq is None
    assert sample.error is not None and "the commit did not return" in sample.error
    assert canary.acknowledged() == []
    assert waiting == [(1,)]  # the INSERT was sent and sits in its commit
    assert 0.7 < elapsed < 2.0  # the client-side deadline (1.5 x timeout), not a hang


def test_a_write_stuck_behind_a_lock_ends_at_the_statement_timeout(shared: PgServer) -> None:
    canary = PostgresCanary("orders-f", shared.dsn, timeout=0.5)
    writes(canary, 1)
    with psycopg.connect(shared.dsn) as blocker:
        # A lock the INSERT queues behind; statement_timeout (0.5 s) ends the wait on the server.
        blocker.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
        start = time.monotonic()
        sample = canary.sample()
        elapsed = time.monotonic() - start
    assert not sample.ok and sample.seq is None and sample.error is not None
    assert "QueryCanceled" in sample.error and "statement timeout" in sample.error
    assert elapsed < 1.5
    assert [a.seq for a in canary.acknowledged()] == [1]
    writes(canary, 1)  # the next sample works again on a new connection
    assert [a.seq for a in canary.acknowledged()] == [1, 3]


def test_a_bad_dsn_is_refused_when_the_canary_is_built() -> None:
    with pytest.raises(ValueError, match="not a PostgreSQL connection string"):
        PostgresCanary("orders", "host=127.0.0.1 port")


def test_the_users_options_are_kept_and_the_time_bounds_added() -> None:
    params = connection_params("host=db1 options='-c search_path=shop'", 1.5)
    assert params["options"] == "-c search_path=shop -c statement_timeout=1500"
    assert params["connect_timeout"] == "2"  # libpq's minimum
    assert params["host"] == "db1"


def test_the_canary_connects_from_its_hosts_namespace_whoever_calls() -> None:
    from tests.conftest import have_root, require

    require(have_root(), "needs root (network namespaces)")
    namespace = f"pgcanary{os.getpid()}"
    run(["ip", "netns", "add", namespace])
    try:
        run(["ip", "-n", namespace, "link", "set", "lo", "up"])
        with postgres_server(netns=namespace) as server:
            canary = PostgresCanary("orders", server.dsn, netns=namespace)
            # The probe thread samples inside the namespace; the engine's thread verifies.
            for _ in range(3):
                assert run_in_netns(namespace, canary.sample, timeout=10).ok
            outside = PostgresCanary("orders", server.dsn, timeout=0.5)
            assert not outside.sample().ok  # only the namespace's loopback has the server
            assert canary.verify() == []
            canary.close()
    finally:
        run(["ip", "netns", "delete", namespace], check=False)
