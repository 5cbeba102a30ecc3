"""References between sections (targets, probes), checked on raw playbook data (YAML keys).

Run on the data as loaded so every problem keeps its position; the Playbook model runs the
same checks on itself so one built any other way (API, database) is just as consistent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from drills.playbook.model.values import did_you_mean
from verifier.assertions.syntax import KERNEL_PREFIX, AssertionSyntaxError, Call, parse_assertion

Path = tuple[str | int, ...]
# Fault parameters that name other targets.
PEER_KEYS = ("from", "to")
# The series each kernel collector records, as SLAs name them (kernel.<series>).
KERNEL_SERIES = {
    "tcp_retransmits": ("tcp_retransmits",),
    "tcp_resets": ("tcp_resets_sent", "tcp_resets_received"),
    "tcp_connect": (
        "tcp_connect_attempts",
        "tcp_connects",
        "tcp_connect_failures",
        "tcp_connect_latency_ms",
    ),
    "block_io_latency": ("block_io_latency_ms",),
    "syscall_latency": (
        "read_latency_ms",
        "write_latency_ms",
        "fsync_latency_ms",
        "read_errors",
        "write_errors",
        "fsync_errors",
    ),
    "runqueue_latency": ("runqueue_latency_ms",),
}


@dataclass(frozen=True)
class CrossProblem:
    """A problem between sections (a reference that does not resolve, a step beyond the
    limits); ``offset`` is inside the string at ``path``."""

    path: Path
    message: str
    hint: str | None = None
    offset: int = 0


def cross_check(data: Any) -> list[CrossProblem]:
    return list(_problems(data)) if isinstance(data, dict) else []


def iter_fault_steps(steps: Any, path: Path = ("steps",)) -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every fault step in raw data, nested ones included, with its path."""
    for index, step in enumerate(steps if isinstance(steps, list) else []):
        if not isinstance(step, dict):
            continue
        here = (*path, index)
        if "fault" in step:
            yield here, step
        elif "parallel" in step:
            yield from iter_fault_steps(step["parallel"], (*here, "parallel"))
        elif "repeat" in step and isinstance(step["repeat"], dict):
            yield from iter_fault_steps(step["repeat"].get("steps"), (*here, "repeat", "steps"))


def _problems(data: dict[str, Any]) -> Iterator[CrossProblem]:
    targets = data.get("targets")
    names = [str(name) for name in targets] if isinstance(targets, dict) else None

    def unknown(path: Path, name: Any) -> Iterator[CrossProblem]:
        if names is not None and isinstance(name, str) and name not in names:
            yield CrossProblem(
                path,
                f"unknown target '{name}'; targets: {', '.join(names) or 'none'}",
                did_you_mean(name, names),
            )

    probe_names: list[str] = []
    yield from _duplicates(data.get("probes"), "probes", "probe", probe_names)
    yield from _duplicates(data.get("slas"), "slas", "SLA", [])
    probes = data.get("probes")
    for index, probe in enumerate(probes if isinstance(probes, list) else []):
        if isinstance(probe, dict):
            yield from unknown(("probes", index, "from"), probe.get("from"))
    kernel = data.get("kernel")
    collectors: set[str] = set()
    for index, collector in enumerate(kernel if isinstance(kernel, list) else []):
        if isinstance(collector, dict) and len(collector) == 1:
            ((name, options),) = collector.items()
            collectors.add(str(name))
            if isinstance(options, dict):
                yield from unknown(("kernel", index, name, "on"), options.get("on"))
    for path, step in iter_fault_steps(data.get("steps")):
        target = step.get("target")
        yield from unknown((*path, "target"), target)
        for key in PEER_KEYS:
            peers = step.get(key)
            pairs = (
                [((*path, key), peers)]
                if isinstance(peers, str)
                else [((*path, key, i), p) for i, p in enumerate(peers)]
                if isinstance(peers, list)
                else []
            )
            for where, peer in pairs:
                if not isinstance(peer, str):
                    continue
                if names is not None and peer not in names:
                    yield from unknown(where, peer)
                elif peer == target:
                    verb = "partitioned from" if key == "from" else "slowed down towards"
                    yield CrossProblem(where, f"'{peer}' cannot be {verb} itself")
    slas = data.get("slas")
    for index, sla in enumerate(slas if isinstance(slas, list) else []):
        text = sla.get("assert") if isinstance(sla, dict) else None
        if not isinstance(text, str):
            continue
        try:
            expr = parse_assertion(text)
        except AssertionSyntaxError:
            continue  # reported by the model validation
        for call in expr.calls():
            if call.kernel:
                yield from _kernel_series(call, collectors, ("slas", index, "assert"))
            elif call.probe not in probe_names:
                yield CrossProblem(
                    ("slas", index, "assert"),
                    f"unknown probe '{call.probe}' in assertion; "
                    f"probes: {', '.join(probe_names) or 'none'}",
                    did_you_mean(call.probe, probe_names),
                    call.probe_offset,
                )


def _kernel_series(call: Call, collectors: set[str], path: Path) -> Iterator[CrossProblem]:
    """A kernel series has samples only when the collector that records it is declared."""
    series = call.probe.removeprefix(KERNEL_PREFIX)
    providers = [name for name, names in KERNEL_SERIES.items() if series in names]
    if not providers:
        known = [KERNEL_PREFIX + name for names in KERNEL_SERIES.values() for name in names]
        yield CrossProblem(
            path,
            f"unknown kernel series '{call.probe}'; kernel series: {', '.join(known)}",
            did_you_mean(call.probe, known),
            call.probe_offset,
        )
    elif not collectors.intersection(providers):
        collector = "' or '".join(providers)
        yield CrossProblem(
            path,
            f"'{call.probe}' is recorded by the kernel collector '{collector}', which this "
            f"playbook does not run; add '- {providers[0]}: {{on: TARGET}}' under kernel:",
            None,
            call.probe_offset,
        )


def _duplicates(items: Any, section: str, what: str, names: list[str]) -> Iterator[CrossProblem]:
    """Report repeated names in a list section; fills ``names`` with the names seen."""
    for index, item in enumerate(items if isinstance(items, list) else []):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        if name in names:
            yield CrossProblem((section, index, "name"), f"duplicate {what} name '{name}'")
        else:
            names.append(name)
