"""The planner: targets resolved on the inventory, timing, blast radius, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drills.engine.plan import HostInfo, Plan, PlanError, resolve_plan
from drills.playbook.errors import PlaybookError
from drills.playbook.model import FAULTS
from drills.playbook.parser import parse_file, parse_playbook
from tests.fault_examples import EXAMPLES, TARGETS, planned_example
from tests.playbook.inventory import fixture_inventory

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "playbooks"
HEAD = TARGETS


def plan_of(steps: str, extra: str = "", **kwargs: bool):  # type: ignore[no-untyped-def]
    playbook = parse_playbook(HEAD + "steps:\n" + steps + extra, "plan.yaml")
    return resolve_plan(playbook, fixture_inventory(), **kwargs)


def test_selector_takes_the_first_hosts_by_name_and_reports_the_group_share() -> None:
    plan = plan_of("  - {fault: network.partition, target: dbs, from: [app], duration: 10s}\n")

    (step,) = plan.steps
    assert [fault.host for fault in step.faults] == ["db1", "db2"]
    assert [fault.queue for fault in step.faults] == ["agent.db1", "agent.db2"]
    assert step.faults[0].params == {"host": "db1", "peers": ["10.77.0.2"], "direction": "both"}
    assert plan.blast_radius.groups == {"role=db": "2 of 5 (40%)"}
    assert plan.blast_radius.hosts == ("db1", "db2")
    assert plan.hosts == ("db1", "db2")


def test_partition_peers_are_the_addresses_of_the_from_targets_and_literal_ones() -> None:
    plan = plan_of(
        "  - fault: network.partition\n    target: app\n    from: [dbs]\n"
        "    addresses: [192.0.2.7]\n    ports: [6379]\n    direction: out\n"
        "    duration: 5s\n"
    )

    assert plan.steps[0].faults[0].params == {
        "host": "web",
        "peers": ["10.77.0.3", "10.77.0.4", "192.0.2.7"],
        "direction": "out",
        "ports": [6379],
    }


def test_parallel_children_start_together_and_the_group_lasts_the_longest() -> None:
    plan = plan_of(
        "  - wait: 5s\n"
        "  - parallel:\n"
        "      - {fault: network.latency, target: app, to: db, latency: 150ms, duration: 30s}\n"
        "      - {fault: io.delay, target: db, path: /var/lib/redis, delay: 50ms, duration: 20s}\n"
        "  - wait: 1s\n"
    )

    wait, group, last = plan.steps
    assert (group.kind, group.path, group.start, group.duration) == ("parallel", "2", 5.0, 30.0)
    assert [(c.path, c.start, c.duration) for c in group.children] == [
        ("2.1", 5.0, 30.0),
        ("2.2", 5.0, 20.0),
    ]
    latency = group.children[0].faults[0]
    assert (latency.mechanism, latency.params) == (
        "netem-or-proxy",
        {"host": "web", "destinations": ["10.77.0.3"], "latency": 0.15, "jitter": 0.0},
    )
    assert group.children[1].faults[0].mechanism == "fuse"
    assert last.start == 35.0 and plan.expected_seconds == 36.0
    assert [s.index for s in (wait, group, *group.children, last)] == [1, 2, 3, 4, 5]


def test_repeat_is_expanded_with_its_own_indexes_and_paths() -> None:
    plan = plan_of(
        "  - wait: 1s\n"
        "  - repeat:\n"
        "      times: 2\n"
        "      steps:\n"
        "        - {fault: process.kill, target: db, match: {name: redis-server}}\n"
        "        - wait: 3s\n"
    )

    assert [(s.index, s.path, s.kind, s.start) for s in plan.steps] == [
        (1, "1", "wait", 0.0),
        (2, "2[1].1", "fault", 1.0),
        (3, "2[1].2", "wait", 1.0),
        (4, "2[2].1", "fault", 4.0),
        (5, "2[2].2", "wait", 4.0),
    ]
    kill = plan.steps[1].faults[0]
    assert kill.params == {
        "host": "db1",
        "match": {"name": "redis-server"},
        "signal": "SIGKILL",
        "count": 1,
    }
    assert plan.steps[1].duration == 0.0 and plan.expected_seconds == 7.0


def test_pause_counts_as_zero_seconds_and_is_warned_about() -> None:
    plan = plan_of("  - wait: 2s\n  - pause: {message: look}\n  - wait: 2s\n")

    assert [(s.kind, s.name, s.duration) for s in plan.steps][1] == ("pause", "pause: look", 0.0)
    assert plan.expected_seconds == 4.0
    assert any("pauses 1 time" in warning for warning in plan.warnings)


def test_agent_parameters_are_plain_json_for_every_kind() -> None:
    plan = resolve_plan(parse_file(FIXTURES / "valid" / "all-sections.yaml"), fixture_inventory())

    document = json.loads(json.dumps(plan.to_dict()))
    by_kind = {fault.kind: fault for _, fault in plan.faults()}
    assert set(by_kind) >= {"network.dns", "http.error", "stress.memory", "io.error"}
    assert by_kind["http.error"].params == {
        "host": "web",
        "port": 8080,
        "status": 502,
        "share": 25.0,
        "path": "/api",
        "abort": False,
        "methods": ["GET", "POST"],
        "delay": 0.1,
    }
    assert by_kind["stress.memory"].params == {"host": "web", "bytes": 256 * 1024**2}
    assert by_kind["network.timeout"].mechanism == "nftables"
    assert by_kind["network.dns"].mechanism == "stub-resolver"
    assert document["steps"][2]["children"][0]["faults"][0]["kind"] == "network.latency"
    assert document["blast_radius"]["groups"] == {"role=db": "2 of 5 (40%)"}


@pytest.mark.parametrize("kind", FAULTS)
def test_each_fault_kind_gives_its_agents_exactly_these_parameters(kind: str) -> None:
    if kind not in EXAMPLES:
        pytest.fail(f"fault kind {kind} has no example in tests/fault_examples.py")
    example = EXAMPLES[kind]

    step = planned_example(kind)

    assert [fault.mechanism for fault in step.faults] == [example.mechanism] * len(step.faults)
    # As JSON text: the agent receives this document, so key order and int/float matter too.
    assert [json.dumps(fault.params) for fault in step.faults] == [
        json.dumps(params) for params in example.params
    ]


def test_probes_are_resolved_to_addresses_and_source_hosts() -> None:
    plan = resolve_plan(parse_file(FIXTURES / "valid" / "all-sections.yaml"), fixture_inventory())
    probes = {probe.name: probe for probe in plan.probes}

    assert probes["checkout"].url == "http://10.77.0.2:8080/checkout"
    assert probes["checkout"].expect_status == (200,)
    assert probes["redis-port"].params["host"] == "10.77.0.3"
    assert probes["redis-port"].from_host == "web"
    assert probes["orders"].params == {
        "store": "redis",
        "address": "10.77.0.3:6379",
        "key_prefix": "drillhall:canary:",
    }
    assert probes["resolve-db"].params == {
        "name": "db1.lab",
        "server": "10.77.0.5",
        "port": 53,
        "type": "A",
        "timeout": 2.0,
    }
    assert {probe.kind for probe in plan.probes} == {"http", "tcp", "dns", "canary", "prometheus"}


@pytest.mark.parametrize(
    ("server", "address"),
    [("resolver", "10.77.0.5"), ("dns1", "10.77.0.5"), ("fd00::5", "fd00::5")],
)
def test_a_dns_probes_server_becomes_an_address(server: str, address: str) -> None:
    plan = resolve_plan(parse_playbook(DNS_PROBE.format(server=server)), fixture_inventory())
    (probe,) = plan.probes
    assert (probe.kind, probe.params["server"], probe.from_host) == ("dns", address, "web")


def test_a_dns_probes_server_must_be_known_to_the_plan() -> None:
    # The probe asks its server directly, not the system resolver: a name it cannot place is
    # refused before the run, not looked up (through the very resolver a drill may break).
    with pytest.raises(PlanError) as caught:
        resolve_plan(parse_playbook(DNS_PROBE.format(server="ns.example.com")), fixture_inventory())
    assert caught.value.problems == [
        "probe 'resolve': the DNS server 'ns.example.com' is neither a target, an inventory host "
        "nor an IP address"
    ]


DNS_PROBE = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {{name: dns-probe}}
targets:
  app: {{host: web}}
  resolver: {{host: dns1}}
probes:
  - name: resolve
    dns: {{name: db1.lab, server: "{server}"}}
    from: app
steps:
  - wait: 1s
"""


