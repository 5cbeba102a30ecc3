from __future__ import annotations

import pytest

from verifier.assertions.syntax import (
    And,
    Arith,
    AssertionSyntaxError,
    Call,
    Compare,
    Not,
    Number,
    Or,
    parse_assertion,
)


def test_comparison_of_error_rate_with_percent() -> None:
    expr = parse_assertion("error_rate(checkout, 5s) < 50%")

    assert isinstance(expr, Compare) and expr.op == "<"
    assert expr.left == Call(
        "error_rate", "checkout", "latency_ms", 5.0, "5s", 0, 11, window_offset=21
    )
    assert isinstance(expr.right, Number) and expr.right.value == 50.0


def test_seconds_compared_with_a_latency_become_milliseconds() -> None:
    expr = parse_assertion("p99(checkout.latency_ms, 30s) < 2s")

    assert isinstance(expr, Compare) and isinstance(expr.right, Number)
    assert expr.right.value == 2000.0
    assert parse_assertion("p99(checkout, 30s) < 250ms").right.value == 250.0  # type: ignore[attr-defined]
    assert parse_assertion("p99(checkout, 30s) < 250").right.value == 250.0  # type: ignore[attr-defined]


def test_and_binds_tighter_than_or_and_not_binds_tightest() -> None:
    expr = parse_assertion(
        "count(a, 1s) > 0 or not p50(b, 1s) > 5 and availability(c, 1m) >= 99.9%"
    )

    assert isinstance(expr, Or)
    assert isinstance(expr.items[1], And)
    assert isinstance(expr.items[1].items[0], Not)
    assert expr.references() == {"a", "b", "c"}
    assert expr.max_window() == 60.0


def test_parentheses_group_boolean_expressions() -> None:
    expr = parse_assertion(
        "(error_rate(a, 1s) < 5 or error_rate(b, 1s) < 5) and max(a.status, 2s) < 500"
    )

    assert isinstance(expr, And) and isinstance(expr.items[0], Or)
    status = expr.items[1]
    assert isinstance(status, Compare) and isinstance(status.left, Call)
    assert status.left.metric == "status" and status.left.kind == "status"


def test_windows_take_every_time_unit() -> None:
    windows = [
        parse_assertion(f"count(a, {w}) > 0").max_window() for w in ("500ms", "2s", "1.5m", "1h")
    ]
    assert windows == [0.5, 2.0, 90.0, 3600.0]


def test_probe_names_may_contain_hyphens() -> None:
    assert parse_assertion("avg(home-page, 10s) < 100").references() == {"home-page"}


def test_rendering_reads_like_the_source() -> None:
    text = "p99(checkout, 30s) < 2s and not (count(checkout, 5s) == 0 or avg(x.status, 1s) != 200)"
    assert str(parse_assertion(text)) == text


def assert_syntax_error(text: str, offset: int, message: str) -> None:
    """Parsing text fails with message (a part of it) pointing at offset."""
    with pytest.raises(AssertionSyntaxError) as caught:
        parse_assertion(text)
    assert message in caught.value.message
    assert caught.value.offset == offset


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("error_rate(checkout 5s) < 50%", 20, "expected ',' after probe name"),
        ("p98(checkout, 5s) < 200", 0, "unknown function 'p98' (did you mean 'p99'?)"),
        ("error_rat(checkout, 5s) < 5", 0, "did you mean 'error_rate'?"),
        ("", 0, "empty assertion"),
        ("   ", 0, "empty assertion"),
        ("error_rate(checkout, 5s)", 24, "expected a comparison operator"),
        ("error_rate(checkout, 5s) = 5", 25, "unknown operator '=' (did you mean '=='?)"),
        ("error_rate(checkout, 5s) < ", 27, "expected a number or a function call"),
        ("error_rate(checkout, 5) < 5", 21, "expected a window duration like 5s"),
        ("error_rate(checkout, 0s) < 5", 21, "expected a window duration like 5s"),
        ("error_rate(checkout, 5s < 5", 24, "expected ')' after the window"),
        (
            "p99(checkout.latency, 5s) < 5",
            13,
            "unknown metric 'latency' (did you mean 'latency_ms'?)",
        ),
        ("error_rate(checkout.status, 5s) < 5", 20, "give it a probe name without a metric"),
        ("checkout < 5", 0, "expected a number or a function call, found 'checkout'"),
        ("p99(checkout, 5s) < 5 < 6", 22, "cannot be chained"),
        ("p99(checkout, 5s) < 5 p99(x, 1s) < 1", 22, "unexpected 'p99'"),
        ("(p99(a, 1s) < 5", 15, "expected ')' to close the '(' at offset 0"),
        ("p99(a, 1s) < 5)", 14, "unmatched ')'"),
        ("p99(a, 1s) < 5 and", 18, "expected a number or a function call"),
        ("error_rate(a, 1s) < 2s", 20, "'2s' is a time"),
        ("p99(a, 1s) < 5%", 13, "'5%' is a percentage"),
        ("p99(a, 1s) < 5kb", 14, "unknown unit 'kb'"),
        ("p99(a, 1s) < $5", 13, "unexpected character '$'"),
        ("p99(and, 1s) < 5", 4, "expected a probe name"),
        ("p99 < 5", 4, "expected '(' after 'p99'"),
    ],
)
def test_syntax_errors_report_message_and_offset(text: str, offset: int, message: str) -> None:
    assert_syntax_error(text, offset, message)


