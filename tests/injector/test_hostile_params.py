"""An agent refuses hostile fault parameters itself, and takes whatever validate accepted.

Specs are built directly, as a forged broker message or a buggy orchestrator could send them.
The agreement test walks every string an example step of each fault kind has
(tests/fault_examples.py), fills it with each hostile string (tests/fixtures/hostile/
strings.json) and asks both sides: a step the playbook model accepts must not be refused by
the agent, or `validate` said yes to a drill that can never run.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from drills.engine.plan import resolve_plan
from drills.playbook.errors import PlaybookError
from drills.playbook.parser import parse_playbook
from injector import children, processes
from injector.faults.dns import DnsFault
from injector.faults.fault import FaultError, build_fault
from injector.faults.io import IoDelayFault
from injector.processes import Match
from injector.protocol import FaultSpec
from tests.e2e.hostile import payloads
from tests.fault_examples import EXAMPLES, HEAD
from tests.playbook.inventory import fixture_inventory


@pytest.fixture(autouse=True)
def agent_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path / "agent"))
    return tmp_path / "agent"


def spec(kind: str, **params: Any) -> FaultSpec:
    return FaultSpec("5e", 1, 1, kind, {"host": "a", **params}, 30)


def refused(kind: str, **params: Any) -> FaultError:
    with pytest.raises(FaultError) as caught:
        build_fault(spec(kind, **params), "dht-never-created")
    assert caught.value.permanent
    return caught.value


@pytest.mark.parametrize("pattern", ["-e", "--ready", "-", "a" * 254, "a b", "*.lab\n"])
def test_a_dns_pattern_that_is_not_a_name_glob_is_refused(pattern: str) -> None:
    refused("network.dns", pattern=pattern, answer="servfail")


def test_the_dns_stub_gets_its_pattern_glued_to_the_option() -> None:
    # Even a pattern starting with '-' could then not be read as an option of its own.
    fault = DnsFault(spec("network.dns", pattern="*.lab", answer="nxdomain"), "dht-x")
    assert "--pattern=*.lab" in fault.stub_argv()


@pytest.mark.parametrize("path", ["/a\x00b", "/a\x1b[2Jb", "/a\tb", "/" + "a" * 1024, "a"])
def test_an_http_error_path_that_is_not_a_request_path_is_refused(path: str) -> None:
    refused("http.error", port=8080, path=path)


@pytest.mark.parametrize("path", ["/proc", "/proc/1/root", "/sys/fs/cgroup", "/dev", "/dev/shm"])
def test_an_io_fault_never_mounts_over_the_kernels_file_systems(path: str) -> None:
    refused("io.delay", path=path, delay=0.01)


def test_an_io_fault_never_mounts_over_the_agents_own_state(
    agent_state: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spawned: list[list[str]] = []
    monkeypatch.setattr(children, "spawn", lambda workdir, name, argv, **_: spawned.append(argv))
    for path in (agent_state, agent_state.parent, agent_state / "artifacts"):
        path.mkdir(parents=True, exist_ok=True)
        fault = IoDelayFault(spec("io.delay", path=str(path), delay=0.01), None)
        with pytest.raises(FaultError, match="state") as caught:
            fault.apply()
        assert caught.value.permanent
    assert spawned == []


@pytest.mark.parametrize("pidfile", ["/dev/zero", "/proc/self/environ", "/sys/kernel/notes"])
def test_a_pid_file_in_the_kernels_file_systems_is_refused(pidfile: str) -> None:
    with pytest.raises(ValueError, match="kernel"):
        Match.parse({"pidfile": pidfile})


def within(seconds: float, call: Any) -> Any:
    """call()'s result, failing (not hanging) when it takes longer than seconds."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"took longer than {seconds:g}s"
    return result[0]


def test_a_pid_file_that_is_a_fifo_or_huge_is_read_without_blocking_or_filling_memory(
    tmp_path: Path,
) -> None:
    fifo = tmp_path / "pid.fifo"
    os.mkfifo(fifo)  # nobody writes: a plain open() would wait for a writer forever
    assert within(2, lambda: processes.find(Match(pidfile=str(fifo)))) == []
    huge = tmp_path / "huge.pid"
    huge.write_text("1" * 10_000_000)  # not a pid: only its first bytes are read
    assert within(2, lambda: processes.find(Match(pidfile=str(huge)))) == []


# -- the model and the agent agree --
def strings(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from strings(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from strings(value, (*path, index))
    elif isinstance(node, str) and path not in {("fault",), ("target",)}:
        yield path


def replaced(node: Any, path: tuple[Any, ...], text: str) -> Any:
    if not path:
        return text
    copy = dict(node) if isinstance(node, dict) else list(node)
    copy[path[0]] = replaced(node[path[0]], path[1:], text)
    return copy


def agent_verdicts(kind: str) -> Iterator[tuple[str, str, str | None]]:
    """(where, payload, the agent's refusal or None) for each hostile step the model takes."""
    step = yaml.safe_load(EXAMPLES[kind].step)
    for path in strings(step):
        for payload in payloads():
            variant = replaced(step, path, payload.text)
            try:
                playbook = parse_playbook(HEAD + "  - " + json.dumps(variant) + "\n", "x.yaml")
            except PlaybookError:
                continue  # validate refuses it: nothing reaches an agent
            for planned in resolve_plan(playbook, fixture_inventory()).steps:
                for fault in planned.faults:
                    try:
                        build_fault(
                            FaultSpec("5e", 1, 1, kind, dict(fault.params), 30), "dht-never"
                        )
                        verdict = None
                    except FaultError as exc:
                        verdict = str(exc)[:200]
                    yield ".".join(map(str, path)), payload.name, verdict


@pytest.mark.parametrize("kind", sorted(EXAMPLES))
def test_what_validate_accepts_the_agent_takes(kind: str) -> None:
    disagreements = [
        f"{where} = {name}: {verdict}"
        for where, name, verdict in agent_verdicts(kind)
        if verdict is not None
    ]
    assert not disagreements, "\n".join(disagreements)


@pytest.mark.parametrize("cgroup", ["a" * 1000, "x/" + "b" * 300, "-e"])
def test_a_cgroup_no_kernel_has_matches_nothing_rather_than_failing(cgroup: str) -> None:
    # "File name too long" from the path lookup escaped as an OSError with the whole name.
    assert processes.find(Match.parse({"cgroup": cgroup})) == []
