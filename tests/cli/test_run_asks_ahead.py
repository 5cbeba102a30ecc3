"""`drillhall run` asks which agents run before it parses the playbook: the hosts come from the
YAML alone, so nothing a hostile or broken file says may become a queue name or an agent started."""

from __future__ import annotations

from pathlib import Path

from drills.cli.run import hosts_named


def test_the_hosts_the_targets_name_are_read_from_the_yaml(tmp_path: Path) -> None:
    path = tmp_path / "drill.yaml"
    path.write_text("targets:\n  db: {host: db1}\n  web: {host: web}\n  all: {selector: {a: b}}\n")
    assert hosts_named(path) == {"db1", "web"}


def test_what_is_not_a_host_name_or_not_yaml_names_no_queue(tmp_path: Path) -> None:
    path = tmp_path / "drill.yaml"
    path.write_text('targets:\n  a: {host: "db1 *"}\n  b: {host: ["x"]}\n  c: {host: "../x"}\n')
    assert hosts_named(path) == set()
    path.write_text("targets: [\n")
    assert hosts_named(path) == set()
    assert hosts_named(tmp_path / "missing.yaml") == set()
