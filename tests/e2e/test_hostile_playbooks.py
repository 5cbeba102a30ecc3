"""Hostile playbooks through the real path: `drillhall validate`, then `drillhall run` on the lab.

Every string of a valid playbook that has every fault and probe kind (tests/fixtures/hostile/
base.yaml) is filled, one at a time, with each hostile string (tests/fixtures/hostile/
strings.json): shell metacharacters, options, path traversal, other URL schemes, scoped IPv6,
control characters, very long text. Each variant is refused by `drillhall validate` with a
file:line:column sentence, or it runs on the lab, and then harmlessly: while the drills run, an
eBPF witness of every exec on the machine (ebpf.process_exec) sees no program outside what
Drillhall legitimately starts (tests/fixtures/hostile/expected_execs.json, taken from a clean
run of the base), no file a payload names is written, and no secret or environment text is in
the stored runs.

Accepted variants are run in RUNS drills, each carrying one accepted payload in every place
that took it; a place that took more payloads than there are drills gets the rest joined to
that drill's one by a space (validated again as a whole before it runs), so the test stays at
a few minutes whatever the number of payloads.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from drills.lab.lab import lab_status
from ebpf.collector import CollectorUnavailable
from ebpf.process_exec import ExecEvent
from tests.conftest import have_root, require
from tests.e2e import hostile
from tests.e2e.hostile_runs import Drill, ExecWitness, Operator, Victims, drill
from tests.e2e.stack import ROOT, Stack, nft_tables, proxy_processes

RUNS = 6
MAX_RUNS = 30
VALIDATE_CHUNK = 1600  # files per `drillhall validate` process; two processes at a time
# Where a payload names a file (tests/fixtures/hostile/strings.json): none may appear.
WRITTEN_BY_PAYLOADS = ("/tmp/drillhall-hostile-*", "/etc/cron.d/drillhall-hostile*")
# Files a payload names that exist: they must not change.
UNCHANGED = (Path("/root/.ssh/authorized_keys"), Path("/etc/shadow"), Path("/etc/passwd"))


# -- validate --
@dataclass(frozen=True)
class Verdict:
    accepted: bool
    issues: tuple[str, ...]  # the lines validate printed for the file


def validate(files: list[Path], env: dict[str, str]) -> tuple[dict[Path, Verdict], list[int]]:
    """Every file's verdict from the real `drillhall validate`, and each process's exit code."""
    chunks = [files[i : i + VALIDATE_CHUNK] for i in range(0, len(files), VALIDATE_CHUNK)]

    def one(chunk: list[Path]) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "drills.cli.main", "validate", *map(str, chunk)]
        return subprocess.run(  # noqa: S603 (fixed argv, no shell)
            argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(one, chunks))
    verdicts: dict[Path, Verdict] = {}
    for chunk, result in zip(chunks, results, strict=True):
        assert "Traceback" not in result.stderr, result.stderr[-3000:]
        ok = {line.split(": ok (")[0] for line in result.stdout.splitlines()}
        issues: dict[str, list[str]] = {}
        for line in result.stderr.splitlines():
            found = hostile.ISSUE.match(line)
            assert found, f"validate printed a line that is not file:line:column: {line!r}"
            issues.setdefault(found["file"], []).append(line)
        for path in chunk:
            mine = tuple(issues.get(str(path), ()))
            assert (str(path) in ok) != bool(mine), f"{path}: both or neither ok and issues"
            verdicts[path] = Verdict(str(path) in ok, mine)
    return verdicts, [result.returncode for result in results]


def printable_output(text: str) -> list[str]:
    """Characters of text that would act on a terminal (every control character but \\n)."""
    return sorted({repr(c) for c in text if (ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0})


# -- the lab side --
@pytest.fixture(scope="module")
def witness() -> Iterator[ExecWitness]:
    require(have_root(), "needs root (eBPF)")
    w = ExecWitness()
    try:
        w.start()
    except CollectorUnavailable as exc:
        require(False, f"process_exec unavailable: {exc}")
    yield w
    w.stop()


@pytest.fixture(scope="module")
def victims(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Victims]:
    v = Victims("dh-web", tmp_path_factory.mktemp("victims"))
    v.start()
    yield v
    v.stop()


def placeholders(stack: Stack, victims: Victims, tmp: Path) -> dict[str, str]:
    slow = stack.state_dir / "lab" / "data" / "files"
    broken = tmp / "broken"
    broken.mkdir(exist_ok=True)
    return {"SLOW_DIR": str(slow), "BROKEN_DIR": str(broken), "VICTIM_NAME": victims.kill_name,
            "VICTIM_PIDFILE": str(victims.pidfile), "VICTIM_CGROUP": victims.cgroup}  # fmt: skip


def expected_programs() -> dict[str, str]:
    """Program -> why Drillhall starts it, with {python} as the interpreter it runs on."""
    entries = json.loads(hostile.EXPECTED_EXECS.read_text())["programs"]
    return {e["program"].replace("{python}", sys.executable): e["why"] for e in entries}


def roots(stack: Stack) -> set[int]:
    """This test's process (the stack, the CLI runs) and the lab's services (daemons of init)."""
    return {os.getpid(), *lab_status(stack.state_dir / "lab").pids()}


def fingerprint(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return "absent"


def secrets(stack: Stack) -> list[str]:
    """Text that must never be in a stored run: keys and URLs of the servers' environment."""
    from django.conf import settings

    found = [settings.SECRET_KEY, f"DJANGO_SETTINGS_MODULE={stack.env['DJANGO_SETTINGS_MODULE']}"]
    for key in ("SECRET_KEY", "REDIS_URL", "DATABASE_URL"):
        if stack.env.get(key):
            found += [stack.env[key], f"{key}="]
    found += [f"PATH={stack.env['PATH']}", f"DRILLHALL_STATE_DIR={stack.state_dir}"]
    return [text for text in found if text]


