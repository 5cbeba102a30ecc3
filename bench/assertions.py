"""What a hostile or a maximal SLA assertion costs to parse, refuse and evaluate.

    .venv/bin/python bench/assertions.py

The security review's inputs (216 KB of "(", a 992-term chain) and the largest assertions the
caps allow. The goal is "well under 50 ms" for any refusal, whatever the input's size: the
tokenizer stops at the length cap, so the time should not depend on what lies past it. Best
and median of 21 runs, milliseconds; the stack column is the deepest Python stack the work
reaches, in frames above the caller (the default recursion limit is 1000).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from drills.playbook.errors import PlaybookError  # noqa: E402
from drills.playbook.parser import parse_playbook  # noqa: E402
from verifier.assertions.evaluate import evaluate  # noqa: E402
from verifier.assertions.syntax import (  # noqa: E402
    MAX_LENGTH,
    MAX_NESTING,
    MAX_TERMS,
    AssertionSyntaxError,
    parse_assertion,
)
from verifier.windows import Sample, SampleStore  # noqa: E402

DEMO = (ROOT / "examples" / "partition-demo.yaml").read_text()
SLA_LINE = "    assert: error_rate(checkout, 3s) > 50%\n"


def refuse(text: str) -> Callable[[], object]:
    def run() -> object:
        try:
            parse_assertion(text)
        except AssertionSyntaxError as error:
            return error
        raise SystemExit(f"accepted, but should be refused: {text[:60]}...")

    return run


def refuse_playbook(assertion: str) -> Callable[[], object]:
    text = DEMO.replace(SLA_LINE, f"    assert: {assertion}\n")
    assert text != DEMO, "the demo's SLA line moved; update SLA_LINE"

    def run() -> object:
        try:
            parse_playbook(text, "bench.yaml")
        except PlaybookError as error:
            return error
        raise SystemExit("playbook accepted, but should be refused")

    return run


def timings(fn: Callable[[], object], runs: int = 21) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return min(samples), statistics.median(samples)


def deepest_stack(fn: Callable[[], object]) -> int:
    depth = deepest = 0

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal depth, deepest
        if event == "call":
            depth += 1
            deepest = max(deepest, depth)
        elif event == "return":
            depth -= 1

    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return deepest


def main() -> None:
    store = SampleStore()
    for t in range(1, 101):
        store.add(Sample(t=t / 10, probe="checkout", ok=True, latency_ms=float(t), status=200))

    longest_sum = " + ".join(["count(checkout, 5s)"] * (MAX_TERMS - 1)) + " > 0"
    while len(longest_sum) > MAX_LENGTH:  # as many terms as fit in the length cap
        longest_sum = longest_sum.replace("count(checkout, 5s) + ", "", 1)
    half = MAX_NESTING // 2
    deepest = "not (" * half + "p99(checkout, 5s) < 2 * baseline.p99(checkout)" + ")" * half
    chain_992 = " + ".join(["1"] * 992) + " > 0"
    cases: list[tuple[str, Callable[[], object]]] = [
        ("refuse 216 KB of '('", refuse("(" * 216_000)),
        ("refuse 216 KB: a valid start, then spaces", refuse("count(a, 1s) > 0" + " " * 216_000)),
        ("refuse the 992-term chain", refuse(chain_992)),
        ("playbook with 216 KB of '('", refuse_playbook("(" * 216_000)),
        ("playbook with the 992-term chain", refuse_playbook(chain_992)),
    ]
    parsed_sum = parse_assertion(longest_sum)
    parsed_deep = parse_assertion(deepest)
    terms = len(parsed_sum.children()[0].children())
    cases += [
        (
            f"parse a {terms}-term sum, {len(longest_sum)} chars",
            lambda: parse_assertion(longest_sum),
        ),
        (
            f"evaluate the {terms}-term sum",
            lambda: evaluate(parsed_sum, store, now=10.0, since=0.0),
        ),
        (f"parse {MAX_NESTING} levels of not (...)", lambda: parse_assertion(deepest)),
        (
            f"evaluate {MAX_NESTING} levels of not (...)",
            lambda: evaluate(parsed_deep, store, now=10.0, since=0.0, baseline={}),
        ),
    ]
    print(f"{'case':<44}{'best':>9}{'median':>10}{'stack':>7}")
    for name, fn in cases:
        fn()  # warm caches (dispatch, regex) so that the stack column is the steady one
        best, median = timings(fn)
        print(f"{name:<44}{best:>7.2f}ms{median:>8.2f}ms{deepest_stack(fn):>7}")


if __name__ == "__main__":
    main()
