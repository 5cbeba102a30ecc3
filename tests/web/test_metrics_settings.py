"""DRILLHALL_METRICS_ALLOW and DRILLHALL_METRICS_TOKEN are read strictly at start: a bad value
stops it with a sentence that never shows the token."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READ = (
    "import drillhall.settings as s; "
    "print([str(n) for n in s.DRILLHALL_METRICS_ALLOW]); print(s.DRILLHALL_METRICS_TOKEN)"
)
TOKEN = "a-metrics-token-long-enough-1234"


def settings_with(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DRILLHALL_METRICS_")
    }
    environment.update(SECRET_KEY=secrets.token_urlsafe(50), **env)
    return subprocess.run(
        [sys.executable, "-c", READ], cwd=ROOT, env=environment, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


def test_by_default_loopback_may_scrape_without_a_token() -> None:
    out = settings_with()
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["['127.0.0.0/8', '::1/128']", "None"]


def test_networks_and_a_token_are_read() -> None:
    out = settings_with(
        DRILLHALL_METRICS_ALLOW="10.0.0.0/8, 192.0.2.7 ,2001:db8::/32",
        DRILLHALL_METRICS_TOKEN=TOKEN,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "['10.0.0.0/8', '192.0.2.7/32', '2001:db8::/32']",
        TOKEN,
    ]


def test_the_token_may_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "metrics-token"
    path.write_text(TOKEN + "\n")
    out = settings_with(DRILLHALL_METRICS_TOKEN_FILE=str(path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[1] == TOKEN


def test_a_network_with_host_bits_stops_the_start() -> None:
    out = settings_with(DRILLHALL_METRICS_ALLOW="127.0.0.0/8,10.1.2.3/8")
    assert out.returncode != 0
    assert "DRILLHALL_METRICS_ALLOW: '10.1.2.3/8' is not a network in CIDR notation" in out.stderr
    assert "has host bits set" in out.stderr


def test_a_name_or_an_empty_entry_stops_the_start() -> None:
    out = settings_with(DRILLHALL_METRICS_ALLOW="prometheus.internal")
    assert out.returncode != 0
    assert "'prometheus.internal' is not a network in CIDR notation" in out.stderr
    out = settings_with(DRILLHALL_METRICS_ALLOW="127.0.0.0/8,,::1/128")
    assert out.returncode != 0
    assert "an empty entry between commas" in out.stderr


def test_a_short_token_stops_the_start_without_showing_it() -> None:
    out = settings_with(DRILLHALL_METRICS_TOKEN="hunter2hunter2")
    assert out.returncode != 0
    assert "DRILLHALL_METRICS_TOKEN: the token has 14 characters; use at least 24" in out.stderr
    assert "hunter2" not in out.stderr


def test_a_token_with_a_space_stops_the_start() -> None:
    out = settings_with(DRILLHALL_METRICS_TOKEN="a token with spaces in it, long enough")
    assert out.returncode != 0
    assert "printable ASCII characters without spaces" in out.stderr


def test_both_the_token_and_its_file_stop_the_start(tmp_path: Path) -> None:
    path = tmp_path / "metrics-token"
    path.write_text(TOKEN)
    out = settings_with(DRILLHALL_METRICS_TOKEN=TOKEN, DRILLHALL_METRICS_TOKEN_FILE=str(path))
    assert out.returncode != 0
    assert "both DRILLHALL_METRICS_TOKEN and DRILLHALL_METRICS_TOKEN_FILE are set" in out.stderr
