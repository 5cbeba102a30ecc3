"""Chaos Toolkit experiments (fixtures in CTK's documented format) converted to playbooks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from drills.ctk import (
    Conversion,
    CtkError,
    convert_experiment,
    load_experiment,
    parse_experiment,
    render_playbook,
)
from drills.playbook.parser import parse_playbook

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ctk"


def convert(name: str) -> tuple[Conversion, str, dict[str, Any]]:
    conversion = convert_experiment(load_experiment(FIXTURES / name))
    text = render_playbook(conversion, name)
    return conversion, text, yaml.safe_load(text)


def expected(name: str) -> dict[str, Any]:
    return yaml.safe_load((FIXTURES / "expected" / f"{name}.yaml").read_text())


def messages(findings: list[Any]) -> str:
    return "\n".join(str(f) for f in findings)


@pytest.mark.parametrize(
    "name", ["http-kill.json", "pauses-rollbacks.json", "k8s-pod.yaml", "status-list.json"]
)
def test_converted_playbook_matches_the_expected_one(name: str) -> None:
    _, _, data = convert(name)
    assert data == expected(name.rsplit(".", 1)[0])


@pytest.mark.parametrize("name", ["k8s-pod.yaml", "status-list.json"])
def test_conversion_without_placeholders_parses_as_a_playbook(name: str) -> None:
    conversion, text, _ = convert(name)
    assert "CHANGE-ME" not in text and not conversion.placeholders
    playbook = parse_playbook(text, name)
    assert playbook.metadata.name == conversion.playbook["metadata"]["name"]


@pytest.mark.parametrize("name", ["http-kill.json", "pauses-rollbacks.json"])
def test_process_kill_conversion_parses_once_the_host_is_filled_in(name: str) -> None:
    conversion, text, _ = convert(name)
    assert conversion.placeholders, "a kill needs a host the author chooses"
    filled = text.replace("host: CHANGE-ME", "host: web")
    assert "CHANGE-ME" not in yaml.safe_dump(yaml.safe_load(filled))  # comments aside
    playbook = parse_playbook(filled, name)
    kills = [s for s in playbook.steps if getattr(s, "fault", None) == "process.kill"]
    assert len(kills) == 1


def test_tolerance_200_becomes_error_rate_slas_before_and_after() -> None:
    _, text, data = convert("http-kill.json")
    slas = {(s["during"], s["assert"], s["on_breach"]) for s in data["slas"]}
    assert slas == {
        ("before", "error_rate(checkout-answers, 10s) < 1%", "abort"),
        ("recovery", "error_rate(checkout-answers, 10s) < 1%", "record"),
    }
    assert "expect_status" not in data["probes"][0]["http"]
    assert "# Each steady-state tolerance became two SLAs" in text


def test_pkill_becomes_a_process_kill_step_on_a_placeholder_target() -> None:
    conversion, _, data = convert("http-kill.json")
    kill = data["steps"][1]
    assert kill == {
        "name": "kill-the-app",
        "fault": "process.kill",
        "target": "checkout-survives-the-loss-of-its-app-process",
        "match": {"name": "demoapp"},
        "signal": "SIGKILL",
    }
    assert data["targets"] == {kill["target"]: {"host": "CHANGE-ME"}}
    assert "targets.checkout-survives-the-loss-of-its-app-process.host" in messages(
        conversion.placeholders
    )


def test_pauses_become_wait_steps_around_their_activity() -> None:
    _, _, data = convert("pauses-rollbacks.json")
    waits = [(s["name"], s["wait"]) for s in data["steps"] if "wait" in s]
    assert waits == [
        ("baseline (the steady-state hypothesis is checked before the method)", "10s"),
        ("pause before flush-cache", "5s"),
        ("pause after flush-cache", "30s"),
        ("pause after stop-worker", "2.5s"),
    ]


def test_rollbacks_are_listed_as_comments_and_not_imported() -> None:
    conversion, text, data = convert("pauses-rollbacks.json")
    assert "drillhall reverts every fault itself; rollbacks not imported:" in text
    assert (
        "#   - rollbacks[0] action 'restart-worker' (process `systemctl start order-worker`)"
        in text
    )
    assert "#   - rollbacks[1] action 'warm-cache' (http POST http://web:8080/admin/warm)" in text
    assert "systemctl" not in yaml.safe_dump(data)


def test_configuration_and_secrets_are_reported_and_inline_values_substituted() -> None:
    conversion, text, data = convert("pauses-rollbacks.json")
    unmapped = messages(conversion.unmapped)
    assert "configuration: keys orders_url, region not mapped" in unmapped
    assert "secrets: not imported" in unmapped
    assert data["probes"][0]["http"]["url"] == "http://web:8080/orders"
    assert "CACHE_PASSWORD" not in text


def test_python_actions_of_extensions_are_unmapped_with_the_extension_named() -> None:
    conversion, text, _ = convert("k8s-pod.yaml")
    unmapped = messages(conversion.unmapped)
    assert (
        "method[0] action 'terminate-front-pod': calls chaosk8s.pod.actions.terminate_pods "
        "from the Chaos Toolkit extension for Kubernetes" in unmapped
    )
    assert "method[1] probe 'count-front-pods': a probe in the method is a one-off check" in (
        unmapped
    )
    assert "jsonpath" not in text.split("apiVersion")[1]  # not carried into the playbook
    assert "tolerance checks the response body with a JSON path" in unmapped


def test_status_list_tolerances_become_expect_status() -> None:
    conversion, _, data = convert("status-list.json")
    statuses = {p["name"]: p["http"]["expect_status"] for p in data["probes"]}
    # Three values: a set of statuses; two values: Chaos Toolkit's inclusive range.
    assert statuses == {"login": [200, 301, 302], "signup": [200, 201, 202, 203, 204]}
    assert "tolerance [200, 204] is a range: 200..204" in messages(conversion.notes)


def test_known_chaos_commands_and_kill_by_pid_are_unmapped_with_reasons() -> None:
    conversion, _, data = convert("status-list.json")
    unmapped = messages(conversion.unmapped)
    assert "runs `tc qdisc add dev eth0 root netem delay 200ms`: traffic control" in unmapped
    assert "runs `kill 4242`: kill takes process ids" in unmapped
    assert not any("fault" in step for step in data["steps"])


def test_unmapped_items_are_comments_at_the_top() -> None:
    conversion, text, _ = convert("k8s-pod.yaml")
    head = text.split("apiVersion:")[0]
    assert head.startswith("# Converted by `drillhall import-ctk`")
    assert all(line.startswith("#") for line in head.splitlines())
    for finding in conversion.unmapped:
        assert str(finding) in head


EXPERIMENT = {
    "version": "1.0.0",
    "title": "t",
    "description": "d",
    "steady-state-hypothesis": {
        "title": "h",
        "probes": [
            {
                "type": "probe",
                "name": "p",
                "tolerance": 200,
                "provider": {"type": "http", "url": "http://web/"},
            }
        ],
    },
}


def with_method(*activities: dict[str, Any]) -> dict[str, Any]:
    return {**EXPERIMENT, "method": list(activities)}


def process(path: str, arguments: Any) -> dict[str, Any]:
    return {
        "type": "action",
        "name": "a",
        "provider": {"type": "process", "path": path, "arguments": arguments},
    }


@pytest.mark.parametrize(
    ("path", "arguments", "name", "signal"),
    [
        ("pkill", ["app"], "app", "SIGTERM"),
        ("/usr/bin/pkill", "-KILL app", "app", "SIGKILL"),
        ("killall", ["-s", "SIGKILL", "redis-server"], "redis-server", "SIGKILL"),
        ("killall", ["--signal=TERM", "-q", "nginx"], "nginx", "SIGTERM"),
        ("pkill", {"-9": "", "app": ""}, "app", "SIGKILL"),  # the first spec's mapping form
    ],
)
def test_kill_commands_by_name_map_to_process_kill(
    path: str, arguments: Any, name: str, signal: str
) -> None:
    text = json.dumps(with_method(process(path, arguments)))
    conversion = convert_experiment(parse_experiment(text, "inline.json"))
    step = conversion.playbook["steps"][-1]
    assert (step["fault"], step["match"], step["signal"]) == (
        "process.kill",
        {"name": name},
        signal,
    )
    assert not conversion.unmapped


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (["-HUP", "app"], "signal HUP: process.kill sends SIGTERM or SIGKILL only"),
        (["-STOP", "app"], "use a process.pause step"),
        (["-f", "python app.py"], "option '-f' has no equivalent"),
        (["app.*"], "is a regular expression"),
        ([], "needs exactly one process name"),
    ],
)
def test_kill_commands_that_cannot_map_say_why(arguments: list[str], reason: str) -> None:
    conversion = convert_experiment(with_method(process("pkill", arguments)))
    assert reason in messages(conversion.unmapped)
    assert not any("fault" in step for step in conversion.playbook["steps"])


def test_http_action_is_reported_not_converted() -> None:
    action = {
        "type": "action",
        "name": "flip",
        "provider": {"type": "http", "url": "http://web/flag", "method": "POST"},
    }
    conversion = convert_experiment(with_method(action))
    assert "calls POST http://web/flag; drillhall has no HTTP action step yet" in messages(
        conversion.unmapped
    )


def test_experiment_without_http_probe_gets_a_placeholder_probe() -> None:
    experiment = {**with_method(process("pkill", ["app"])), "steady-state-hypothesis": None}
    experiment.pop("steady-state-hypothesis")
    conversion = convert_experiment(experiment)
    text = render_playbook(conversion, "x.json")
    assert "steady-state-hypothesis: absent" in messages(conversion.unmapped)
    assert conversion.playbook["probes"][0]["http"]["url"] == "http://CHANGE-ME/"
    assert "CHANGE-ME" in text


def test_names_from_the_experiment_cannot_break_out_of_a_comment() -> None:
    action = process("kubectl", ["delete", "pod"])
    action["name"] = "evil\napiVersion: hacked"
    conversion = convert_experiment(with_method(action))
    data = yaml.safe_load(render_playbook(conversion, "x.json"))
    assert data["apiVersion"] == "drillhall/v1"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("no-method.json", "method: required, a list with at least one activity"),
        ("bad-activity.yaml", "method[0].provider.type: expected one of python, http, process"),
        ("bad-activity.yaml", "method[1].ref: 'does-not-exist' is not the name of a declared"),
        ("bad-activity.yaml", "steady-state-hypothesis.probes[0]: a steady-state probe requires"),
        ("not-an-experiment.json", "invalid JSON at line 2, column 1"),
    ],
)
def test_invalid_experiments_are_refused_with_what_is_wrong(name: str, problem: str) -> None:
    with pytest.raises(CtkError) as caught:
        load_experiment(FIXTURES / "invalid" / name)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
    assert str(caught.value).startswith(f"{FIXTURES / 'invalid' / name}: not a valid")
