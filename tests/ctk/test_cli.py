"""`drillhall import-ctk` through a real subprocess."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "ctk"


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=30
    )


def test_drillhall_import_ctk_prints_the_playbook_and_reports_on_stderr() -> None:
    out = cli("drills.cli.main", "import-ctk", str(FIXTURES / "k8s-pod.yaml"))
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout)["metadata"]["name"] == "front-end-tolerates-losing-a-pod"
    assert "Not mapped (3):" in out.stderr
    assert "chaosk8s.pod.actions.terminate_pods" in out.stderr


def test_import_ctk_writes_the_output_file(tmp_path: Path) -> None:
    target = tmp_path / "out.yaml"
    out = cli("drills.cli.import_ctk", str(FIXTURES / "status-list.json"), "-o", str(target))
    assert out.returncode == 0, out.stderr
    assert f"{target}: written (2 not mapped, 0 to fill in)" in out.stdout
    assert "runs `kill 4242`" in out.stderr
    check = cli("drills.cli.main", "validate", str(target))
    assert check.returncode == 0, check.stderr


def test_import_ctk_exits_2_on_a_file_that_is_not_an_experiment() -> None:
    bad = FIXTURES / "invalid" / "bad-activity.yaml"
    out = cli("drills.cli.import_ctk", str(bad))
    assert out.returncode == 2
    assert out.stdout == ""
    assert f"{bad}: not a valid Chaos Toolkit experiment:" in out.stderr
    assert "method[0].provider.type: expected one of python, http, process" in out.stderr


def test_import_ctk_exits_2_on_a_missing_file(tmp_path: Path) -> None:
    out = cli("drills.cli.import_ctk", str(tmp_path / "nope.json"))
    assert out.returncode == 2
    assert "cannot read the file: No such file or directory" in out.stderr
