"""Issue 12, done means 6: with Alertmanager running, a drill's fault window shows an active
silence matching the target through Alertmanager's own API, and it has expired within 2 s of the
window's end.

A real lab drill (examples/partition-demo.yaml: db1 cut off for 10 s) through `drillhall run`,
its workers started with DRILLHALL_ALERTMANAGER_URL pointing at a real Alertmanager on loopback;
a poller reads GET /api/v2/silences every 100 ms, stamped with the time, throughout.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.alertmanager import api, running_alertmanager
from tests.conftest import have_root, redis_up, require
from tests.e2e.stack import ROOT, cli, nft_tables, stack_env
from tests.web.site import worker_redis_url

EXAMPLE = ROOT / "examples" / "partition-demo.yaml"
# How long after the window's end (the fault_reverted event) the silence must have expired.
EXPIRY_S = 2.0


class SilencePoller:
    """Reads Alertmanager's silences every 100 ms, bounded in count, with the time of each read."""

    def __init__(self, url: str, max_reads: int = 1800) -> None:
        self.url = url
        self.reads: list[tuple[float, list[dict[str, Any]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(max_reads,), daemon=True)

    def _loop(self, max_reads: int) -> None:
        for _ in range(max_reads):
            if self._stop.is_set():
                return
            try:
                silences = api(self.url, "/api/v2/silences")
            except OSError:
                silences = None
            if silences is not None:
                # Stamped when the answer arrived: a state read then held at least until then.
                self.reads.append((time.time(), silences))
            self._stop.wait(0.1)

    def __enter__(self) -> SilencePoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def states(self, silence_id: str) -> list[tuple[float, str]]:
        return [
            (t, s["status"]["state"]) for t, found in self.reads for s in found
            if s["id"] == silence_id
        ]  # fmt: skip


def epoch(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text).timestamp()


@pytest.mark.timeout(300)
def test_a_fault_window_is_silenced_in_alertmanager_and_the_silence_expires_with_it(
    tmp_path: Path,
) -> None:
    require(have_root(), "needs root (the lab)")
    redis_url = worker_redis_url()  # no workers listen here: the CLI starts its own
    require(redis_up(redis_url), "needs Redis")
    with running_alertmanager(tmp_path) as am:
        env = stack_env(tmp_path, redis_url)
        env["DRILLHALL_ALERTMANAGER_URL"] = am  # the workers `drillhall run` starts read it
        up = cli(env, "lab", "up")
        assert up.returncode == 0, up.stderr
        try:
            with SilencePoller(am) as poller:
                out = cli(env, "run", str(EXAMPLE), "--json", str(tmp_path / "run.json"),
                          timeout=180)  # fmt: skip
        finally:
            tables = nft_tables("dh-db1") + nft_tables("dh-web")
            cli(env, "lab", "down")
        final = {s["id"]: s for s in api(am, "/api/v2/silences")}

    assert out.returncode == 0, out.stdout + out.stderr
    assert tables == [], "a drillhall nft table outlived the run"
    events = json.loads((tmp_path / "run.json").read_text())["events"]
    kinds = [e["type"] for e in events]
    silences = [e for e in events if e["type"] == "silence"]
    assert [s["data"]["state"] for s in silences] == ["created", "expired"], silences
    created, expired = (s["data"] for s in silences)
    silence_id = created["silence_id"]
    assert created["host"] == "db1" and expired["silence_id"] == silence_id
    # Made before the fault lands, ended after its revert.
    applied = next(e for e in events if e["type"] == "fault_applied")
    reverted = next(e for e in events if e["type"] == "fault_reverted")
    assert kinds.index("silence") < kinds.index("fault_applied")
    assert events.index(reverted) < events.index(silences[1])
    said = out.stdout
    # The CLI says each silence's sentence, as the report and the live page do.
    assert "alerts whose instance is db1 or db1:<port> are silenced" in said
    assert f"the silence of alerts about db1 is expired (silence {silence_id})" in said

    # During the fault window Alertmanager's own API shows it active, matching the target.
    states = poller.states(silence_id)
    window = [state for t, state in states if applied["t"] <= t <= reverted["t"] - 0.2]
    assert len(window) >= 20, f"too few reads in the 10 s window: {states}"
    assert set(window) == {"active"}, states
    silence = final[silence_id]
    assert silence["matchers"] == [
        {"name": "instance", "value": "db1(?::[0-9]+)?", "isRegex": True, "isEqual": True}
    ]
    assert silence["createdBy"] == "drillhall"
    assert (
        "partition-demo" in silence["comment"]
        and applied["data"]["fault_id"] in (silence["comment"])
    )

    # And it has expired within 2 s of the window's end, by Alertmanager's clock and by ours.
    end = reverted["t"]
    assert silence["status"]["state"] == "expired"
    assert end <= epoch(silence["endsAt"]) <= end + EXPIRY_S, (silence["endsAt"], end)
    first_expired = next(t for t, state in states if state == "expired")
    assert first_expired <= end + EXPIRY_S, (first_expired - end, states)
