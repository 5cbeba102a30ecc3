"""Evaluate a parsed assertion over the samples in a SampleStore.

Logic is three-valued: a function over a window without samples is unknown (None), a
comparison with an unknown side is unknown, ``and``/``or``/``not`` follow Kleene's rules
(``False and None`` is False, ``True or None`` is True). Arithmetic with an unknown operand,
or a division by zero, is unknown.

Windowed functions read the store's incrementally kept ``SlidingWindow`` statistics, so a
tick costs the same whatever the history; ``baseline.FUNC(...)`` reads ``Baseline`` values.

Chains (``a + b - c``, ``x and y and z``) are one node each and are folded in a loop, so the
evaluation recurses only as deep as the assertion's parentheses and ``not`` go (the parser caps
that), whatever its length.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import singledispatch

from verifier.assertions.syntax import And, Arith, Call, Compare, Expr, Not, Number, Or, Value
from verifier.windows import SampleStore, SlidingWindow

# A baseline value is known by what it computes, not where it was written.
BaselineKey = tuple[str, str, str]  # (func, probe, metric)
Baseline = Mapping[BaselineKey, float | None]


def baseline_key(call: Call) -> BaselineKey:
    return (call.func, call.probe, call.metric)


@dataclass(frozen=True)
class Outcome:
    holds: bool | None  # None: not enough data to say
    value: float | None  # left-hand value of the first comparison, for display


@dataclass(frozen=True)
class _Scope:
    store: SampleStore
    now: float
    since: float
    baseline: Baseline | None


def evaluate(
    expr: Expr,
    store: SampleStore,
    now: float,
    since: float,
    baseline: Baseline | None = None,
) -> Outcome:
    """Evaluate ``expr`` at ``now``; windows never reach back to ``since`` or earlier.

    ``baseline`` holds the frozen before-phase values; without it (or without a value for a
    call) a baseline call is unknown.
    """
    scope = _Scope(store, now, since, baseline)
    first = _first_comparison(expr)
    value = _value(first.left, scope) if first is not None else None
    return Outcome(_holds(expr, scope), value)


def _first_comparison(expr: Expr) -> Compare | None:
    """The leftmost comparison (a pre-order walk with a stack, not a recursion)."""
    pending: list[Expr] = [expr]
    while pending:
        node = pending.pop()
        if isinstance(node, Compare):
            return node
        pending.extend(reversed(node.children()))
    return None


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


def _value(expr: Value, scope: _Scope) -> float | None:
    if isinstance(expr, Number):
        return expr.value
    if isinstance(expr, Arith):
        return _arith(expr, scope)
    if expr.baseline:
        return None if scope.baseline is None else scope.baseline.get(baseline_key(expr))
    if expr.func == "last":
        return scope.store.last(expr.probe, expr.metric, scope.since, scope.now)
    stats = scope.store.stats(expr.probe, expr.metric, expr.window, scope.since, scope.now)
    return call_value(expr, stats)


def _arith(expr: Arith, scope: _Scope) -> float | None:
    """Left to right, ``((a op b) op c) ...``; unknown as soon as one step is."""
    result = _value(expr.terms[0], scope)
    for op, term in zip(expr.ops, expr.terms[1:], strict=True):
        operand = _value(term, scope)
        if result is None or operand is None:
            return None
        if op == "+":
            result += operand
        elif op == "-":
            result -= operand
        elif op == "*":
            result *= operand
        elif operand == 0:
            return None
        else:
            result /= operand
    return result


def call_value(call: Call, stats: SlidingWindow) -> float | None:
    """The value of one windowed function over a window's statistics."""
    if call.kernel:
        return _kernel_value(call, stats)
    if call.func == "count":
        # An empty window counts 0 rather than unknown: "count(p, 5s) > 0" must be able to fail.
        return float(stats.count)
    if call.func == "rate":
        span = stats.span
        return stats.count / span if span > 0 and not math.isinf(span) else None
    if not stats.count:
        return None
    if call.func in ("error_rate", "availability"):
        share = stats.failed if call.func == "error_rate" else stats.count - stats.failed
        return 100.0 * share / stats.count
    return _statistic(call, stats)


def _kernel_value(call: Call, stats: SlidingWindow) -> float | None:
    # A collector reports every interval, zeros included: an empty window means it is not
    # reporting, which must read as "cannot tell", never as "no retransmits".
    if not stats.values:
        return None
    if call.func == "count":
        return stats.total  # each value is the events of one interval
    if call.func == "rate":
        span = stats.span
        return stats.total / span if span > 0 and not math.isinf(span) else None
    return _statistic(call, stats)


def _statistic(call: Call, stats: SlidingWindow) -> float | None:
    if call.func == "avg":
        return stats.mean
    if call.func == "min":
        return stats.minimum
    if call.func == "max":
        return stats.maximum
    return stats.percentile(float(call.func[1:]))
