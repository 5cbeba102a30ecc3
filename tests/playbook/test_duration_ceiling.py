"""Every duration in a playbook has one ceiling (a day); beyond it is an issue, never a float."""

from __future__ import annotations

import pytest

from drills.playbook.durations import MAX_SECONDS
from drills.playbook.errors import PlaybookError
from drills.playbook.parser import parse_playbook
from injector.protocol import MAX_LEASE_SECONDS

PLAYBOOK = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {{name: ceiling}}
targets:
  web: {{host: web}}
probes:
  - name: checkout
    http: {{url: "http://web:8080/checkout"}}
steps:
  - wait: {wait}
limits: {{max_duration: 24h}}
"""


def test_the_ceiling_is_the_agents_longest_lease() -> None:
    # The reason for the ceiling: an agent will not hold a fault longer than this.
    assert MAX_SECONDS == MAX_LEASE_SECONDS


def test_a_day_is_allowed() -> None:
    assert parse_playbook(PLAYBOOK.format(wait="24h")).steps[0].wait == MAX_SECONDS  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("wait", "found"),
    [
        ("86400001ms", "'86400001ms'"),
        ("99999999999999999999999s", "'99999999999999999999999s'"),
        ("1" + "0" * 400 + "h", "'100000000000000000...00h'"),  # float() would say inf
    ],
)
def test_a_longer_duration_is_an_issue_at_its_value(wait: str, found: str) -> None:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(PLAYBOOK.format(wait=wait), "pb.yaml")

    (issue,) = caught.value.issues
    assert (issue.line, issue.column) == (10, 11)
    assert issue.message == f"steps[0].wait: must be at most 24h, found {found}"


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
def test_yaml_infinities_are_refused_without_an_inf_hint(value: str) -> None:
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(PLAYBOOK.format(wait=value), "pb.yaml")

    (issue,) = caught.value.issues
    assert "a bare number has no unit" in issue.message
    assert issue.hint is None
