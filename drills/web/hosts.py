"""Inventory snapshots for the planner, and registration of hosts (by the lab and by agents).

Registration is idempotent (update_or_create on the host name) and never touches
``protected``: only a person in the admin decides that a host may not be faulted. An agent's
registration (which anyone on the broker could send) may add a host but never move one: a
different address, queue or namespace for a known host is refused; an admin moves a host in
the admin site.

Both are audited: a registration by the lab that changed the inventory, as "system", and
every agent registration, accepted or refused, from "agent <host>" (what the agent said is
hashed; the broker is not yet a proof of who sent it).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from drills.engine import plan
from drills.web.audit import SYSTEM, AuditAction, Origin, record_as
from drills.web.models.inventory import Host, Service
from injector.protocol import HostRegistration, ProtocolError, agent_queue

# The agent's own rule for host names (injector.host.HOST_NAME): they become queue names.
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
SERVICE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
LABEL_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$")
MAX_LABELS = 32
MAX_LABEL_VALUE = 100
MAX_SERVICES = 64


class RegistrationError(ValueError):
    """A registration payload that cannot be stored; permanent (retrying will not help)."""


class MoveRefused(RegistrationError):
    """An agent's registration that would move a known host, or change what selects it and
    where its services listen; the message says what."""


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    port: int
    kind: str = ""


def inventory_snapshot() -> dict[str, plan.HostInfo]:
    """Every host as the planner sees it, with labels and services where HostInfo has them."""
    # HostInfo grows with the planner; pass only the fields it has so neither side breaks.
    fields = {f.name for f in dataclasses.fields(plan.HostInfo)}
    snapshot: dict[str, plan.HostInfo] = {}
    for host in Host.objects.prefetch_related("services"):
        values: dict[str, Any] = {
            "name": host.name,
            "address": host.address,
            "queue": host.agent_queue,
            "netns": host.netns,
            "protected": host.protected,
        }
        if "labels" in fields:
            values["labels"] = dict(host.labels or {})
        if "services" in fields:
            values["services"] = tuple(
                plan.ServiceInfo(name=s.name, port=s.port, kind=s.kind) for s in host.services.all()
            )
        snapshot[host.name] = plan.HostInfo(**{k: v for k, v in values.items() if k in fields})
    return snapshot


@transaction.atomic
def register_host(
    name: str,
    address: str,
    netns: str = "",
    lab: bool = False,
    labels: Mapping[str, str] | None = None,
    services: Iterable[ServiceSpec] | None = None,
    queue: str | None = None,
    *,
    origin: Origin = SYSTEM,
) -> Host:
    """Create or update a host. ``labels`` and ``services``, when given, become exactly these.

    A change is one audit entry by ``origin``; registering a host as it is writes none.
    """
    before = host_state(name)
    defaults: dict[str, Any] = {
        "address": address,
        "agent_queue": queue or agent_queue(name),
        "netns": netns,
        "lab": lab,
    }
    if labels is not None:
        defaults["labels"] = dict(labels)
    host, _ = Host.objects.update_or_create(name=name, defaults=defaults)
    if services is not None:
        _sync_services(host, list(services), prune=True)
    after = host_state(name)
    if after != before:
        record_as(
            AuditAction.INVENTORY_CHANGE,
            origin,
            object_type="host",
            object_id=name,
            summary=f"registered host {name}: {describe_change(before, after)}",
            content=after,
        )
    return host


@transaction.atomic
def register_agent(payload: Any) -> dict[str, Any]:
    """Store what an agent said about itself when it started.

    payload: {host, address, queue, netns, labels, services}. A new host is stored as said.
    For a known host the registration may only repeat what is stored (labels and services
    added in the admin stay): any agent may push a registration, for any host, and a changed
    label would put the host into another selector's group, a changed port would aim its
    faults elsewhere. Such changes are an admin's, on the admin site.
    """
    try:
        HostRegistration.from_json(payload)  # the message's shape, as the protocol defines it
    except ProtocolError as exc:
        raise RegistrationError(str(exc)) from None
    data = _check_payload(payload)
    name = data["host"]
    existing = Host.objects.filter(name=name).first()
    address = data["address"] or (existing.address if existing else "")
    if not address:
        raise RegistrationError(f"agent {name!r} sent no address and the host is not known yet")
    if existing is not None:
        _refuse_move(existing, address, data["queue"], data["netns"])
        _refuse_relabel(existing, data["labels"], data["services"])
    labels = {**(existing.labels if existing else {}), **data["labels"]}
    defaults = {
        "address": address,
        "agent_queue": data["queue"],
        "netns": data["netns"],
        "labels": labels,
    }
    host, created = Host.objects.update_or_create(name=name, defaults=defaults)
    _sync_services(host, data["services"], prune=False)
    return {
        "host": host.name,
        "created": created,
        "address": host.address,
        "queue": host.agent_queue,
        "protected": host.protected,
    }


def register_agent_recorded(payload: Any) -> dict[str, Any]:
    """``register_agent`` and its audit entry: what was accepted, or why it was refused."""
    claimed = payload.get("host") if isinstance(payload, dict) else None
    name = claimed if isinstance(claimed, str) and HOST_NAME.match(claimed) else ""
    who = f"agent {name}" if name else "an agent"
    origin = Origin(who, who)
    try:
        with transaction.atomic():
            before = host_state(name)
            result = register_agent(payload)
            after = host_state(result["host"])
            change = describe_change(before, after) if after != before else "nothing changed"
            record_as(
                AuditAction.AGENT_REGISTER,
                origin,
                object_type="host",
                object_id=result["host"],
                summary=f"accepted the registration of host {result['host']}: {change}",
                content=payload,
            )
    except RegistrationError as exc:
        record_as(
            AuditAction.AGENT_REGISTER,
            origin,
            object_type="host",
            object_id=name,
            summary=f"refused a registration: {exc}",
            content=payload,
        )
        raise
    return result


def host_state(name: Any) -> dict[str, Any] | None:
    """What a registration can change about a host (None when there is no such host)."""
    host = Host.objects.filter(name=name).first() if isinstance(name, str) else None
    if host is None:
        return None
    return {
        "address": host.address,
        "queue": host.agent_queue,
        "netns": host.netns,
        "lab": host.lab,
        "labels": dict(host.labels or {}),
        "services": sorted(f"{s.name}:{s.port}:{s.kind}" for s in host.services.all()),
        "protected": host.protected,
    }


def describe_change(before: dict[str, Any] | None, after: dict[str, Any] | None) -> str:
    """A registration's effect in words: "new host at 10.77.0.2", "address 10.77.0.2 -> …"."""
    if after is None:
        return "removed"
    if before is None:
        netns = f" in namespace {after['netns']}" if after["netns"] else ""
        return f"new host at {after['address']}{netns}, queue {after['queue']}"
    changed = []
    for key, label in (
        ("address", "address"),
        ("queue", "queue"),
        ("netns", "namespace"),
        ("lab", "lab"),
        ("protected", "protected"),
    ):
        if before[key] != after[key]:
            changed.append(f"{label} {_word(before[key])} to {_word(after[key])}")
    if before["labels"] != after["labels"]:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(after["labels"].items()))
        changed.append(f"labels now {labels or 'none'}")
    if before["services"] != after["services"]:
        changed.append(f"services now {', '.join(after['services']) or 'none'}")
    return "; ".join(changed) or "nothing changed"


