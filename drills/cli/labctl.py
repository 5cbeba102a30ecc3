"""`drillhall lab up|down|status`: the lab core, registration in the inventory, and the way
from the lab's agents to Redis (their Redis users, Redis listening on the bridge)."""

from __future__ import annotations

import json

import redis
from django.conf import settings

from drills.lab import broker
from drills.lab.lab import lab_down, lab_status, lab_up
from drills.lab.lab_error import LabError
from drills.lab.topology import DEFAULT_TOPOLOGY, LabHost
from drills.web.audit import SYSTEM, AuditAction, record_as
from drills.web.hosts import ServiceSpec, host_state, register_host
from drills.web.models import Host
from injector.credentials import (
    ADMIN_USER,
    admin_redis_url,
    password_file,
    redacted,
    without_credentials,
)
from injector.redis_acl import ensure_agent

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


def redis_url() -> str:
    """REDIS_URL without the user settings filled in (the lab uses admin's)."""
    return without_credentials(settings.REDIS_URL)


def admin_client() -> redis.Redis:
    directory = settings.DRILLHALL_CREDENTIALS_DIR
    if not password_file(directory, ADMIN_USER).is_file():
        raise LabError(
            "the lab's agents reach Redis through the bridge as Redis users of their own, which "
            f"only the Redis user {ADMIN_USER!r} can make; its password is not in {directory} "
            "(make setup writes it)"
        )
    return redis.Redis.from_url(
        admin_redis_url(redis_url(), directory), socket_timeout=5, socket_connect_timeout=5
    )


def connect_broker(say) -> None:  # type: ignore[no-untyped-def]
    """Redis users for the lab's hosts' agents, and Redis listening on the bridge."""
    address = DEFAULT_TOPOLOGY.bridge_address
    broker.lab_broker_url(redis_url(), address)  # refuses a broker the lab cannot reach
    client = admin_client()
    try:
        for host in DEFAULT_TOPOLOGY.hosts:
            ensure_agent(client, settings.DRILLHALL_CREDENTIALS_DIR, host.name)
        added = broker.listen_on(client, address)
    except redis.RedisError as exc:
        raise LabError(
            f"Redis at {redacted(redis_url())} did not let the lab in as {ADMIN_USER}: {exc}"
        ) from None
    finally:
        client.close()
    names = ", ".join(h.name for h in DEFAULT_TOPOLOGY.hosts)
    say(f"lab: agents of {names} reach Redis at {address} as their own Redis users"
        + ("" if added else " (Redis listened there already)"))  # fmt: skip


def disconnect_broker(say) -> None:  # type: ignore[no-untyped-def]
    """Redis stops listening on the bridge (its agents' users stay, as enrolled hosts do)."""
    address = DEFAULT_TOPOLOGY.bridge_address
    try:
        client = admin_client()
        try:
            removed = broker.stop_listening_on(client, address)
        finally:
            client.close()
    except (LabError, redis.RedisError) as exc:
        say(f"lab: Redis may still listen on {address}: {exc}")
        return
    if removed:
        say(f"lab: Redis no longer listens on {address}")


def up(say) -> None:  # type: ignore[no-untyped-def]
    status = lab_up(lab_dir())
    try:
        connect_broker(say)
    except BaseException:
        lab_down(lab_dir())
        raise
    register(status)
    for host in status.hosts:
        services = (
            ", ".join(f"{s.name}:{s.port}" if s.port else s.name for s in host.services)
            or "no services"
        )
        say(f"lab: host {host.name} at {host.address} (netns {host.netns}; {services})")
    say(f"lab: up; hosts registered in the inventory; state in {lab_dir()}")


def down(say) -> None:  # type: ignore[no-untyped-def]
    # First: with the bridge gone, Redis would keep an address it can no longer listen on.
    disconnect_broker(say)
    removed = lab_down(lab_dir())
    forget_lab_hosts()
    say(f"lab: down ({len(removed)} things removed)" if removed else "lab: nothing to remove")


def forget_lab_hosts() -> None:
    """The inventory's part of lab down: each lab host removed, with one audit entry each."""
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


def status(say) -> None:  # type: ignore[no-untyped-def]
    say(json.dumps(lab_status(lab_dir()).to_dict(), indent=2))
