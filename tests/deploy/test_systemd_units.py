"""The systemd units of docs/deploy.md are valid units that start what the project runs.

`systemd-analyze verify` reads each unit as systemd would and checks that its commands exist.
The units name the production paths (/opt/drillhall, /etc/drillhall); the test installs a
copy pointing at this checkout, as docs/deploy.md installs them pointing at theirs.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
EXPECTED = {"drillhall-web", "drillhall-orchestrator@", "drillhall-beat", "drillhall-agent"}


def install_copy(units: list[Path], into: Path) -> list[Path]:
    etc = into / "etc"
    etc.mkdir()
    for name in ("drillhall.env", "agent.env"):
        (etc / name).write_text("")
    copies = []
    for unit in units:
        text = unit.read_text().replace("/opt/drillhall", str(ROOT))
        copy = into / unit.name
        copy.write_text(text.replace("/etc/drillhall", str(etc)))
        copies.append(copy)
    return copies


def verify(units: list[Path]) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("systemd-analyze")
    require(tool is not None, "systemd-analyze is missing (Debian package systemd)")
    assert tool is not None
    return subprocess.run(
        [tool, "verify", "--man=no", *[u.name for u in units]],
        cwd=units[0].parent,
        capture_output=True,
        text=True,
        timeout=60,
    )


def exec_start(unit: Path) -> list[str]:
    for line in unit.read_text().splitlines():
        if line.startswith("ExecStart="):
            return shlex.split(line.removeprefix("ExecStart="))
    raise AssertionError(f"{unit.name} has no ExecStart")


def test_there_is_a_unit_for_web_orchestrator_beat_and_agent():
    assert {u.stem for u in UNITS} == EXPECTED


def test_every_unit_verifies_without_a_warning(tmp_path: Path):
    out = verify(install_copy(UNITS, tmp_path))
    assert out.returncode == 0, out.stderr + out.stdout
    assert out.stderr.strip() == "", out.stderr


@pytest.mark.parametrize("breakage", ["Bogus=1\n", "ExecStart=/nonexistent/daphne\n"])
def test_verify_would_catch_a_broken_unit(tmp_path: Path, breakage: str):
    # Proof that the check above can fail: an unknown key or a missing command is reported.
    broken = tmp_path / "units"
    broken.mkdir()
    copy = install_copy([ROOT / "deploy/systemd/drillhall-web.service"], broken)[0]
    text = copy.read_text().replace("[Install]", breakage + "[Install]")
    if breakage.startswith("ExecStart"):
        text = text.replace("ExecStart=", "#ExecStart=", 1)
    copy.write_text(text)
    out = verify([copy])
    assert out.returncode != 0 or out.stderr.strip(), "systemd-analyze accepted a broken unit"


def test_each_orchestrator_instance_is_the_drillhall_orchestrator_command_named_apart():
    # What that command serves, and with how many threads: tests/cli/test_orchestrator_command.py
    argv = exec_start(ROOT / "deploy/systemd/drillhall-orchestrator@.service")
    assert argv[1:] == ["orchestrator", "--name", "orchestrator-%i"]


def test_the_agent_unit_names_its_host_from_the_enrolment_file():
    argv = exec_start(ROOT / "deploy/systemd/drillhall-agent.service")
    assert argv[1:4] == ["agent", "--host", "${DRILLHALL_AGENT_HOST}"]
