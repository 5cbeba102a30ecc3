"""/metrics of a live stack tells which agents take faults, and how their lease renewals went
(issue 13, metrics: "agent heartbeats and lease renewals").

The lab's real agents write their heartbeats as they answer their own pings; the stack's
orchestrator counts the renewals of a real drill's fault (tests/fixtures/playbooks/e2e/
http-error-drill.yaml, 6 s on the host ``web`` with the stack's 4 s leases, so several
renewals). The scrape goes to the stack's daphne over TCP and is read with prometheus_client's
parser, as Prometheus would.
"""

from __future__ import annotations

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from drills.lab.topology import DEFAULT_TOPOLOGY
from tests.e2e.stack import LAB_HOSTS, ROOT, Stack, cli

PLAYBOOK = ROOT / "tests" / "fixtures" / "playbooks" / "e2e" / "http-error-drill.yaml"


def scrape(stack: Stack) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(stack.url + "/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def renewals(samples: dict, host: str, outcome: str | None = None) -> float:  # type: ignore[type-arg]
    if outcome is None:
        return samples.get(("drillhall_lease_renewals_sent_total", (("host", host),)), 0.0)
    key = ("drillhall_lease_renewals_total", (("host", host), ("outcome", outcome)))
    return samples.get(key, 0.0)


def test_the_labs_agents_are_up_and_a_drills_renewals_are_counted(stack: Stack) -> None:
    # The stack runs agents for web, db1 and db2; the lab registers its DNS host too, whose
    # agent no one starts here: it is in the inventory and down.
    hosts = [h.name for h in DEFAULT_TOPOLOGY.hosts]
    idle = sorted(set(hosts) - set(LAB_HOSTS))
    assert idle, hosts
    expected = {h: 0.0 if h in idle else 1.0 for h in hosts}
    deadline = time.monotonic() + 20  # an agent beats every 5 s once its worker is ready
    while True:
        before = scrape(stack)
        up = {h: before.get(("drillhall_agent_up", (("host", h),))) for h in hosts}
        if up == expected or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert up == expected
    assert before[("drillhall_agent_metrics_readable", ())] == 1
    beat = before[("drillhall_agent_heartbeat_timestamp_seconds", (("host", "web"),))]
    assert time.time() - beat < 20

    out = cli(stack.env, "run", str(PLAYBOOK), timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    after = scrape(stack)
    sent = renewals(after, "web") - renewals(before, "web")
    renewed = renewals(after, "web", "renewed") - renewals(before, "web", "renewed")
    # 6 s of fault, a renewal every 4/3 s: about four, each answered "renewed".
    assert sent >= 3, (sent, renewed)
    assert renewed >= sent - 1, (sent, renewed)  # the last may be in flight at the revert
    for other in ("not_renewed", "refused", "failed", "not_sent"):
        assert renewals(after, "web", other) == renewals(before, "web", other), other
