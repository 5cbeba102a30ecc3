"""Reading a run's events in tests: its states, its samples, the first event of a type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drills.engine.events import EventType, MemorySink


def states(sink: MemorySink) -> list[str]:
    return [d["state"] for t, d, _ in sink.events if t is EventType.STATE]


def samples_of(sink: MemorySink) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for kind, data, _ in sink.events:
        if kind is EventType.SAMPLE:
            found.setdefault(data["probe"], []).append(data)
    return found


def first(sink: MemorySink, type: EventType) -> tuple[dict[str, Any], float]:
    """The data and time of the first event of ``type``."""
    return next((d, t) for k, d, t in sink.events if k is type)


def of_type(sink: MemorySink, type: EventType) -> list[dict[str, Any]]:
    return [d for k, d, _ in sink.events if k is type]


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "playbooks" / "engine"


def namespaced_playbook(port: int) -> str:
    """A playbook whose probe samples from host h1's namespace, and the same one from outside."""
    return (FIXTURES / "from-a-host.yaml").read_text().replace("PORT", str(port))


def shop_drill(name: str, rest: str) -> str:
    """A playbook against the fake inventory: app on h1, db on h2, the shop probed every
    100 ms; ``rest`` holds its steps (and SLAs, objectives, ...)."""
    return (
        "apiVersion: drillhall/v1\nkind: Playbook\n"
        f"metadata: {{name: {name}}}\n"
        "targets:\n  app: {host: h1}\n  db: {host: h2}\n"
        "probes:\n"
        "  - name: shop\n"
        '    http: {url: "http://127.0.0.1:9/", timeout: 1s}\n'
        "    every: 100ms\n" + rest
    )
