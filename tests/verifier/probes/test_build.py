"""From playbook text through the planner to runnable probes."""

from __future__ import annotations

import sys

import pytest

from drills.engine.plan import HostInfo, PlannedProbe, resolve_plan
from drills.playbook.parser import parse_playbook
from verifier.probes.canary import Canary, RedisCanary
from verifier.probes.dns_lookup import DnsProbe
from verifier.probes.http import HttpProbe
from verifier.probes.pgcanary import PostgresCanary
from verifier.probes.probe import Probe, ProbeConfigError, build_probe
from verifier.probes.prometheus import PrometheusProbe
from verifier.probes.tcp_port import TcpProbe

PLAYBOOK = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {name: probes}
targets:
  app: {host: web}
  primary: {host: db1}
  resolver: {host: dns1}
probes:
  - name: checkout
    http: {url: "http://app:8080/checkout", timeout: 2s, expect_status: [200]}
  - name: redis-port
    tcp: {host: primary, port: 6379, timeout: 300ms}
    from: app
  - name: orders
    canary: {redis: {address: "primary:6379", key_prefix: "drill:orders:"}}
    from: app
  - name: depth
    prometheus: {url: "http://10.77.0.8:9090", query: "sum(queue_depth)"}
  - name: resolve-db
    dns: {name: db1.lab, server: resolver, type: AAAA, timeout: 2s}
    from: app
steps:
  - wait: 1s
"""

INVENTORY = {
    "web": HostInfo("web", "10.77.0.2", "agent.web", netns="dh-web"),
    "db1": HostInfo("db1", "10.77.0.3", "agent.db1", netns="dh-db1"),
    "dns1": HostInfo("dns1", "10.77.0.5", "agent.dns1", netns="dh-dns1"),
}


def planned() -> dict[str, PlannedProbe]:
    plan = resolve_plan(parse_playbook(PLAYBOOK), INVENTORY)
    return {p.name: p for p in plan.probes}


def test_every_probe_kind_is_built_with_the_addresses_the_planner_resolved() -> None:
    probes = {name: build_probe(p) for name, p in planned().items()}
    assert all(isinstance(p, Probe) for p in probes.values())
    assert probes["checkout"] == HttpProbe(
        "checkout", "http://10.77.0.2:8080/checkout", 2.0, (200,)
    )
    assert probes["redis-port"] == TcpProbe("redis-port", "10.77.0.3", 6379, 0.3)
    canary = probes["orders"]
    assert isinstance(canary, RedisCanary)
    assert (canary.key_prefix, canary.netns) == ("drill:orders:", "dh-web")
    assert canary.key(7) == "drill:orders:7"
    prom = probes["depth"]
    assert isinstance(prom, PrometheusProbe)
    assert (prom.url, prom.query, prom.timeout) == (
        "http://10.77.0.8:9090",
        "sum(queue_depth)",
        2.0,
    )
    # The server's target name became its address: the probe never asks the system resolver.
    assert probes["resolve-db"] == DnsProbe("resolve-db", "db1.lab", "10.77.0.5", 53, "AAAA", 2.0)


def test_a_probe_from_a_host_carries_that_hosts_namespace_in_the_plan() -> None:
    plan = planned()
    assert plan["redis-port"].netns == "dh-web"
    assert plan["redis-port"].to_dict()["netns"] == "dh-web"
    assert plan["checkout"].netns == ""  # no `from`: sampled from the engine's host


def test_a_postgres_canary_is_built_with_its_dsn_from_its_hosts_namespace() -> None:
    params = {"store": "postgres", "dsn": "host=10.77.0.3 dbname=shop"}
    canary = build_probe(PlannedProbe("pg", "canary", 0.5, None, params, netns="dh-web"))
    assert isinstance(canary, PostgresCanary) and isinstance(canary, Canary)
    assert (canary.name, canary.netns, canary.timeout) == ("pg", "dh-web", 1.0)


def test_a_postgres_canary_with_a_broken_dsn_is_refused_at_preflight() -> None:
    probe = PlannedProbe("pg", "canary", 0.5, None, {"store": "postgres", "dsn": "host"})
    with pytest.raises(ProbeConfigError, match="probe pg \\(canary\\): bad parameters: the dsn"):
        build_probe(probe)


def test_without_psycopg_a_postgres_canary_is_refused_naming_the_fix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(sys.modules, "verifier.probes.pgcanary", raising=False)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what a missing package looks like
    probe = PlannedProbe("pg", "canary", 0.5, None, {"store": "postgres", "dsn": "host=db"})
    with pytest.raises(ProbeConfigError, match="probe pg: .* needs the psycopg package"):
        build_probe(probe)


def test_a_stored_plan_with_a_command_probe_is_refused_saying_why() -> None:
    # A run created before the command probe was removed still has one in its stored plan.
    probe = PlannedProbe("x", "command", 1.0, None, {"argv": ["redis-cli", "del", "k"]})
    with pytest.raises(ProbeConfigError, match="probe x: the command probe was removed"):
        build_probe(probe)


def test_a_dns_probe_whose_server_is_not_an_address_is_refused_past_the_model() -> None:
    params = {"name": "db1.lab", "server": "dns1", "port": 53, "type": "A"}
    with pytest.raises(ProbeConfigError, match="probe d \\(dns\\): bad parameters"):
        build_probe(PlannedProbe("d", "dns", 1.0, None, params))


def test_broken_parameters_and_unknown_kinds_are_config_errors() -> None:
    with pytest.raises(ProbeConfigError, match="probe t \\(tcp\\): bad parameters"):
        build_probe(PlannedProbe("t", "tcp", 1.0, None, {"host": "h"}))
    with pytest.raises(ProbeConfigError, match="unknown probe kind 'ebpf'"):
        build_probe(PlannedProbe("k", "ebpf", 1.0, None, {}))


@pytest.mark.parametrize(
    "kind, params",
    [
        ("tcp", {"host": "fe80::1%eth0", "port": 80}),
        ("tcp", {"host": "fe80::1%} accept", "port": 80}),
        ("dns", {"name": "db1.lab", "server": "fe80::1%eth0", "port": 53, "type": "A"}),
    ],
)
def test_a_scoped_address_is_refused_past_the_model(kind: str, params: dict[str, object]) -> None:
    # A scope names an interface of the orchestrator: the probe would leave the lab through it.
    with pytest.raises(ProbeConfigError, match="scope"):
        build_probe(PlannedProbe("p", kind, 1.0, None, params))