def _word(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value) if value not in ("", None) else "none"


def _refuse_move(host: Host, address: str, queue: str, netns: str) -> None:
    """A registration may not change where a known host is, or which queue reaches it: that
    would send its faults (and partition peers' addresses) wherever the sender likes."""
    changes = [
        f"its {what} from {old or 'none'} to {new or 'none'}"
        for what, old, new in (
            ("address", host.address, address),
            ("agent queue", host.agent_queue, queue),
            ("network namespace", host.netns, netns),
        )
        if old != new
    ]
    if not changes:
        return
    sentence = (
        f"a registration for the known host {host.name} was refused: it would change "
        f"{' and '.join(changes)}. Registration can add a host but not move one; to move it "
        f"on purpose, an admin edits host {host.name} in the admin site (Hosts)"
    )
    raise MoveRefused(sentence)


def _refuse_relabel(host: Host, labels: dict[str, str], services: list[ServiceSpec]) -> None:
    """A registration may not change a known host's labels (they choose the targets of label
    selectors) or its services (their ports are where faults aim)."""
    stored_labels = dict(host.labels or {})
    changes = []
    for key, value in sorted(labels.items()):
        if key not in stored_labels:
            changes.append(f"add the label {key}={value}")
        elif stored_labels[key] != value:
            changes.append(f"change the label {key} from {stored_labels[key]} to {value}")
    stored = {s.name: s for s in host.services.all()}
    for spec in services:
        known = stored.get(spec.name)
        if known is None:
            changes.append(f"add the service {spec.name} on port {spec.port}")
        elif (known.port, known.kind) != (spec.port, spec.kind):
            changes.append(
                f"change the service {spec.name} from {known.port} ({known.kind or 'no kind'}) "
                f"to {spec.port} ({spec.kind or 'no kind'})"
            )
    if not changes:
        return
    raise MoveRefused(
        f"a registration for the known host {host.name} was refused: it would "
        f"{' and '.join(changes)}. Registration can add a host but not change a known one's "
        f"labels or services; to change them on purpose, an admin edits host {host.name} in "
        "the admin site (Hosts)"
    )