@dataclass
class Observed:
    drill: Drill
    execs: list[ExecEvent]


def run_watched(
    stack: Stack, witness: ExecWitness, victims: Victims, operator: Operator, playbook: Path
) -> Observed:
    victims.ready_to_kill()  # started before the window: its exec is not the drill's
    time.sleep(0.3)
    result = drill(stack, playbook, operator)
    time.sleep(0.5)  # the last reverts' commands have been read from the ring buffer
    return Observed(result, witness.between(result.started, time.monotonic(), roots(stack)))


def unexpected(execs: list[ExecEvent], expected: dict[str, str]) -> list[str]:
    return [e.describe() for e in execs if e.filename not in expected]


def assert_ran_harmlessly(
    observed: Observed, expected: dict[str, str], stack: Stack, planned: bool = True
) -> None:
    result = observed.drill
    assert not printable_output(result.output), printable_output(result.output)
    strange = unexpected(observed.execs, expected)
    assert not strange, "programs outside the expected set:\n" + "\n".join(strange)
    orchestrator = stack.procs["orchestrator"].pid
    probes = [e.describe() for e in observed.execs if e.descends_from({orchestrator})]
    assert not probes, "the orchestrator (probes, engine) started programs:\n" + "\n".join(probes)
    if not planned:
        # A selector or host the inventory does not have: refused before anything starts.
        assert result.returncode == 3 and "the plan was refused" in result.output, result.output
        return
    assert result.returncode in (0, 1, 3), result.output[-3000:]
    assert result.document, f"no run document:\n{result.output[-3000:]}"
    events = result.document.get("events", [])
    applied = {e["data"]["fault_id"] for e in events if e["type"] == "fault_applied"}
    # An unconfirmed revert is left to the agent's janitor; the end of the test checks that
    # nothing stayed behind.
    reverted = {
        e["data"]["fault_id"]
        for e in events
        if e["type"] in ("fault_reverted", "fault_unconfirmed")
    }
    instant = {e["data"]["fault_id"] for e in events if e["type"] == "fault_applied"
               and e["data"]["kind"] == "process.kill"}  # fmt: skip
    assert applied - instant <= reverted, f"faults left applied: {applied - instant - reverted}"


