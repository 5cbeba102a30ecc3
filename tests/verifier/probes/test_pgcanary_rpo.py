"""RPO through the run loop with a PostgreSQL canary: rows deleted by the 'fault' are counted."""

from __future__ import annotations

import psycopg
import pytest

from drills.engine.states import RunState
from tests.engine.canary_drill import assert_failed_on_three_lost_writes, run_canary_drill
from tests.engine.fakes import FakeDriver, LosingDriver, Service
from tests.verifier.probes.pgserver import PgServer, postgres_server
from verifier.probes.pgcanary import TABLE


def pg_canary(server: PgServer) -> str:
    return f'{{postgres: {{dsn: "{server.dsn}"}}}}'


def delete_oldest_rows(server: PgServer) -> list[int]:
    """Deletes the three oldest canary rows straight from the table; returns their seqs."""
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        rows = conn.execute(
            f"DELETE FROM {TABLE} WHERE seq IN "
            f"(SELECT seq FROM {TABLE} ORDER BY seq LIMIT 3) RETURNING seq"
        ).fetchall()
    return sorted(int(seq) for (seq,) in rows)


def test_rpo_counts_rows_of_acknowledged_writes_that_are_gone(service: Service) -> None:
    with postgres_server() as server:
        driver = LosingDriver(service, lambda: delete_oldest_rows(server))
        outcome, sink = run_canary_drill("21", pg_canary(server), driver)
    assert driver.deleted == [1, 2, 3]
    assert_failed_on_three_lost_writes(outcome, sink)


def test_rpo_is_zero_when_every_row_is_still_there(service: Service) -> None:
    with postgres_server() as server:
        outcome, _ = run_canary_drill("21", pg_canary(server), FakeDriver(service))
    assert outcome.rpo is not None and outcome.rpo["lost"] == 0
    assert outcome.rpo["acknowledged"] >= 5
    assert outcome.state is RunState.PASSED, outcome.reason


def test_a_canary_that_names_its_dsn_measures_rpo_against_a_server_with_a_password(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run loop builds the probe at preflight from the orchestrator's environment: the
    # playbook and its plan hold only the variable's name.
    with postgres_server(password="S3cret-canary") as server:
        monkeypatch.setenv("ORDERS_PG_DSN", server.dsn_with_password)
        monkeypatch.setenv("DRILLHALL_PROBE_SECRET_ENV", "ORDERS_PG_DSN")
        outcome, sink = run_canary_drill(
            "21", "{postgres: {dsn_env: ORDERS_PG_DSN}}", FakeDriver(service)
        )
    assert outcome.state is RunState.PASSED, outcome.reason
    assert outcome.rpo is not None and outcome.rpo["acknowledged"] >= 5
    assert "S3cret-canary" not in repr(sink.events)


def test_a_dsn_env_the_operator_did_not_allow_ends_the_run_before_any_fault(
    service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERS_PG_DSN", "postgresql://shop:S3cret-canary@127.0.0.1/shop")
    monkeypatch.delenv("DRILLHALL_PROBE_SECRET_ENV", raising=False)
    driver = FakeDriver(service)
    outcome, sink = run_canary_drill("21", "{postgres: {dsn_env: ORDERS_PG_DSN}}", driver)
    assert outcome.state is RunState.ERROR
    assert "the environment variable ORDERS_PG_DSN is not one the operator lets probes read" in (
        outcome.reason
    )
    assert not any(call == "apply" for call, _ in driver.calls)
    assert "S3cret-canary" not in repr(sink.events) + outcome.reason