def _sync_services(host: Host, services: list[ServiceSpec], prune: bool) -> None:
    for spec in services:
        Service.objects.update_or_create(
            host=host, name=spec.name, defaults={"port": spec.port, "kind": spec.kind}
        )
    if prune:
        host.services.exclude(name__in=[s.name for s in services]).delete()


def _check_payload(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise RegistrationError(f"expected a JSON object, got {type(payload).__name__}")
    unknown = set(payload) - {"host", "address", "queue", "netns", "labels", "services"}
    if unknown:
        raise RegistrationError(f"unknown keys: {', '.join(sorted(unknown))}")
    name = payload.get("host")
    if not isinstance(name, str) or not HOST_NAME.match(name):
        raise RegistrationError(f"invalid host name {name!r}")
    address = payload.get("address") or ""
    if not isinstance(address, str):
        raise RegistrationError(f"address must be a string, got {address!r}")
    if address:
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            raise RegistrationError(f"address {address!r} is not an IP address") from None
        if getattr(parsed, "scope_id", None):
            # Addresses become partition peers and loss destinations on other hosts.
            raise RegistrationError(
                f"address {address!r} has a scope (the part after %); register the plain address"
            )
        address = str(parsed)
    queue = payload.get("queue") or agent_queue(name)
    if not isinstance(queue, str) or len(queue) > 100:
        raise RegistrationError(f"invalid queue {queue!r}")
    netns = payload.get("netns") or ""
    if not isinstance(netns, str) or len(netns) > 63:
        raise RegistrationError(f"invalid netns {netns!r}")
    return {
        "host": name,
        "address": address,
        "queue": queue,
        "netns": netns,
        "labels": _check_labels(payload.get("labels") or {}),
        "services": _check_services(payload.get("services") or []),
    }


def _check_labels(labels: Any) -> dict[str, str]:
    if not isinstance(labels, dict) or len(labels) > MAX_LABELS:
        raise RegistrationError(f"labels must be an object of at most {MAX_LABELS} strings")
    for key, value in labels.items():
        if not isinstance(key, str) or not LABEL_KEY.match(key):
            raise RegistrationError(f"invalid label key {key!r}")
        if not isinstance(value, str) or len(value) > MAX_LABEL_VALUE:
            raise RegistrationError(f"label {key!r}: value must be a string (<= 100 characters)")
    return dict(labels)


def _check_services(services: Any) -> list[ServiceSpec]:
    if not isinstance(services, list) or len(services) > MAX_SERVICES:
        raise RegistrationError(f"services must be a list of at most {MAX_SERVICES} objects")
    out: list[ServiceSpec] = []
    for item in services:
        if not isinstance(item, dict) or set(item) - {"name", "port", "kind"}:
            raise RegistrationError(f"a service is {{name, port, kind}}, got {item!r}")
        name, port, kind = item.get("name"), item.get("port"), item.get("kind") or ""
        if not isinstance(name, str) or not SERVICE_NAME.match(name):
            raise RegistrationError(f"invalid service name {name!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
            raise RegistrationError(f"service {name!r}: port must be 1..65535, got {port!r}")
        if not isinstance(kind, str) or len(kind) > 32:
            raise RegistrationError(f"service {name!r}: invalid kind {kind!r}")
        out.append(ServiceSpec(name, port, kind))
    return out