def test_absurd_nesting_is_a_syntax_error_not_a_crash() -> None:
    with pytest.raises(AssertionSyntaxError, match="nested too deeply"):
        parse_assertion("(" * 10_000 + "count(a, 1s) > 0" + ")" * 10_000)
    with pytest.raises(AssertionSyntaxError, match="nested too deeply"):
        parse_assertion("not " * 10_000 + "count(a, 1s) > 0")


def test_parser_never_evaluates_python() -> None:
    with pytest.raises(AssertionSyntaxError):
        parse_assertion("__import__('os').system('true') == 0")


def test_baseline_comparison_parses_with_arithmetic() -> None:
    text = "p99(checkout.latency_ms, 30s) < 2 * baseline.p99(checkout.latency_ms)"
    expr = parse_assertion(text)

    assert isinstance(expr, Compare) and isinstance(expr.right, Arith)
    assert expr.right.op == "*" and expr.right.kind == "latency"
    baseline = expr.right.right
    assert isinstance(baseline, Call) and baseline.baseline and baseline.func == "p99"
    assert (baseline.offset, baseline.probe_offset, baseline.window) == (45, 49, 0.0)
    assert expr.max_window() == 30.0 and expr.references() == {"checkout"}


def test_multiplication_binds_tighter_than_addition() -> None:
    expr = parse_assertion("avg(a, 5s) < 100ms + 2 * baseline.avg(a) - 1")

    assert isinstance(expr, Compare) and isinstance(expr.right, Arith)
    assert expr.right.op == "-"
    added = expr.right.left
    assert isinstance(added, Arith) and added.op == "+" and isinstance(added.right, Arith)
    assert added.right.op == "*"


def test_parenthesised_arithmetic_and_ratios() -> None:
    expr = parse_assertion("(p99(a, 5s) + 1s) / baseline.p99(a) < 1.5")

    assert isinstance(expr, Compare) and isinstance(expr.left, Arith)
    assert expr.left.op == "/" and expr.left.kind is None  # a ratio of two latencies
    plus = expr.left.left
    assert isinstance(plus, Arith) and isinstance(plus.right, Number)
    assert plus.right.value == 1000.0
    # Parentheses that group conditions still do.
    assert isinstance(parse_assertion("(count(a, 1s) > 0 or last(a) < 5) and rate(a, 2s) > 1"), And)


def test_rate_and_last() -> None:
    rate = parse_assertion("rate(a, 10s) >= 9.5")
    last = parse_assertion("last(a.status) != 503")

    assert isinstance(rate, Compare) and isinstance(rate.left, Call)
    assert rate.left.kind == "rate" and rate.left.window == 10.0
    assert isinstance(last, Compare) and isinstance(last.left, Call)
    assert (last.left.func, last.left.metric, last.left.window) == ("last", "status", 0.0)
    assert last.max_window() == 0.0


def test_negative_numbers_and_subtraction() -> None:
    expr = parse_assertion("last(a) - baseline.avg(a) > -5ms")
    assert isinstance(expr, Compare) and isinstance(expr.right, Number)
    assert expr.right.value == -5.0


@pytest.mark.parametrize(
    "text",
    [
        "p99(checkout, 30s) < 2 * baseline.p99(checkout)",
        "avg(a, 5s) - baseline.avg(a) < 100",
        "(p99(a, 5s) + 10) / 2 < baseline.max(a) - 1",
        "count(a, 5s) / (count(b, 1s) * 3) > 0",
        "last(a.status) == 200 and rate(a, 5s) > 9",
        "p99(a, 1s) - (avg(a, 1s) - 1) < -5",
    ],
)
def test_rendering_round_trips_new_syntax(text: str) -> None:
    assert str(parse_assertion(text)) == text


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("p99(a, 1s) < 2 * baseline.p99(a, 5s)", 31, "baseline functions cover the whole"),
        ("p99(a, 1s) < baseline.p98(a)", 22, "unknown baseline function 'p98'"),
        ("p99(a, 1s) < baseline.last(a)", 22, "unknown baseline function 'last'"),
        ("p99(a, 1s) < baseline.", 22, "expected a function after 'baseline.'"),
        ("last(a, 5s) > 1", 6, "reads the latest sample; remove the window"),
        ("last(a > 1", 7, "expected ')' after 'a'"),
        ("rate(a.latency_ms, 5s) > 1", 7, "give it a probe name without a metric"),
        ("p99(a, 1s) < 2 * ", 17, "expected a number or a function call"),
        ("p99(a, 1s) * p99(a, 1s) < 5", 11, "cannot multiply"),
        ("p99(a, 1s) < 5 / error_rate(a, 1s)", 15, "cannot divide"),
        ("p99(a, 1s) + error_rate(a, 1s) < 5", 11, "cannot add a latency"),
        ("count(a, 1s) < rate(a, 1s)", 13, "cannot compare a count"),
        ("error_rate(a, 1s) < 2 * 1s", 18, "cannot compare a percent"),
        ("error_rate(a, 1s) + 1s < 2", 20, "'1s' is a time"),
        ("p99(a, 1s) - 5% < 0", 13, "'5%' is a percentage"),
        ("p99(a, 1s) < - 5", 13, "minus sign must be followed directly by a number"),
        ("(p99(a, 1s) + 1 < 5", 19, "expected ')' to close the '(' at offset 0"),
        ("p99(a, 1s) < (2 * 3", 19, "expected ')' to close the '(' at offset 13"),
        ("p99(a, 1s) < 5 * * 2", 17, "expected a number or a function call"),
    ],
)
def test_new_syntax_errors_report_message_and_offset(text: str, offset: int, message: str) -> None:
    assert_syntax_error(text, offset, message)


