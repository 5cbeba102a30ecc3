"""`drillhall run` asks which agents run before it parses the playbook: the hosts come from the
YAML alone, so nothing a hostile or broken file says may become a queue name."""

from __future__ import annotations

from pathlib import Path

from drills.cli.run import agent_queues_named


def test_the_hosts_the_targets_name_become_their_agent_queues(tmp_path: Path) -> None:
    path = tmp_path / "drill.yaml"
    path.write_text("targets:\n  db: {host: db1}\n  web: {host: web}\n  all: {selector: {a: b}}\n")
    assert agent_queues_named(path) == {"agent.db1", "agent.web"}


def test_what_is_not_a_host_name_or_not_yaml_names_no_queue(tmp_path: Path) -> None:
    path = tmp_path / "drill.yaml"
    path.write_text('targets:\n  a: {host: "db1 *"}\n  b: {host: ["x"]}\n  c: {host: "../x"}\n')
    assert agent_queues_named(path) == set()
    path.write_text("targets: [\n")
    assert agent_queues_named(path) == set()
    assert agent_queues_named(tmp_path / "missing.yaml") == set()
