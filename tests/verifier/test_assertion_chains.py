"""A chain of one precedence level is one node: nothing recurses as long as an assertion is.

A 992-term sum used to be 991 nested nodes; evaluating or rendering it took a stack frame per
term and broke on any caller already a few frames deep.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

import pytest

from verifier.assertions.evaluate import evaluate
from verifier.assertions.syntax import (
    MAX_TERMS,
    And,
    Arith,
    AssertionSyntaxError,
    Compare,
    Or,
    parse_assertion,
)
from verifier.windows import Sample, SampleStore


def _store() -> SampleStore:
    store = SampleStore()
    for t in (1.0, 2.0):
        store.add(Sample(t=t, probe="a", ok=True, latency_ms=10.0 * t, status=200))
    return store


def _sum(terms: int) -> str:
    """The longest sum the term cap allows when ``terms`` is MAX_TERMS - 1 (a 0 on the right)."""
    return " + ".join(["count(a, 1s)"] * terms) + " > 0"


def _and_chain(comparisons: int) -> str:
    return " and ".join(["count(a, 1s) > 0"] * comparisons)


def deepest_stack(work: Callable[[], object]) -> int:
    """How many Python frames deeper than its caller ``work`` goes (this thread only).

    Counted with a profile hook rather than by lowering the recursion limit: the limit is one
    for the whole process, and another thread running meanwhile would break under it.
    """
    depth = deepest = 0

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal depth, deepest
        if event == "call":  # generators resuming count as calls, and yielding as returns
            depth += 1
            deepest = max(deepest, depth)
        elif event == "return":
            depth -= 1

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        work()
    finally:
        sys.setprofile(previous)
    return deepest


def test_a_sum_is_one_node_with_a_child_per_term() -> None:
    expr = parse_assertion(_sum(MAX_TERMS - 1))

    assert isinstance(expr, Compare) and isinstance(expr.left, Arith)
    assert len(expr.left.terms) == MAX_TERMS - 1 and set(expr.left.ops) == {"+"}
    assert expr.left.kind == "count"


def test_products_are_terms_of_the_sum_around_them() -> None:
    expr = parse_assertion("1 + 2 * 3 * 4 - 5 / 6 + 7 < 100")

    assert isinstance(expr, Compare) and isinstance(expr.left, Arith)
    assert expr.left.ops == ("+", "-", "+")
    products = [term for term in expr.left.terms if isinstance(term, Arith)]
    assert [p.ops for p in products] == [("*", "*"), ("/",)]
    assert str(expr) == "1 + 2 * 3 * 4 - 5 / 6 + 7 < 100"


def test_an_and_chain_is_one_node_with_a_child_per_comparison() -> None:
    expr = parse_assertion(_and_chain(MAX_TERMS // 2))
    assert isinstance(expr, And) and len(expr.items) == MAX_TERMS // 2

    mixed = parse_assertion(" or ".join([_and_chain(3)] * 4))
    assert isinstance(mixed, Or) and len(mixed.items) == 4
    assert all(isinstance(item, And) and len(item.items) == 3 for item in mixed.items)


@pytest.mark.parametrize(
    ("text", "holds"),
    [
        # Left to right: (10 - 3) - 2 is 5, where 10 - (3 - 2) would be 9.
        ("10 - 3 - 2 == 5", True),
        ("100 / 10 / 5 == 2", True),
        ("100 / 10 * 5 == 50", True),
        ("2 + 3 * 4 - 6 / 2 == 11", True),
        ("1 - (2 - 3) == 2", True),
        # count(a, 5s) is 2, avg(a, 5s) is 15 ms.
        ("avg(a, 5s) - 5 - 5 == 5", True),
        ("count(a, 5s) + count(a, 5s) + count(a, 5s) == 6", True),
        # A division by zero anywhere in the chain, or an unknown term, makes it unknown.
        ("1 / 0 * 2 + 1 > 0", None),
        ("count(a, 5s) / (count(a, 5s) - 2) + 1 > 0", None),
        ("avg(a, 5s) + avg(b, 5s) - 1 > 0", None),  # b has no samples
    ],
)
def test_chains_evaluate_left_to_right(text: str, holds: bool | None) -> None:
    assert evaluate(parse_assertion(text), _store(), now=2.0, since=0.0).holds is holds


def test_a_kind_mismatch_in_a_chain_shows_the_chain_so_far() -> None:
    text = "count(a, 1s) + 1 + avg(a, 1s) > 0"
    with pytest.raises(AssertionSyntaxError) as caught:
        parse_assertion(text)
    assert caught.value.message == (
        "cannot add a count ('count(a, 1s) + 1') and a latency ('avg(a, 1s)')"
    )
    assert caught.value.offset == text.rindex("+")


def test_the_binary_reading_of_a_chain_is_left_associative() -> None:
    expr = parse_assertion("count(a, 1s) - 1 + 2 - 3 > 0")

    assert isinstance(expr, Compare) and isinstance(expr.left, Arith)
    chain = expr.left
    assert (chain.op, str(chain.right)) == ("-", "3")
    assert isinstance(chain.left, Arith) and str(chain.left) == "count(a, 1s) - 1 + 2"
    assert chain.left.kind == "count"


@pytest.mark.parametrize(
    "text",
    [
        "1 - 2 - 3 + 4 < 0",
        "1 - (2 - 3) - (4 + 5) < 0",
        "8 / 4 / (2 / 1) * 3 < 1",
        "(1 + 2) * (3 - 4) / 5 < 0",
        "p99(a, 5s) < 2 * baseline.p99(a) + 10ms - baseline.avg(a) / 2",
    ],
)
def test_chains_render_like_the_source(text: str) -> None:
    assert str(parse_assertion(text)) == text


@pytest.mark.parametrize("text", [_sum(MAX_TERMS - 1), _and_chain(MAX_TERMS // 2)])
def test_the_longest_chain_the_caps_allow_needs_no_more_stack_than_a_short_one(
    text: str,
) -> None:
    short = "count(a, 1s) + count(a, 1s) > 0 and count(a, 1s) > 0"
    store = _store()

    def work(source: str) -> Callable[[], object]:
        def run() -> object:
            expr = parse_assertion(source)
            evaluate(expr, store, now=2.0, since=0.0)
            return (str(expr), repr(expr), expr == parse_assertion(source), expr.references())

        return run

    work(short)()  # first calls fill dispatch caches, which takes frames of its own
    baseline = deepest_stack(work(short))
    # A node per operator would need a frame or two per term: a hundred or more here.
    assert deepest_stack(work(text)) <= baseline + 2
