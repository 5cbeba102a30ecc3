"""`lab up` registers lab hosts with role labels and their services."""

from __future__ import annotations

from drills.cli.labctl import lab_labels, lab_services
from drills.lab.topology import DEFAULT_TOPOLOGY


def test_lab_hosts_get_role_labels() -> None:
    assert lab_labels(DEFAULT_TOPOLOGY.host("web")) == {"lab": "true", "role": "web"}
    assert lab_labels(DEFAULT_TOPOLOGY.host("db1")) == {"lab": "true", "role": "db"}


def test_lab_services_carry_their_protocol_as_kind() -> None:
    web = [(s.name, s.port, s.kind) for s in lab_services(DEFAULT_TOPOLOGY.host("web"))]
    db1 = [(s.name, s.port, s.kind) for s in lab_services(DEFAULT_TOPOLOGY.host("db1"))]
    assert web == [
        ("shop", 8080, "http"),
        ("files", 8081, "http"),
        ("sentinel", 26379, "redis-sentinel"),
    ]
    assert db1 == [("redis", 6379, "redis"), ("sentinel", 26379, "redis-sentinel")]