def test_refusal_lists_every_problem_at_once() -> None:
    text = """\
apiVersion: drillhall/v1
kind: Playbook
metadata: {name: refused}
targets:
  ghost: {host: nowhere}
  none: {selector: {labels: {role: mainframe}}, count: 1}
  many: {selector: {labels: {role: db}}, count: 9}
  secrets: {host: vault}
  app: {host: web}
  dbs: {selector: {labels: {role: db}}, count: 3}
probes:
  - name: checkout
    http: {url: "http://web:8080/checkout"}
steps:
  - {fault: stress.cpu, target: secrets, cores: 1, duration: 1m}
  - {fault: network.partition, target: dbs, from: [app], duration: 1m}
limits: {max_targets: 2}
"""
    with pytest.raises(PlanError) as caught:
        resolve_plan(parse_playbook(text), fixture_inventory())

    problems = caught.value.problems
    expected = [
        "host 'nowhere', which is not in the inventory",
        "selector role=mainframe matches no host",
        "count 9 is larger than the group role=db (5 hosts)",
        # One host named outright (vault) passes the parser; the selector adds three.
        "the plan faults 4 hosts (vault, db1, db2, db3), more than limits.max_targets (2)",
    ]
    for needle in expected:
        assert any(needle in problem for problem in problems), (needle, problems)
    assert len(problems) == len(expected)
    assert str(caught.value) == "\n".join(problems)


