"""Proof of effect from kernel samples: pure logic over recorded samples."""

from __future__ import annotations

from typing import Any

from drills.playbook.model import proof_of
from verifier.proof import EvidenceLog, KernelPoint, Proof, no_effect


def proof(kind: str, params: dict[str, Any] | None = None) -> Proof | None:
    """The proof the fault model of ``kind`` gives, as the runner asks for it."""
    return proof_of(kind, params or {})


def log_of(*points: tuple[float, str, str, float]) -> EvidenceLog:
    log = EvidenceLog()
    for t, host, metric, value in points:
        log.add(KernelPoint(t, host, metric, value))
    return log


def test_a_partition_with_failed_connects_on_a_peer_has_an_effect() -> None:
    log = log_of(
        (11.0, "web", "tcp_connect_failures", 0),
        (12.0, "web", "tcp_connect_failures", 3),
        (12.0, "db1", "tcp_retransmits", 0),
    )
    assert no_effect(proof("network.partition"), ["db1", "web"], 10.0, 15.0, log) is None


def test_zeros_all_along_mean_no_effect_and_the_message_names_the_hosts() -> None:
    log = log_of(
        (11.0, "web", "tcp_connect_failures", 0),
        (12.0, "web", "tcp_retransmits", 0),
        (12.0, "db1", "tcp_resets_received", 0),
    )
    judgement = no_effect(proof("network.partition"), ["db1", "web"], 10.0, 15.0, log)
    assert judgement is not None and judgement.judged
    assert judgement.message.startswith("fault applied, no effect seen")
    assert "db1, web" in judgement.message


def test_a_reset_between_the_partitioned_hosts_is_not_the_partitions_effect() -> None:
    """A drop sends no reset. The e2e run of a partition of a port nobody uses saw one reset
    from web to db1 inside its window, on a loaded machine (a link between the lab's
    services, closed with unread data), and passed as if the cut had done something."""
    log = log_of(
        (11.0, "web", "tcp_connect_failures", 0),
        (12.0, "web", "tcp_retransmits", 0),
        (13.0, "web", "tcp_resets_sent", 1),
        (13.0, "db1", "tcp_resets_received", 1),
    )
    judgement = no_effect(proof("network.partition"), ["db1", "web"], 10.0, 15.0, log)
    assert judgement is not None and judgement.judged
    # Resets are what network.reset does, and prove it.
    assert no_effect(proof("network.reset"), ["db1", "web"], 10.0, 15.0, log) is None


def test_evidence_outside_the_window_does_not_count_but_the_late_interval_does() -> None:
    before = log_of((9.0, "web", "tcp_retransmits", 5), (30.0, "web", "tcp_retransmits", 5))
    assert no_effect(proof("network.loss"), ["web"], 10.0, 15.0, before) is not None
    # The sample ending 1 s after the revert holds events from the last second of the fault.
    late = log_of((16.0, "web", "tcp_retransmits", 2))
    assert no_effect(proof("network.loss"), ["web"], 10.0, 15.0, late) is None


def test_only_the_faults_own_hosts_count() -> None:
    log = log_of((12.0, "db2", "tcp_retransmits", 40), (12.0, "web", "tcp_retransmits", 0))
    assert no_effect(proof("network.loss"), ["web"], 10.0, 15.0, log) is not None


def test_a_host_that_sent_no_evidence_makes_it_cannot_tell_not_no_effect() -> None:
    # db1 (the target) saw nothing, web (the peer, where a partition shows) sent nothing.
    log = log_of((12.0, "db1", "tcp_retransmits", 0), (12.0, "db1", "tcp_connect_failures", 0))
    judgement = no_effect(proof("network.partition"), ["db1", "web"], 10.0, 15.0, log)
    assert judgement is not None and not judgement.judged
    assert judgement.message == (
        "cannot tell whether the fault took effect: no kernel evidence from web"
    )
    # Evidence seen on the hosts that did report is enough to show an effect.
    seen = log_of((12.0, "db1", "tcp_retransmits", 4))
    assert no_effect(proof("network.partition"), ["db1", "web"], 10.0, 15.0, seen) is None


def test_faults_tcp_cannot_see_are_not_judged() -> None:
    log = log_of((12.0, "web", "tcp_retransmits", 0))
    assert no_effect(proof("network.latency"), ["web"], 10.0, 15.0, log) is None


def test_samples_arriving_out_of_order_are_summed_by_time() -> None:
    log = log_of(
        (14.0, "web", "tcp_retransmits", 1),
        (11.0, "web", "tcp_retransmits", 2),
        (20.0, "web", "tcp_retransmits", 4),
    )
    assert log.total(["web"], ("tcp_retransmits",), 10.0, 15.0) == 3


def histogram(t: float, host: str, metric: str, buckets: dict[str, int]) -> KernelPoint:
    bounds = tuple(sorted((float(bound), n) for bound, n in buckets.items()))
    return KernelPoint(t, host, metric, 0.0, buckets=bounds)


DELAY = {"delay": 0.05, "operations": ["read"]}


def test_an_io_delay_shows_as_reads_in_the_buckets_of_its_delay() -> None:
    log = EvidenceLog()
    log.add(histogram(12.0, "web", "read_latency_ms", {"0.032": 40, "64": 3}))
    assert no_effect(proof("io.delay", DELAY), ["web"], 10.0, 15.0, log) is None


