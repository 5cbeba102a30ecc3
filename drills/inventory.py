"""Inventory snapshots for the planner, and registration of hosts."""

from __future__ import annotations

from drills.engine.plan import HostInfo
from drills.models import Host


def inventory_snapshot() -> dict[str, HostInfo]:
    return {
        h.name: HostInfo(h.name, h.address, h.agent_queue, h.netns, h.protected)
        for h in Host.objects.all()
    }


def register_host(name: str, address: str, netns: str = "", lab: bool = False) -> Host:
    host, _ = Host.objects.update_or_create(
        name=name,
        defaults={"address": address, "agent_queue": f"agent.{name}", "netns": netns, "lab": lab},
    )
    return host
