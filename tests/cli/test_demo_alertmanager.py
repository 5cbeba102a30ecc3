"""`drillhall demo` starts an Alertmanager of its own (the real one, on loopback, clustering off)
and points its web server and orchestrator at it; one already configured is used instead, and a
machine without the binary says so and runs the demo without silences."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from drills.cli.demo import start_alertmanager
from drills.cli.process_group import ProcessGroup
from drills.engine.alertmanager import AlertmanagerClient
from drills.lab import local_alertmanager
from tests.alertmanager import require_alertmanager


def test_the_demo_starts_its_own_alertmanager_and_points_its_processes_at_it(
    tmp_path: Path, settings: Any
) -> None:
    require_alertmanager()
    settings.DRILLHALL_ALERTMANAGER_URL = ""
    said: list[str] = []
    group = ProcessGroup(tmp_path / "logs")
    try:
        env = start_alertmanager(group, tmp_path / "alertmanager", said.append)
        url = env["DRILLHALL_ALERTMANAGER_URL"]
        assert url.startswith("http://127.0.0.1:")
        assert AlertmanagerClient(url).version().startswith("0.")
        assert said == [f"alertmanager: {url}/#/silences shows the silences drills make"]
        argv = group.children[0].proc.args
        assert "--cluster.listen-address=" in argv  # no gossip port, no peers
        assert (tmp_path / "alertmanager" / "alertmanager.yml").read_text().startswith("# Written")
    finally:
        group.stop()


def test_an_alertmanager_already_configured_is_used_and_none_is_started(
    tmp_path: Path, settings: Any
) -> None:
    settings.DRILLHALL_ALERTMANAGER_URL = "https://drill:s3cret@am.example.org:9093"
    said: list[str] = []
    group = ProcessGroup(tmp_path / "logs")
    assert start_alertmanager(group, tmp_path / "alertmanager", said.append) == {}
    assert group.children == []
    assert said == [
        "alertmanager: drills silence alerts in https://am.example.org:9093 "
        "(DRILLHALL_ALERTMANAGER_URL)"
    ]


def test_without_the_binary_the_demo_says_so_and_silences_nothing(
    tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.DRILLHALL_ALERTMANAGER_URL = ""
    monkeypatch.setattr(local_alertmanager, "binary", lambda: None)
    said: list[str] = []
    group = ProcessGroup(tmp_path / "logs")
    assert start_alertmanager(group, tmp_path / "alertmanager", said.append) == {}
    assert group.children == []
    assert said == [
        "alertmanager: not installed (apt-get install prometheus-alertmanager, or make setup): "
        "drills run without silencing alerts"
    ]
