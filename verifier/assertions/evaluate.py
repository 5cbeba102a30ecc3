"""Evaluate a parsed assertion over the samples in a SampleStore.

Logic is three-valued: a function over a window without samples is unknown (None), a
comparison with an unknown side is unknown, ``and``/``or``/``not`` follow Kleene's rules
(``False and None`` is False, ``True or None`` is True).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import singledispatch

from verifier.assertions.parser import And, Call, Compare, Expr, Not, Number, Or
from verifier.windows import Sample, SampleStore


@dataclass(frozen=True)
class Outcome:
    holds: bool | None  # None: not enough data to say
    value: float | None  # left-hand value of the first comparison, for display


@dataclass(frozen=True)
class _Scope:
    store: SampleStore
    now: float
    since: float


def evaluate(expr: Expr, store: SampleStore, now: float, since: float) -> Outcome:
    """Evaluate ``expr`` at ``now``; windows never reach back to ``since`` or earlier."""
    scope = _Scope(store, now, since)
    first = next((node for node in _walk(expr) if isinstance(node, Compare)), None)
    value = _value(first.left, scope) if first is not None else None
    return Outcome(_holds(expr, scope), value)


def _walk(expr: Expr) -> list[Expr]:
    nodes = [expr]
    for child in expr.children():
        nodes.extend(_walk(child))
    return nodes


@singledispatch
def _holds(expr: Expr, scope: _Scope) -> bool | None:
    raise TypeError(f"not a boolean expression: {expr!r}")


@_holds.register
def _(expr: Compare, scope: _Scope) -> bool | None:
    left = _value(expr.left, scope)
    right = _value(expr.right, scope)
    if left is None or right is None:
        return None
    return _COMPARE[expr.op](left, right)


@_holds.register
def _(expr: And, scope: _Scope) -> bool | None:
    results = [_holds(item, scope) for item in expr.items]
    if False in results:
        return False
    return None if None in results else True


@_holds.register
def _(expr: Or, scope: _Scope) -> bool | None:
    results = [_holds(item, scope) for item in expr.items]
    if True in results:
        return True
    return None if None in results else False


@_holds.register
def _(expr: Not, scope: _Scope) -> bool | None:
    result = _holds(expr.operand, scope)
    return None if result is None else not result


_COMPARE = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def _value(expr: Number | Call, scope: _Scope) -> float | None:
    if isinstance(expr, Number):
        return expr.value
    start = max(scope.now - expr.window, scope.since)
    samples = scope.store.window(expr.probe, start, scope.now)
    return call_value(expr, samples)


def call_value(call: Call, samples: list[Sample]) -> float | None:
    """The value of one function over the samples of its window."""
    if call.func == "count":
        # An empty window counts 0 rather than unknown: "count(p, 5s) > 0" must be able to fail.
        return float(len(samples))
    if not samples:
        return None
    if call.func in ("error_rate", "availability"):
        failed = sum(1 for sample in samples if not sample.ok)
        share = failed if call.func == "error_rate" else len(samples) - failed
        return 100.0 * share / len(samples)
    values = sorted(
        float(v) for v in (getattr(sample, call.metric) for sample in samples) if v is not None
    )
    if not values:
        return None
    if call.func == "avg":
        return sum(values) / len(values)
    if call.func == "min":
        return values[0]
    if call.func == "max":
        return values[-1]
    return _percentile(values, float(call.func[1:]))


def _percentile(ordered: list[float], percent: float) -> float:
    # Nearest rank: always a value that was actually observed.
    rank = max(1, math.ceil(percent / 100.0 * len(ordered)))
    return ordered[rank - 1]
