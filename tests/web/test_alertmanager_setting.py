"""DRILLHALL_ALERTMANAGER_URL: read strictly at start (a bad one stops it, without showing a
password), from the variable or a _FILE; empty means no silencing; the orchestrator's runs get
a silencer for the `instance` label when it is set."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from drills.engine.alertmanager import AlertmanagerSilencer
from drills.web.models import DrillRun
from drills.web.silencing import silence_label_for, silencer_for

ROOT = Path(__file__).resolve().parents[2]
READ = "import drillhall.settings as s; print(repr(s.DRILLHALL_ALERTMANAGER_URL))"


def settings_with(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DRILLHALL_ALERTMANAGER_URL")
    }
    environment.update(SECRET_KEY=secrets.token_urlsafe(50), **env)
    return subprocess.run(
        [sys.executable, "-c", READ], cwd=ROOT, env=environment, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_without_it_nothing_is_silenced() -> None:
    out = settings_with()
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "''"


def test_a_base_url_is_read_and_tidied() -> None:
    out = settings_with(DRILLHALL_ALERTMANAGER_URL="http://am.example.org:9093/")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "'http://am.example.org:9093'"


def test_it_may_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager-url"
    path.write_text("https://drill:s3cret@am.example.org/alertmanager\n")
    out = settings_with(DRILLHALL_ALERTMANAGER_URL_FILE=str(path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "'https://drill:s3cret@am.example.org/alertmanager'"


def test_a_bad_url_stops_the_start_with_a_sentence_and_no_password() -> None:
    out = settings_with(DRILLHALL_ALERTMANAGER_URL="ftp://drill:s3cret@am.example.org")
    assert out.returncode != 0
    assert (
        "DRILLHALL_ALERTMANAGER_URL: ftp://am.example.org is not an http:// or https:// URL"
        in out.stderr
    )
    assert "s3cret" not in out.stderr


def test_a_run_gets_no_silencer_without_an_alertmanager(settings: Any) -> None:
    settings.DRILLHALL_ALERTMANAGER_URL = ""
    assert silencer_for(DrillRun()) is None


def test_a_run_silences_alerts_by_instance_when_there_is_one(settings: Any) -> None:
    settings.DRILLHALL_ALERTMANAGER_URL = "http://127.0.0.1:9093"
    silencer = silencer_for(DrillRun())
    assert isinstance(silencer, AlertmanagerSilencer)
    assert silencer.label == "instance" == silence_label_for(DrillRun())
    assert silencer.client.url == "http://127.0.0.1:9093"


def test_a_run_whose_label_is_none_gets_no_silencer(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from drills.web import silencing

    settings.DRILLHALL_ALERTMANAGER_URL = "http://127.0.0.1:9093"
    monkeypatch.setattr(silencing, "silence_label_for", lambda run: None)
    assert silencer_for(DrillRun()) is None
