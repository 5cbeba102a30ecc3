"""Proof of effect from kernel samples: pure logic over recorded samples."""

from __future__ import annotations

from verifier.evidence import EvidenceLog, KernelPoint, no_effect


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
    assert no_effect("network.partition", ["db1", "web"], 10.0, 15.0, log) is None


def test_zeros_all_along_mean_no_effect_and_the_message_names_the_hosts() -> None:
    log = log_of(
        (11.0, "web", "tcp_connect_failures", 0),
        (12.0, "web", "tcp_retransmits", 0),
        (12.0, "db1", "tcp_resets_received", 0),
    )
    judgement = no_effect("network.partition", ["db1", "web"], 10.0, 15.0, log)
    assert judgement is not None and judgement.judged
    assert judgement.message.startswith("fault applied, no effect seen")
    assert "db1, web" in judgement.message


def test_evidence_outside_the_window_does_not_count_but_the_late_interval_does() -> None:
    before = log_of((9.0, "web", "tcp_retransmits", 5), (30.0, "web", "tcp_retransmits", 5))
    assert no_effect("network.loss", ["web"], 10.0, 15.0, before) is not None
    # The sample ending 1 s after the revert holds events from the last second of the fault.
    late = log_of((16.0, "web", "tcp_retransmits", 2))
    assert no_effect("network.loss", ["web"], 10.0, 15.0, late) is None


def test_only_the_faults_own_hosts_count() -> None:
    log = log_of((12.0, "db2", "tcp_retransmits", 40), (12.0, "web", "tcp_retransmits", 0))
    assert no_effect("network.loss", ["web"], 10.0, 15.0, log) is not None


def test_a_host_that_sent_no_evidence_makes_it_cannot_tell_not_no_effect() -> None:
    # db1 (the target) saw nothing, web (the peer, where a partition shows) sent nothing.
    log = log_of((12.0, "db1", "tcp_retransmits", 0), (12.0, "db1", "tcp_connect_failures", 0))
    judgement = no_effect("network.partition", ["db1", "web"], 10.0, 15.0, log)
    assert judgement is not None and not judgement.judged
    assert judgement.message == (
        "cannot tell whether the fault took effect: no kernel evidence from web"
    )
    # Evidence seen on the hosts that did report is enough to show an effect.
    seen = log_of((12.0, "db1", "tcp_retransmits", 4))
    assert no_effect("network.partition", ["db1", "web"], 10.0, 15.0, seen) is None


def test_faults_tcp_cannot_see_are_not_judged() -> None:
    log = log_of((12.0, "web", "tcp_retransmits", 0))
    assert no_effect("network.latency", ["web"], 10.0, 15.0, log) is None


def test_samples_arriving_out_of_order_are_summed_by_time() -> None:
    log = log_of(
        (14.0, "web", "tcp_retransmits", 1),
        (11.0, "web", "tcp_retransmits", 2),
        (20.0, "web", "tcp_retransmits", 4),
    )
    assert log.total(["web"], ("tcp_retransmits",), 10.0, 15.0) == 3
