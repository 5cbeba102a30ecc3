"""The lab against the real kernel: namespaces, a bridge, Redis and the demo app.

The lab uses fixed names (dh-br0, dh-web, dh-db1, 10.77.0.0/24), so these tests build ONE lab
for the whole module (module-scoped fixture) and refuse to run while another lab - a demo
started with `drillhall lab up` - is up on this machine: they would tear it down. Run
`drillhall lab down` first. The tests run in file order: the last one tears the lab down.
All traffic goes to the namespaces the fixture created.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from drills.lab import procs
from drills.lab.lab import LabError, LabStatus, lab_down, lab_leftovers, lab_status, lab_up
from drills.lab.topology import DEFAULT_TOPOLOGY, LabHost, ServiceSpec, Topology
from tests.conftest import have_root, require, run

CHECKOUT = "http://10.77.0.2:8080/checkout"


def get(url: str, timeout: float = 2.0) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (lab address)
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def dh_namespaces() -> set[str]:
    netns = Path("/run/netns")
    return {ns for ns in os.listdir(netns) if ns.startswith("dh-")} if netns.is_dir() else set()


def dh_links() -> set[str]:
    return {name for name in os.listdir("/sys/class/net") if name.startswith("dh-")}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, LabStatus]]:
    require(have_root(), "the lab needs root (network namespaces)")
    require(shutil.which("ip") is not None, "needs iproute2")
    require(shutil.which("redis-server") is not None, "needs redis-server (make setup)")
    require(
        not lab_leftovers(),
        f"a Drillhall lab is already up here ({', '.join(lab_leftovers())}); the lab tests "
        "use the same fixed names: run `drillhall lab down` first",
    )
    state_dir = tmp_path_factory.mktemp("lab-state")
    try:
        status = lab_up(state_dir)
        yield state_dir, status
    finally:
        lab_down(state_dir)


def test_checkout_from_root_namespace_writes_increasing_orders(lab: tuple[Path, LabStatus]) -> None:
    first = get(CHECKOUT)
    second = get(CHECKOUT)
    assert first[0] == 200 and second[0] == 200, (first, second)
    assert int(second[1]["order"]) > int(first[1]["order"])  # type: ignore[call-overload]


def test_status_reports_both_hosts_and_their_services_up(lab: tuple[Path, LabStatus]) -> None:
    state_dir, _ = lab
    status = lab_status(state_dir)
    assert status.up, json.dumps(status.to_dict(), indent=1)
    assert [h.name for h in status.hosts] == ["web", "db1"]
    assert status.host("db1").address == "10.77.0.3"
    assert [s.name for s in status.host("db1").services] == ["redis"]
    assert all(procs.alive(pid) for pid in status.pids()) and len(status.pids()) == 2
    as_dict = json.loads(json.dumps(status.to_dict()))
    assert as_dict["up"] is True
    assert as_dict["hosts"][1]["services"][0]["up"] is True


def test_cutting_the_db_link_turns_checkout_into_quick_503s(lab: tuple[Path, LabStatus]) -> None:
    state_dir, _ = lab
    assert get(CHECKOUT)[0] == 200
    run(["ip", "link", "set", "dh-db1-h", "down"])
    try:
        for _ in range(2):  # the pooled connection times out, then a new connect does
            started = time.monotonic()
            code, body = get(CHECKOUT)
            elapsed = time.monotonic() - started
            assert code == 503, body
            assert "error" in body
            assert elapsed < 1.0, f"503 took {elapsed:.2f} s"
        db1 = lab_status(state_dir).host("db1")
        assert not db1.up and not db1.link_up
        assert db1.services[0].running and not db1.services[0].answering
    finally:
        run(["ip", "link", "set", "dh-db1-h", "up"])
    deadline = time.monotonic() + 5
    while get(CHECKOUT)[0] != 200:
        assert time.monotonic() < deadline, "checkout did not recover after the link came back"
        time.sleep(0.1)


def test_lab_up_again_rebuilds_a_working_lab(lab: tuple[Path, LabStatus]) -> None:
    state_dir, first = lab
    old_pids = lab_status(state_dir).pids()
    status = lab_up(state_dir)
    assert status.up
    assert not set(status.pids()) & set(old_pids)
    assert not any(procs.alive(pid) for pid in old_pids)
    assert get(CHECKOUT)[0] == 200


def test_lab_down_removes_every_namespace_link_and_process(lab: tuple[Path, LabStatus]) -> None:
    state_dir, _ = lab
    pids = lab_status(state_dir).pids()
    assert len(pids) == 2
    removed = lab_down(state_dir)
    assert "netns dh-web" in removed and "link dh-br0" in removed
    assert lab_leftovers() == []
    assert not dh_namespaces() & set(DEFAULT_TOPOLOGY.namespaces)
    assert not dh_links() & set(DEFAULT_TOPOLOGY.links)
    assert not any(procs.alive(pid) for pid in pids)
    assert not lab_status(state_dir).up
    assert lab_down(state_dir) == []


def test_a_service_that_cannot_start_fails_with_its_log_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    require(have_root(), "the lab needs root (network namespaces)")
    require(shutil.which("redis-server") is not None, "needs redis-server (make setup)")
    # Its own names, so it cannot clash with the default lab.
    broken = Topology(
        bridge="dh-tbr0",
        bridge_address="10.77.9.1",
        prefixlen=24,
        hosts=(
            LabHost(
                name="tbad",
                netns="dh-tbad",
                address="10.77.9.2",
                services=(ServiceSpec(name="redis", kind="redis", port=99999),),
            ),
        ),
    )
    with pytest.raises(LabError, match="redis in dh-tbad exited") as err:
        lab_up(tmp_path, broken)
    assert "port" in str(err.value).lower()  # the log tail says what Redis disliked
    assert lab_leftovers(broken) == []


def test_lab_refuses_to_run_without_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(LabError, match="needs root"):
        lab_up(tmp_path)
    with pytest.raises(LabError, match="needs root"):
        lab_down(tmp_path)


def test_host_names_too_long_for_an_interface_are_rejected() -> None:
    with pytest.raises(ValueError, match="too long"):
        LabHost(name="averylonghostname", netns="dh-x", address="10.77.0.9")