def run_batch(
    stack: Stack,
    witness: ExecWitness,
    victims: Victims,
    operator: Operator,
    base: dict[str, Any],
    batch: list[hostile.Variant],
    tmp: Path,
    number: int,
) -> Observed:
    path = tmp / f"run{number}.yaml"
    path.write_text(hostile.dump(hostile.combined(base, batch)))
    observed = run_watched(stack, witness, victims, operator, path)
    assert observed.drill.returncode != 2, f"validate refused {path.name} as a whole"
    result = observed.drill.document.get("result", {})
    print(f"{path.name}: {len(batch)} values, {result.get('state', 'not started')} in "
          f"{observed.drill.ended - observed.drill.started:.1f} s, {len(observed.execs)} execs; "
          f"{(result.get('reason') or '')[:160]}")  # fmt: skip
    return observed


def leftovers() -> list[str]:
    """What a fault could leave on the lab: nft tables, proxies, FUSE mounts."""
    found = [f"{netns}: {table}" for netns in ("dh-web", "dh-db1", "dh-db2")
             for table in nft_tables(netns)]  # fmt: skip
    found += [f"proxy process {pid}" for pid in proxy_processes()]
    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    return found + [line for line in mounts if " drillhall-r" in line]


def eventually(check: Any, seconds: float = 15.0) -> Any:
    """check()'s first falsy result within seconds (a janitor's lease is a few seconds), or
    its last one."""
    deadline = time.monotonic() + seconds
    while (result := check()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return result


def applied_steps(result: Drill) -> set[str]:
    """Paths of the fault steps an agent was asked to apply: applied, or the one that failed."""
    events = result.document.get("events", [])
    tried = {str(e["data"]["path"]) for e in events if e["type"] == "fault_applied"}
    for event in events:
        message = str(event["data"].get("message") or event["data"].get("reason") or "")
        found = re.match(r"step ([0-9.\[\]]+) ", message)
        if found and "could not be applied" in message:
            tried.add(found.group(1))
    return tried


# -- the test --
def test_the_base_playbook_fills_every_string_field_of_the_model() -> None:
    paths = {"SLOW_DIR": "/srv/slow", "BROKEN_DIR": "/srv/broken", "VICTIM_NAME": "victim",
             "VICTIM_PIDFILE": "/run/victim.pid", "VICTIM_CGROUP": "victims"}  # fmt: skip
    data = hostile.load(hostile.base_text(paths))
    missing = hostile.string_fields() - hostile.walk(data).covered
    assert not missing, (
        "the model has string fields the base playbook (tests/fixtures/hostile/base.yaml) does "
        f"not set, so no hostile string would reach them: {', '.join(sorted(missing))}"
    )


@pytest.mark.timeout(600)
def test_every_hostile_string_is_refused_by_validate_or_runs_harmlessly(
    stack: Stack,
    witness: ExecWitness,
    victims: Victims,
    e2e_password: str,
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    base = hostile.load(hostile.base_text(placeholders(stack, victims, tmp_path)))
    found = hostile.walk(base)
    strings = hostile.payloads()
    variants = list(hostile.variants(found, strings))
    files = {}
    for number, variant in enumerate(variants):
        path = tmp_path / "variants" / f"v{number:05d}.yaml"
        path.parent.mkdir(exist_ok=True)
        path.write_text(hostile.dump(variant.apply(base)))
        files[path] = variant

    # 1. validate: each variant is refused at a position, or accepted.
    verdicts, codes = validate(list(files), stack.env)
    assert codes and all(code == 2 for code in codes), codes  # every chunk holds a refusal
    for path, verdict in verdicts.items():
        assert verdict.accepted or verdict.issues
        for line in verdict.issues:
            assert not printable_output(line), (files[path].where, line)
    accepted = [files[path] for path, verdict in verdicts.items() if verdict.accepted]
    again, codes = validate([p for p, v in verdicts.items() if v.accepted], stack.env)
    assert all(v.accepted for v in again.values()) and set(codes) <= {0}
    print(f"\n{len(variants)} variants of {len(found.leaves)} strings and {len(found.keys)} "
          f"keys x {len(strings)} payloads: {len(accepted)} accepted by validate "
          f"({time.monotonic() - started:.0f} s)")  # fmt: skip

    # 2. runs: a clean drill first (what Drillhall starts), then the accepted variants.
    expected = expected_programs()
    before = {path: fingerprint(path) for path in UNCHANGED}
    operator = Operator(stack, "owner", e2e_password)
    clean_file = tmp_path / "clean.yaml"
    clean_file.write_text(hostile.dump(base))
    clean = run_watched(stack, witness, victims, operator, clean_file)
    assert_ran_harmlessly(clean, expected, stack)
    never = sorted(set(expected) - {e.filename for e in clean.execs})
    assert not never, f"expected_execs.json lists programs a clean drill never starts: {never}"
    documents = [clean.drill.document]
    outputs = [clean.drill.output]
    inventory = hostile.lab_inventory()
    planned = [v for v in accepted if hostile.plans(v.apply(base), inventory)]
    unplanned = [v for v in accepted if v not in planned]  # nothing starts: two short runs
    at_fault = {v: step for v in planned if (step := hostile.fault_step(base, v.path))}
    pending: dict[str, list[hostile.Variant]] = {}
    for variant, step in at_fault.items():
        pending.setdefault(step, []).append(variant)
    others = hostile.spread(base, [v for v in planned if v not in at_fault], RUNS)
    drills = [(batch, False) for batch in hostile.spread(base, unplanned, 2)]
    number = 0
    while number < len(others) or any(pending.values()):
        # One pending value per fault parameter, each until its fault was tried on an agent.
        assert number < MAX_RUNS, f"still not tried after {MAX_RUNS} drills: {pending}"
        batch = (others[number] if number < len(others) else []) + [
            variants[0] for variants in pending.values() if variants
        ]
        observed = run_batch(stack, witness, victims, operator, base, batch, tmp_path, number)
        assert_ran_harmlessly(observed, expected, stack)
        documents.append(observed.drill.document)
        outputs.append(observed.drill.output)
        tried = applied_steps(observed.drill)
        for step, variants in pending.items():
            if variants and variants[0] in batch and step in tried:
                variants.pop(0)
        progress = tried & {at_fault[v] for v in batch if v in at_fault}
        assert progress or not any(pending.values()), (
            f"drill {number} tried none of the fault values it carried: "
            f"{observed.drill.document.get('result', {}).get('reason')}"
        )
        number += 1
    for batch, _ in drills:
        observed = run_batch(stack, witness, victims, operator, base, batch, tmp_path, number)
        assert_ran_harmlessly(observed, expected, stack, planned=False)
        outputs.append(observed.drill.output)
        number += 1
    assert witness.lost == 0, "the exec witness lost events: it cannot vouch for the drills"

    # 3. nothing was written where a payload points, nothing left behind, no secret stored.
    leaked = [str(p) for pattern in WRITTEN_BY_PAYLOADS for p in Path("/").glob(pattern[1:])]
    assert not leaked, f"files a payload names were written: {leaked}"
    assert {path: fingerprint(path) for path in UNCHANGED} == before
    named = [
        path
        for top in (stack.tmp, ROOT / "var")
        for path in top.rglob("*")
        if re.search(r"drillhall-hostile|pwn|\$\(|`", path.name)
    ]
    assert not named, f"files named by payloads: {named}"
    stored = json.dumps(documents) + "\n".join(outputs)
    for secret in secrets(stack):
        assert secret not in stored, f"a stored run holds environment text: {secret[:30]}..."
    assert eventually(leftovers) == [], "left behind after the drills"
    print(f"{number + 1} drills with the exec witness; {time.monotonic() - started:.0f} s")