def test_limits_the_playbook_alone_breaks_are_refused_before_the_planner() -> None:
    # Length and allowed faults need no inventory: parse_playbook refuses them, with positions,
    # so validate, the editor, plan and run all say the same; the planner no longer repeats them.
    with pytest.raises(PlaybookError) as caught:
        plan_of(
            "  - {fault: stress.cpu, target: app, cores: 1, duration: 1m}\n"
            "  - {fault: network.partition, target: dbs, from: [app], duration: 1m}\n",
            "limits: {max_duration: 90s, allowed_faults: [network.partition]}\n",
        )

    assert [(i.line, i.column, i.message) for i in caught.value.issues] == [
        (12, 13, "fault stress.cpu is not in limits.allowed_faults (network.partition)"),
        (
            13,
            68,
            "the drill has run 2m when this fault ends, longer than limits.max_duration (90s)",
        ),
    ]


# 30 s, a parallel group of 20 s, then 3 x (a kill, a pause and 10 s): 80 s, pauses counting 0.
TIMED_STEPS = (
    "  - wait: {first}\n"
    "  - parallel:\n"
    "      - {{fault: network.latency, target: app, to: db, latency: 1ms, duration: 20s}}\n"
    "      - wait: 5s\n"
    "  - repeat:\n"
    "      times: 3\n"
    "      steps:\n"
    "        - {{fault: process.kill, target: db, match: {{name: redis-server}}}}\n"
    "        - pause: {{}}\n"
    "        - wait: 10s\n"
)


def test_a_drill_exactly_as_long_as_its_limit_is_parsed_and_planned() -> None:
    plan = plan_of(TIMED_STEPS.format(first="30s"), "limits: {max_duration: 80s}\n")

    assert plan.expected_seconds == 80.0


def test_the_parser_times_a_drill_as_the_planner_does() -> None:
    # One millisecond more than the plan above: the parser's total must cross where the plan's
    # would, in the last iteration of the repeat.
    with pytest.raises(PlaybookError, match=r"has run 80.001s when this wait ends in iteration 3"):
        plan_of(TIMED_STEPS.format(first="30001ms"), "limits: {max_duration: 80s}\n")


def test_a_protected_host_is_planned_and_named_for_an_approval() -> None:
    text = HEAD.replace("app: {host: web}", "app: {host: vault}") + (
        "steps:\n  - {fault: stress.cpu, target: app, cores: 1, duration: 5s}\n"
    )

    plan = resolve_plan(parse_playbook(text), fixture_inventory())

    assert plan.hosts == ("vault",)
    assert plan.protected == ("vault",)
    assert (
        "host 'vault' is protected: a run waits until an approver of the playbook's team, "
        "who is not the person who started it, approves it"
    ) in plan.warnings
    assert Plan.from_dict(plan.to_dict()).protected == ("vault",)


def test_a_plan_without_protected_hosts_needs_no_approval() -> None:
    plan = plan_of("  - {fault: stress.cpu, target: app, cores: 1, duration: 5s}\n")

    assert plan.protected == ()
    # A plan stored before approvals existed reads back as needing none.
    stored = plan.to_dict()
    del stored["protected"]
    assert Plan.from_dict(stored).protected == ()


def test_host_info_defaults_keep_the_old_positional_form() -> None:
    info = HostInfo("h1", "10.0.0.1", "agent.h1")

    assert (info.netns, info.protected, info.labels, info.services) == ("", False, {}, ())
    assert info.to_dict()["services"] == []


def test_unregistered_service_is_a_warning_not_a_refusal() -> None:
    plan = plan_of(
        "  - {fault: network.reset, target: app, ports: [8080], duration: 5s}\n"
    ).warnings
    assert plan == ()
    text = HEAD.replace("db: {host: db1, service: redis}", "db: {host: db1, service: mysql}")
    playbook = parse_playbook(text + "steps:\n  - wait: 1s\n")
    warnings = resolve_plan(playbook, fixture_inventory()).warnings
    assert warnings == ("target 'db': service 'mysql' is not registered on host 'db1'",)
