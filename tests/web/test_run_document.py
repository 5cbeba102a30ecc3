"""The run document (--json, the HTML report) takes its result from the run's event stream."""

from __future__ import annotations

from drills.web.models import RunEvent
from drills.web.run_document import run_document
from tests.web.personas import World, make_run

RESULT = {"state": "passed", "verdicts": {}, "rto": 2.5, "reason": "every SLA held"}


def test_the_result_event_counts_before_the_orchestrator_writes_the_row(world: World):
    # The CLI reads the document as soon as it sees the result event; the row comes after.
    run = make_run(world.version, world.owner, state="passed")
    RunEvent.objects.create(run=run, seq=1, type="state", t=1.0, data={"state": "passed"})
    RunEvent.objects.create(run=run, seq=2, type="result", t=1.1, data=RESULT)
    doc = run_document(run)
    assert doc["result"] == RESULT
    assert [e["seq"] for e in doc["events"]] == [1, 2]


def test_without_a_result_event_the_row_is_used(world: World):
    run = make_run(world.version, world.owner, state="error")
    run.result = {"state": "error", "reason": "worker lost"}
    run.save()
    assert run_document(run)["result"] == {"state": "error", "reason": "worker lost"}