def test_a_samples_value_is_a_metric_of_its_own_kind() -> None:
    last = parse_assertion("last(up.value) == 1")
    avg = parse_assertion("avg(queue_depth.value, 30s) < 100")

    assert isinstance(last, Compare) and isinstance(last.left, Call)
    assert (last.left.probe, last.left.metric, last.left.kind) == ("up", "value", "value")
    assert isinstance(avg, Compare) and isinstance(avg.left, Call)
    assert (avg.left.func, avg.left.metric, avg.left.window) == ("avg", "value", 30.0)
    assert str(avg) == "avg(queue_depth.value, 30s) < 100"


@pytest.mark.parametrize(
    ("text", "probe", "kind"),
    [
        ("rate(kernel.tcp_retransmits, 5s) < 10", "kernel.tcp_retransmits", "rate"),
        ("count(kernel.tcp_connect_failures, 1m) == 0", "kernel.tcp_connect_failures", "count"),
        ("p99(kernel.read_latency_ms, 30s) < 20ms", "kernel.read_latency_ms", "latency"),
        ("last(kernel.tcp_resets_sent) < 3", "kernel.tcp_resets_sent", "count"),
        ("max(kernel.fsync_errors, 10s) == 0", "kernel.fsync_errors", "count"),
    ],
)
def test_kernel_references_read_the_collectors_series(text: str, probe: str, kind: str) -> None:
    expr = parse_assertion(text)

    assert isinstance(expr, Compare) and isinstance(expr.left, Call)
    call = expr.left
    assert (call.probe, call.metric, call.kind, call.kernel) == (probe, "value", kind, True)
    assert call.probe_offset == text.index("kernel")
    assert expr.references() == {probe}
    assert str(expr) == text


def test_kernel_references_mix_with_probes_and_baselines() -> None:
    text = (
        "rate(kernel.tcp_retransmits, 5s) < 2 * baseline.rate(kernel.tcp_retransmits) + 1 "
        "and error_rate(checkout, 5s) < 1%"
    )
    expr = parse_assertion(text)
    assert expr.references() == {"kernel.tcp_retransmits", "checkout"}
    assert str(expr) == text
    # A probe that happens to be called "kernel" is still a probe without a dot.
    assert parse_assertion("p99(kernel, 5s) < 5").references() == {"kernel"}


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("error_rate(kernel.tcp_retransmits, 5s) < 1", 0, "kernel series have no errors"),
        ("1 < availability(kernel.tcp_retransmits, 5s)", 4, "kernel series have no errors"),
        ("1 < baseline.error_rate(kernel.tcp_resets_sent)", 13, "kernel series have no errors"),
        ("rate(kernel.Tcp_retransmits, 5s) < 1", 12, "expected a kernel metric"),
        ("rate(kernel.tcp-retransmits, 5s) < 1", 12, "expected a kernel metric"),
        ("rate(kernel., 5s) < 1", 12, "expected a kernel metric"),
        ("rate(kernel.tcp_retransmits.value, 5s) < 1", 27, "without a metric"),
        ("last(kernel.tcp_retransmits, 5s) < 1", 27, "remove the window"),
        ("p99(kernel.read_latency_ms, 5s) < 5%", 34, "'5%' is a percentage"),
        ("avg(q.value, 5s) < 1s", 19, "'1s' is a time"),
        ("last(q.value) < p99(q, 5s)", 14, "cannot compare a value"),
        ("count(q.value, 5s) > 1", 8, "give it a probe name without a metric"),
        ("avg(q.values, 5s) < 1", 6, "unknown metric 'values' (did you mean 'value'?)"),
    ],
)
def test_kernel_and_value_errors_report_message_and_offset(
    text: str, offset: int, message: str
) -> None:
    assert_syntax_error(text, offset, message)
