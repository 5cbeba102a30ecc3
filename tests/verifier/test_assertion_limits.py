"""Assertions are capped in length, terms and nesting, and refused at a position, at once.

From a security review: a 992-term chain parsed (and then broke whatever walked it from a
deeper stack), and 216 KB of "(" took two seconds to refuse. The goal numbers are in
bench/assertions.py; the bounds here only catch a hang or a return of the quadratic scan.
"""

from __future__ import annotations

import time

import pytest

from verifier.assertions.syntax import (
    MAX_LENGTH,
    MAX_NESTING,
    MAX_TERMS,
    AssertionSyntaxError,
    parse_assertion,
)


def refusal(text: str) -> AssertionSyntaxError:
    with pytest.raises(AssertionSyntaxError) as caught:
        parse_assertion(text)
    return caught.value


def nth(text: str, needle: str, n: int) -> int:
    """Offset of the n-th (1-based) occurrence of needle."""
    offset = -1
    for _ in range(n):
        offset = text.index(needle, offset + 1)
    return offset


# -- terms -------------------------------------------------------------------------------


@pytest.mark.parametrize("joiner", [" + ", "+", " * ", " - "])
def test_the_992_term_chain_from_the_review_is_refused_at_the_term_too_many(joiner: str) -> None:
    text = joiner.join(["1"] * 992) + " > 0"  # "+".join(...) is 1987 characters: under the cap
    error = refusal(text)
    assert error.message == (
        f"assertion has more than {MAX_TERMS} terms (numbers and function calls); "
        "split it into several SLAs"
    )
    assert error.offset == nth(text, "1", MAX_TERMS + 1)


def test_as_many_terms_as_the_cap_parse_and_one_more_is_refused() -> None:
    # Calls and numbers on both sides of comparisons all count.
    ok = " and ".join(["count(a, 1s) > 0"] * (MAX_TERMS // 2))
    assert parse_assertion(ok).references() == {"a"}

    text = ok + " and last(b) > 0"
    error = refusal(text)
    assert "more than 100 terms" in error.message
    assert error.offset == text.index("last(b)")


# -- nesting -----------------------------------------------------------------------------

CONDITION = "count(a, 1s) > 0"


N = MAX_NESTING
NESTING = {
    # name: (as deep as allowed, one level deeper, offset of the opening one level too deep)
    "parentheses": ("(" * N + CONDITION + ")" * N, "(" * (N + 1) + CONDITION + ")" * (N + 1), N),
    "not": ("not " * N + CONDITION, "not " * (N + 1) + CONDITION, N * len("not ")),
    # Arithmetic groups count too; a call's own parentheses do not.
    "arithmetic": (
        "(" * N + "count(a, 1s)" + ")" * N + " > 0",
        "(" * (N + 1) + "count(a, 1s)" + ")" * (N + 1) + " > 0",
        N,
    ),
    "mixed": (
        "not (" * (N // 2) + CONDITION + ")" * (N // 2),
        "not " + "not (" * (N // 2) + CONDITION + ")" * (N // 2),
        len("not ") + len("not (") * (N // 2) - len("("),  # the last "("
    ),
}


@pytest.mark.parametrize(("deepest", "too_deep", "offset"), NESTING.values(), ids=NESTING.keys())
def test_the_nesting_cap_allows_its_depth_and_refuses_one_level_more(
    deepest: str, too_deep: str, offset: int
) -> None:
    parse_assertion(deepest)

    error = refusal(too_deep)
    assert error.message == (
        f"assertion nested too deeply: more than {MAX_NESTING} levels of parentheses and 'not'"
    )
    assert error.offset == offset


def test_216_kb_of_open_parentheses_are_refused_at_the_17th_quickly() -> None:
    text = "(" * 216_000
    started = time.perf_counter()
    error = refusal(text)
    elapsed = time.perf_counter() - started

    assert "nested too deeply" in error.message and error.offset == MAX_NESTING
    # An upper bound that cannot flake: the review measured 2 s, the bench about 3 ms.
    assert elapsed < 0.5


# -- length ------------------------------------------------------------------------------


def padded(length: int) -> str:
    """A valid assertion exactly ``length`` characters long (spaces inside the window call)."""
    head, tail = "count(a,", "1s) > 0"
    return head + " " * (length - len(head) - len(tail)) + tail


def test_an_assertion_of_the_longest_length_parses_and_one_character_more_is_refused() -> None:
    assert parse_assertion(padded(MAX_LENGTH)).references() == {"a"}

    error = refusal(padded(MAX_LENGTH + 1))
    assert error.message == (
        f"assertion is {MAX_LENGTH + 1} characters long, more than the {MAX_LENGTH} allowed "
        "(split it into several SLAs)"
    )
    assert error.offset == MAX_LENGTH


def test_nothing_past_the_length_cap_is_read() -> None:
    # Tokenizing all of a long text costs in proportion to it (216 KB: about 0.4 s). A
    # character the tokenizer refuses, past the cap, proves it never got there.
    text = CONDITION + " " * MAX_LENGTH + "$" * 200_000
    error = refusal(text)
    assert "characters long" in error.message and error.offset == MAX_LENGTH


@pytest.mark.parametrize(
    "text",
    [
        # Each would be valid if it stopped before the cap.
        CONDITION + " and " + " + ".join(["1"] * 60) + " " * MAX_LENGTH + "> 0",
        "(p99(a, 1s) + 1)" + " " * MAX_LENGTH + "< 5",
        CONDITION + " " * 216_000,
    ],
    ids=["sum", "arithmetic-group", "trailing-spaces"],
)
def test_a_problem_past_the_cap_is_reported_as_too_long_not_as_a_syntax_error(text: str) -> None:
    started = time.perf_counter()
    error = refusal(text)
    assert "characters long" in error.message and error.offset == MAX_LENGTH
    assert time.perf_counter() - started < 0.5


def test_problems_before_the_cap_are_reported_first() -> None:
    # Reading order, as for every other error: what is wrong early is what the author fixes.
    error = refusal("count(a, 1s) > $" + " " * 216_000)
    assert (error.message, error.offset) == ("unexpected character '$'", 15)
