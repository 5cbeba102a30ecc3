"""On CI a test cannot skip: `require` fails it, and a skip from anywhere else becomes a failure.

Runs pytest on two tiny tests with this suite's conftest, once as on CI (.ci/run sets
DRILLHALL_REQUIRE_ALL=1) and once as on a laptop.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

SKIPPING = """
import pytest
from conftest import require

def test_needs_a_capability_that_is_missing():
    require(False, "needs something this machine lacks")

def test_skips_by_itself():
    pytest.skip("a plain skip, not through require")
"""


def run_suite(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "DRILLHALL_REQUIRE_ALL")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django",
         str(tmp_path)],
        cwd=tmp_path, env={**clean, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_on_ci_a_missing_capability_and_a_plain_skip_both_fail(tmp_path: Path) -> None:
    out = run_suite(tmp_path, DRILLHALL_REQUIRE_ALL="1")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "2 failed" in out.stdout and "skipped" not in out.stdout.splitlines()[-1]
    assert "required capability missing on CI: needs something this machine lacks" in out.stdout
    assert "skipped on CI, which must run every test" in out.stdout


def test_ci_true_counts_as_ci_too(tmp_path: Path) -> None:
    out = run_suite(tmp_path, CI="true")
    assert out.returncode == 1 and "2 failed" in out.stdout, out.stdout + out.stderr


def test_off_ci_the_same_tests_skip(tmp_path: Path) -> None:
    out = run_suite(tmp_path)
    assert out.returncode == 0 and "2 skipped" in out.stdout, out.stdout + out.stderr