def test_fast_reads_only_mean_the_io_delay_had_no_effect() -> None:
    log = EvidenceLog()
    log.add(histogram(12.0, "web", "read_latency_ms", {"0.032": 40, "0.5": 2, "16": 1}))
    # Slow writes do not count for a fault that delays reads only.
    log.add(histogram(12.0, "web", "write_latency_ms", {"64": 5}))
    judgement = no_effect(proof("io.delay", DELAY), ["web"], 10.0, 15.0, log)
    assert judgement is not None and judgement.judged
    assert "no read calls of 25 ms or more on web" in judgement.message


def test_an_io_error_shows_as_failed_calls_of_its_operations() -> None:
    log = log_of((12.0, "db1", "write_errors", 0), (12.0, "db1", "read_errors", 7))
    params = {"operations": ["write", "fsync"]}
    judgement = no_effect(proof("io.error", params), ["db1"], 10.0, 15.0, log)
    assert judgement is not None and "no write errors, fsync errors" in judgement.message
    assert no_effect(proof("io.error", {"operations": ["read"]}), ["db1"], 10.0, 15.0, log) is None


def test_a_fault_without_a_proof_is_not_judged() -> None:
    assert no_effect(None, ["web"], 10.0, 15.0, log_of((12.0, "web", "tcp_retransmits", 0))) is None


# -- lost evidence: beats say which intervals arrived -----------------------------------------

T0 = 1_700_000_000.0  # 22:13:20 UTC


def zeros_with_beats(hosts: list[str], lost: range = range(0)) -> EvidenceLog:
    """A partition's evidence, all zero, with a beat a second for 30 s from each host, except
    the seconds in ``lost`` (samples and beats both: the broker was gone)."""
    log = EvidenceLog()
    for second in range(31):
        if second in lost:
            continue
        for host in hosts:
            log.add(KernelPoint(T0 + second, host, "tcp_connect_failures", 0))
            log.beat(host, T0 + second, 1.0)
    return log


def test_complete_zero_evidence_is_no_effect() -> None:
    log = zeros_with_beats(["db1", "web"])
    judgement = no_effect(proof("network.partition"), ["db1", "web"], T0 + 2, T0 + 22, log)
    assert judgement is not None and judgement.judged
    assert judgement.message.startswith("fault applied, no effect seen")


def test_a_hole_in_the_beats_during_the_fault_is_cannot_tell_with_its_span() -> None:
    # Ten seconds of web's evidence (the beats of 22:13:25 to 22:13:34) never arrived.
    log = zeros_with_beats(["db1", "web"])
    holed = EvidenceLog()
    for second in range(31):
        holed.add(KernelPoint(T0 + second, "db1", "tcp_connect_failures", 0))
        holed.beat("db1", T0 + second, 1.0)
        if second not in range(5, 15):
            holed.add(KernelPoint(T0 + second, "web", "tcp_connect_failures", 0))
            holed.beat("web", T0 + second, 1.0)
    assert no_effect(proof("network.partition"), ["db1", "web"], T0 + 2, T0 + 22, log) is not None
    judgement = no_effect(proof("network.partition"), ["db1", "web"], T0 + 2, T0 + 22, holed)
    assert judgement is not None and not judgement.judged
    assert judgement.message == (
        "cannot tell whether the fault took effect: kernel evidence from web is missing from "
        "22:13:24 to 22:13:34 UTC (the samples were lost, e.g. a broker restart)"
    )


def test_an_effect_seen_despite_a_hole_is_still_an_effect() -> None:
    log = zeros_with_beats(["web"], lost=range(5, 15))
    log.add(KernelPoint(T0 + 18, "web", "tcp_connect_failures", 4))
    assert no_effect(proof("network.partition"), ["web"], T0 + 2, T0 + 22, log) is None


def test_a_hole_outside_the_fault_or_a_late_beat_is_not_a_gap() -> None:
    outside = zeros_with_beats(["web"], lost=range(24, 30))
    assert outside.gaps("web", T0 + 2, T0 + 22) == []
    late = zeros_with_beats(["web"], lost=range(10, 11))  # one beat lost: 2 s apart, not 2.5
    assert late.gaps("web", T0 + 2, T0 + 22) == []
    judgement = no_effect(proof("network.partition"), ["web"], T0 + 2, T0 + 22, late)
    assert judgement is not None and judgement.judged


def test_evidence_that_stopped_before_the_fault_ended_is_a_gap_to_its_end() -> None:
    log = zeros_with_beats(["web"], lost=range(15, 31))
    [gap] = log.gaps("web", T0 + 2, T0 + 22)
    assert (gap.start, gap.end) == (T0 + 14, T0 + 22)


def test_a_gap_while_the_run_could_not_fetch_says_so() -> None:
    log = zeros_with_beats(["web"], lost=range(15, 31))
    log.unread(T0 + 21, "Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    judgement = no_effect(proof("network.partition"), ["web"], T0 + 2, T0 + 22, log)
    assert judgement is not None and not judgement.judged
    assert judgement.message.endswith(
        "kernel evidence from web is missing from 22:13:34 to 22:13:42 UTC (the run could not "
        "fetch them: Error 111 connecting to 127.0.0.1:6379. Connection refused.)"
    )
