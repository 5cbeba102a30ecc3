"""The fixture inventory (tests/fixtures/playbooks/inventory.json) as planner HostInfo."""

from __future__ import annotations

import json
from pathlib import Path

from drills.engine.plan import HostInfo, ServiceInfo

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "playbooks"


def fixture_inventory() -> dict[str, HostInfo]:
    raw = json.loads((FIXTURES / "inventory.json").read_text())
    return {
        name: HostInfo(
            name,
            host["address"],
            f"agent.{name}",
            protected=host.get("protected", False),
            labels=host.get("labels", {}),
            services=tuple(ServiceInfo(*service) for service in host.get("services", [])),
        )
        for name, host in raw.items()
    }
