"""Kernel evidence of a stored run, summarized: which metrics moved while faults were on, and
whether each fault showed its proof of effect.

"Moved" compares rates, not totals: a fault window of 60 s and a record of 20 s around it
would otherwise always favour the longer span. Latency metrics (``*_ms``) are compared by
their mean, since their samples are levels, not counts.

Proof of effect is judged once, by the engine at the end of the run (verifier/proof.py), and
stored as a ``no_effect`` event only where it failed or could not tell. Here the stored
judgement is the authority; for the faults without one, the same rule (the fault kind's
``Proof``, over the same hosts and window) is applied to the stored samples to say how much
evidence was seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from drills.playbook.model import proof_of
from drills.report.model import ChartPoint, FaultWindow, KernelMetric, KernelSeries, ProofOfEffect
from verifier.proof import LATE_SECONDS, EvidenceLog, KernelPoint

# A rate that differs from the other by more than this share of the larger one has moved,
# if the difference is worth at least MIN_EVENTS events over the fault windows (or MIN_MS for
# a latency): a single reset in a quiet minute is not a change.
MOVED_SHARE = 0.5
MIN_EVENTS = 3.0
MIN_MS = 1.0


@dataclass(frozen=True)
class Span:
    start: float  # absolute times
    end: float


def _inside(t: float, spans: Sequence[Span]) -> bool:
    return any(s.start < t <= s.end + LATE_SECONDS for s in spans)


def _covered(spans: Sequence[Span], start: float, end: float) -> float:
    """Seconds of ``start``..``end`` inside the spans (merged, each with its late margin)."""
    merged: list[list[float]] = []
    for s in sorted(spans, key=lambda s: s.start):
        a, b = max(s.start, start), min(s.end + LATE_SECONDS, end)
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return sum(b - a for a, b in merged)


def _moved(rate_in: float, rate_out: float, least: float) -> bool:
    top = max(abs(rate_in), abs(rate_out))
    difference = abs(rate_in - rate_out)
    return top > 0 and difference > MOVED_SHARE * top and difference >= least


def _phrase(metric: str) -> str:
    return metric.replace("_", " ")


def kernel_series(
    samples: Sequence[dict[str, Any]], spans: Sequence[Span], t0: float, t_end: float
) -> list[KernelSeries]:
    """Each (host, metric): totals and rates inside and outside the fault windows."""
    by_key: dict[tuple[str, str], list[tuple[float, float, str]]] = {}
    for e in samples:
        d = e["data"]
        value = d.get("value")
        if not isinstance(value, int | float):
            continue
        at = d.get("at") if isinstance(d.get("at"), int | float) else e["t"]
        key = (str(d.get("host") or "?"), str(d["probe"]).removeprefix("kernel."))
        by_key.setdefault(key, []).append((float(at), float(value), str(d.get("source") or "")))
    seconds_in = _covered(spans, t0, t_end)
    seconds_out = max(t_end - t0 - seconds_in, 0.0)
    out = []
    for (host, metric), points in sorted(by_key.items()):
        points.sort(key=lambda p: p[0])
        inside = [v for t, v, _ in points if _inside(t, spans)]
        outside = [v for t, v, _ in points if not _inside(t, spans)]
        if metric.endswith("_ms"):  # a level: compare means
            rate_in = sum(inside) / len(inside) if inside else 0.0
            rate_out = sum(outside) / len(outside) if outside else 0.0
        else:
            rate_in = sum(inside) / seconds_in if seconds_in else 0.0
            rate_out = sum(outside) / seconds_out if seconds_out else 0.0
        out.append(
            KernelSeries(
                host=host,
                metric=metric,
                source=points[-1][2],
                during_faults=round(sum(inside), 6),
                outside_faults=round(sum(outside), 6),
                rate_during=round(rate_in, 6),
                rate_outside=round(rate_out, 6),
                moved=bool(spans)
                and _moved(
                    rate_in,
                    rate_out,
                    MIN_MS if metric.endswith("_ms") else MIN_EVENTS / max(seconds_in, 1e-9),
                ),
                points=[ChartPoint(round(t - t0, 3), v) for t, v, _ in points],
            )
        )
    return out


def kernel_summary(series: Sequence[KernelSeries]) -> list[KernelMetric]:
    """One row per metric across hosts, moved ones first."""
    by_metric: dict[str, list[KernelSeries]] = {}
    for s in series:
        by_metric.setdefault(s.metric, []).append(s)
    rows = []
    for metric, group in by_metric.items():
        level = metric.endswith("_ms")
        moved_hosts = [s.host for s in group if s.moved]
        if level:
            during = max(s.rate_during for s in group)
            outside = max(s.rate_outside for s in group)
            rate_in, rate_out = during, outside
        else:
            during = sum(s.during_faults for s in group)
            outside = sum(s.outside_faults for s in group)
            rate_in = sum(s.rate_during for s in group)
            rate_out = sum(s.rate_outside for s in group)
        moved = bool(moved_hosts)
        if level:
            sentence = (
                f"{_phrase(metric)}: {rate_in:.1f} ms on average during faults, "
                f"{rate_out:.1f} ms outside them"
            )
        else:
            sentence = (
                f"{_phrase(metric)}: {during:g} during faults ({rate_in:.2f}/s), "
                f"{outside:g} outside them ({rate_out:.2f}/s)"
            )
        if moved:
            sentence += f"; changed on {', '.join(moved_hosts)}"
        rows.append(
            KernelMetric(
                metric=metric,
                hosts=sorted({s.host for s in group}),
                during_faults=round(during, 6),
                outside_faults=round(outside, 6),
                rate_during=round(rate_in, 6),
                rate_outside=round(rate_out, 6),
                moved=moved,
                sentence=sentence,
            )
        )
    rows.sort(key=lambda r: (not r.moved, r.metric))
    return rows


def proofs(
    faults: Sequence[FaultWindow],
    params: dict[str, dict[str, Any]],
    peers: dict[str, str],
    samples: Sequence[dict[str, Any]],
    judged: dict[str, dict[str, Any]],
    watched: set[str],
    t0: float,
) -> list[ProofOfEffect]:
    """Per fault: the stored judgement where there is one, else the evidence seen.

    ``params``: each fault's agent parameters; ``peers``: collector address -> host;
    ``judged``: the stored ``no_effect`` events by fault id; ``watched``: hosts whose
    collectors ran.
    """
    log = EvidenceLog()
    for e in samples:
        d = e["data"]
        if isinstance(d.get("value"), int | float):
            buckets = d.get("buckets") if isinstance(d.get("buckets"), dict) else {}
            try:
                pairs = tuple(sorted((float(b), int(n)) for b, n in buckets.items()))
            except (TypeError, ValueError):
                pairs = ()
            at = d.get("at") if isinstance(d.get("at"), int | float) else e["t"]
            metric = str(d["probe"]).removeprefix("kernel.")
            log.add(
                KernelPoint(float(at), str(d.get("host")), metric, float(d["value"]), "", pairs)
            )
    out = []
    for f in faults:
        p = params.get(f.fault_id, {})
        hosts = [f.host, *(peers[a] for a in p.get("peers", []) or [] if a in peers)]
        hosts = list(dict.fromkeys(hosts))
        proof = proof_of(f.kind, p)
        start = t0 + f.start_offset
        end = t0 + (f.end_offset if f.end_offset is not None else f.start_offset)
        stored = judged.get(f.fault_id)
        evidence = 0.0
        if proof is not None:
            seen = [h for h in hosts if h in watched]
            window = (start, end + LATE_SECONDS)
            if proof.counters:
                evidence += log.total(seen, proof.counters, *window)
            if proof.histograms:
                evidence += log.slow(seen, proof.histograms, proof.slow_ms, *window)
        on = ", ".join(hosts)
        if stored is not None:
            judged_ = bool(stored.get("judged", True))
            status = "no effect" if judged_ else "cannot tell"
            passed: bool | None = False if judged_ else None
            sentence = str(stored.get("message") or status)
        elif proof is None:
            status, passed = "not applicable", None
            sentence = f"the kernel collectors cannot see a {f.kind} fault; nothing to prove"
        elif not any(h in watched for h in hosts):
            status, passed = "cannot tell", None
            sentence = f"no kernel collectors ran on {on}; cannot tell whether it took effect"
        elif evidence > 0:
            status, passed = "effect seen", True
            sentence = (
                f"effect seen: {evidence:g} events of its proof ({proof.describe()}) on {on} "
                "while it was on"
            )
        else:  # no stored judgement (the run ended before it), and no trace in the samples
            status, passed = "cannot tell", None
            sentence = (
                f"no judgement was stored, and the stored samples show no {proof.describe()} "
                f"on {on} while it was on"
            )
        out.append(
            ProofOfEffect(
                fault_id=f.fault_id,
                kind=f.kind,
                hosts=hosts,
                status=status,
                passed=passed,
                evidence=round(evidence, 6),
                sentence=sentence,
            )
        )
    return out
