from __future__ import annotations

import pytest

from drills.engine.events import EventType
from drills.report.sentences import describe
from tests.report.fixtures import stored

REPRS = ("{'", "[{", "=", "None", "': ")


@pytest.mark.parametrize("name", ["redis-failover-run", "aborted-partition-run"])
def test_every_stored_event_reads_as_a_sentence(name: str) -> None:
    for event in stored(name)["events"]:
        sentence = describe(event["type"], event["data"])
        assert sentence and not any(r in sentence for r in REPRS), sentence


def test_every_event_type_has_its_own_sentence() -> None:
    for type in EventType:
        assert describe(type.value, {}) != f"{type.value.replace('_', ' ')} event", type


def test_verdicts_and_collectors_are_words() -> None:
    verdict = {"sla": "steady state", "state": "passed", "value": 0.0, "reason": "held"}
    assert describe("verdict", verdict) == "SLA “steady state” passed at 0: held"
    collectors = {"host": "web", "collectors": [{"name": "tcp_connect", "source": "proc"}]}
    assert (
        describe("collectors", collectors) == "kernel collectors on web: tcp_connect (from /proc)"
    )


@pytest.mark.parametrize("data", [None, [], {"value": {"x": 1}}, {"state": ["a"]}, "text"])
def test_forged_event_data_still_makes_words(data: object) -> None:
    for type in [*EventType, "unheard_of"]:
        sentence = describe(str(type), data)
        assert sentence and "{" not in sentence
