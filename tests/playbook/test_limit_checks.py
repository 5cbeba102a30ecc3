"""A Playbook built without the parser (an API, the database) keeps to its limits just the same."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from drills.playbook.model import Playbook


def playbook(steps: list[dict[str, Any]], limits: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "drillhall/v1",
        "kind": "Playbook",
        "metadata": {"name": "built"},
        "targets": {"web": {"host": "web"}, "db": {"host": "db1"}},
        "probes": [{"name": "checkout", "http": {"url": "http://web:8080/"}}],
        "steps": steps,
        "limits": limits,
    }


PARTITION = {"fault": "network.partition", "target": "db", "from": ["web"], "duration": "2h"}


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_duration": "1m"}, "the fault network.partition lasts 2h, longer than"),
        ({"allowed_faults": ["stress.cpu"]}, "fault network.partition is not in limits.allowed"),
    ],
)
def test_a_built_playbook_is_refused_like_a_parsed_one(
    limits: dict[str, Any], message: str
) -> None:
    data = playbook([PARTITION], {"max_duration": "24h", **limits})

    with pytest.raises(ValidationError, match=message):
        Playbook.model_validate(data)


def test_a_built_playbook_within_its_limits_is_fine() -> None:
    data = playbook([PARTITION], {"max_duration": "2h", "allowed_faults": ["network.partition"]})

    assert Playbook.model_validate(data).limits.max_duration == 7200.0
