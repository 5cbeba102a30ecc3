"""`drillhall lab up|down|status`: the lab core plus registration in the inventory."""

from __future__ import annotations

import json

from django.conf import settings

from drills.lab.lab import lab_down, lab_status, lab_up
from drills.lab.topology import DEFAULT_TOPOLOGY, LabHost
from drills.web.audit import SYSTEM, AuditAction, record_as
from drills.web.hosts import ServiceSpec, host_state, register_host
from drills.web.models import Host

# What the lab's services speak, for the inventory (ServiceSpec.kind names a launcher).
SERVICE_KINDS = {
    "demoapp": "http",
    "redis": "redis",
    "sentinel": "redis-sentinel",
    "files": "http",
    "dns": "dns",
}
# Role labels let playbooks select lab hosts by label (role=web, role=db, role=dns).
ROLES = {"demoapp": "web", "redis": "db", "dns": "dns"}


def lab_labels(host: LabHost) -> dict[str, str]:
    labels = {"lab": "true"}
    roles = sorted({ROLES[s.kind] for s in host.services if s.kind in ROLES})
    if roles:
        labels["role"] = ",".join(roles)
    return labels


def lab_services(host: LabHost) -> list[ServiceSpec]:
    # The inventory lists what listens on a port; the supervised worker listens on nothing.
    return [
        ServiceSpec(s.name, s.port, SERVICE_KINDS.get(s.kind, s.kind))
        for s in host.services
        if s.port
    ]


def lab_dir():  # type: ignore[no-untyped-def]
    return settings.STATE_DIR / "lab"


def lab_hosts() -> dict[str, str]:
    """Lab host name -> network namespace."""
    return {h.name: h.netns for h in DEFAULT_TOPOLOGY.hosts}


def is_up() -> bool:
    return lab_status(lab_dir()).up


def is_present() -> bool:
    """The lab's network is there, even if a service is down for a moment (a drill may have
    just killed it): such a lab is used as it is, never rebuilt under a running drill."""
    status = lab_status(lab_dir())
    return status.bridge_up and all(h.netns_exists for h in status.hosts)


def register(status) -> None:  # type: ignore[no-untyped-def]
    """Put the lab's hosts in this database's inventory (idempotent)."""
    for host in status.hosts:
        spec = DEFAULT_TOPOLOGY.host(host.name)
        register_host(
            host.name,
            host.address,
            host.netns,
            lab=True,
            labels=lab_labels(spec),
            services=lab_services(spec),
        )


def register_present() -> None:
    register(lab_status(lab_dir()))


def up(say) -> None:  # type: ignore[no-untyped-def]
    status = lab_up(lab_dir())
    register(status)
    for host in status.hosts:
        services = (
            ", ".join(f"{s.name}:{s.port}" if s.port else s.name for s in host.services)
            or "no services"
        )
        say(f"lab: host {host.name} at {host.address} (netns {host.netns}; {services})")
    say(f"lab: up; hosts registered in the inventory; state in {lab_dir()}")


def down(say) -> None:  # type: ignore[no-untyped-def]
    removed = lab_down(lab_dir())
    for host in Host.objects.filter(lab=True):
        state = host_state(host.name)
        host.delete()
        record_as(
            AuditAction.INVENTORY_CHANGE,
            SYSTEM,
            object_type="host",
            object_id=host.name,
            summary=f"removed lab host {host.name} (lab down)",
            content=state,
        )
    say(f"lab: down ({len(removed)} things removed)" if removed else "lab: nothing to remove")


def status(say) -> None:  # type: ignore[no-untyped-def]
    say(json.dumps(lab_status(lab_dir()).to_dict(), indent=2))
