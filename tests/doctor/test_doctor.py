"""`drillhall doctor` against the real machine: the test machine must have every capability."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from drills.cli.doctor import (
    Capability,
    all_ok,
    check_alertmanager,
    check_all,
    check_redis,
    render,
)
from ebpf.capabilities import check_ebpf
from tests import conftest
from tests.conftest import have_root, redis_up, require

NAMES = ["root", "netns", "nftables", "fuse", "ebpf", "redis", "redis-acl", "alertmanager"]
DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture(scope="module")
def caps() -> list[Capability]:
    require(have_root(), "doctor is expected all-ok only as root")
    url = conftest.test_redis_url()
    require(redis_up(url), f"needs a Redis server at {url} (make setup starts one)")
    return check_all(url)


def test_every_capability_is_ok_on_the_test_machine(caps: list[Capability]) -> None:
    assert [c.name for c in caps] == NAMES
    assert all_ok(caps), "\n" + render([c for c in caps if not c.ok])


def test_ebpf_check_compiles_and_attaches_a_real_probe() -> None:
    require(have_root(), "eBPF needs root")
    started = time.monotonic()
    cap = check_ebpf()
    assert cap.ok, f"{cap.detail} -> {cap.fix}"
    assert "sched_process_exec" in cap.detail
    assert time.monotonic() - started < 5


def test_render_gives_one_line_per_capability_naming_it(caps: list[Capability]) -> None:
    lines = render(caps).splitlines()
    assert len(lines) == len(caps)
    for line, cap in zip(lines, caps, strict=True):
        assert line.split()[:2] == ["ok", cap.name]
        assert cap.detail in line
    # Aligned: every detail starts in the same column.
    assert len({line.index(cap.detail) for line, cap in zip(lines, caps, strict=True)}) == 1


def test_dead_redis_is_missing_with_a_fix_and_answers_fast() -> None:
    started = time.monotonic()
    cap = check_redis(DEAD_REDIS)
    assert time.monotonic() - started < 2.5  # no retry loop
    assert not cap.ok
    assert cap.name == "redis"
    assert "127.0.0.1:1" in cap.detail
    assert cap.fix


def test_check_all_reports_a_dead_redis_without_hiding_the_rest() -> None:
    caps = check_all(DEAD_REDIS)
    assert [c.name for c in caps] == NAMES
    redis_cap = caps[NAMES.index("redis")]
    assert not redis_cap.ok and redis_cap.fix
    name = "redis".ljust(max(map(len, NAMES)))  # names are aligned
    assert f"MISSING  {name}  {redis_cap.detail} -> fix: {redis_cap.fix}" in render(caps)


def test_redis_password_is_not_shown() -> None:
    cap = check_redis("redis://user:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in cap.detail + cap.fix


def test_doctor_leaves_no_throwaway_namespace(caps: list[Capability]) -> None:
    netns = Path("/run/netns")
    names = os.listdir(netns) if netns.is_dir() else []
    assert [n for n in names if n.startswith("drillhall-doctor-")] == []


def test_render_shows_the_fix_for_what_is_missing() -> None:
    text = render(
        [
            Capability("root", True, "running as root"),
            Capability("ebpf", False, "no kernel headers", "run make setup"),
        ]
    )
    assert text.splitlines() == [
        "ok       root  running as root",
        "MISSING  ebpf  no kernel headers -> fix: run make setup",
    ]


def test_ebpf_off_names_the_proc_fallback_of_each_collector_and_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DRILLHALL_EBPF", "off")
    (line,) = [line for line in render(check_all(DEAD_REDIS)).splitlines() if " ebpf " in line]
    assert line.startswith("MISSING  ebpf")
    assert "eBPF turned off by DRILLHALL_EBPF=off" in line
    assert "on the /proc fallback: tcp_retransmits, tcp_resets, tcp_connect" in line
    assert "unavailable: syscall_latency (no /proc fallback" in line
    assert line.endswith("-> fix: unset DRILLHALL_EBPF (or set it to auto) to use eBPF")


def test_ebpf_line_says_which_collectors_use_ebpf(caps: list[Capability]) -> None:
    (ebpf,) = [c for c in caps if c.name == "ebpf"]
    assert "collectors on eBPF: tcp_retransmits, tcp_resets, tcp_connect" in ebpf.detail


def test_alertmanager_is_optional_and_says_so_when_none_is_configured() -> None:
    cap = check_alertmanager("")
    assert cap.ok
    assert cap.detail == "none configured: drills silence no alerts (DRILLHALL_ALERTMANAGER_URL)"


def test_an_alertmanager_that_answers_is_ok_with_its_version(tmp_path: Path) -> None:
    from tests.alertmanager import running_alertmanager

    with running_alertmanager(tmp_path) as url:
        cap = check_alertmanager(url)
    assert cap.ok and cap.detail.startswith("Alertmanager 0.")
    assert f"at {url}: drills silence their hosts' alerts" in cap.detail


def test_a_configured_alertmanager_that_does_not_answer_is_missing_without_its_password() -> None:
    cap = check_alertmanager("http://drill:s3cret@127.0.0.1:1")
    assert not cap.ok
    assert cap.detail == (
        "Alertmanager at http://127.0.0.1:1 could not be reached to report its status: "
        "connection refused (is it running, on that port?)"
    )
    assert cap.fix == "start it, or correct DRILLHALL_ALERTMANAGER_URL"
