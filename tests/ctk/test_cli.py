"""`drillhall import-ctk` through a real subprocess."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
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


def test_import_ctk_reads_no_more_of_a_file_than_it_may_accept() -> None:
    # /dev/zero never ends: reading all of it would run until memory does. The address space
    # limit turns that into a quick MemoryError (exit 1) instead of a machine out of memory.
    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    out = subprocess.run(
        [sys.executable, "-m", "drills.cli.main", "import-ctk", "/dev/zero"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        preexec_fn=limit_memory,
    )
    assert out.returncode == 2, out.stderr
    assert "/dev/zero: not a valid Chaos Toolkit experiment:\n" in out.stderr
    assert "line 1, column 1: experiment is larger than 256 KiB" in out.stderr


def test_import_ctk_exits_2_on_a_missing_file(tmp_path: Path) -> None:
    out = cli("drills.cli.import_ctk", str(tmp_path / "nope.json"))
    assert out.returncode == 2
    assert "cannot read the file: No such file or directory" in out.stderr


# The security review's inputs: refused with a sentence and a position, nothing written (the
# alias bomb used to be converted: 443 bytes became 96 KB of playbook and 96 KB of report).
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("alias-bomb.yaml", "line 3, column 6: anchors (&a) are not allowed in experiments"),
        ("too-deep.yaml", "line 35, column 65: nesting deeper than 32 levels"),
        ("too-deep.json", "line 39, column 65: nesting deeper than 32 levels"),
        ("too-large.json", "line 1, column 1: experiment is larger than 256 KiB"),
    ],
)
@pytest.mark.parametrize("output", ["stdout", "file"])
def test_import_ctk_refuses_a_hostile_experiment_and_writes_nothing(
    name: str, message: str, output: str, tmp_path: Path
) -> None:
    path = FIXTURES / "invalid" / name
    target = tmp_path / "out.yaml"
    extra = ["-o", str(target)] if output == "file" else []

    out = cli("drills.cli.main", "import-ctk", str(path), *extra)

    assert out.returncode == 2, out.stderr
    assert out.stderr.startswith(f"{path}: not a valid Chaos Toolkit experiment:\n  - {message}")
    assert out.stderr.count("\n  - ") == 1, out.stderr  # that one problem, no report
    assert out.stdout == ""
    assert not target.exists()
