"""The SLA assertion language: a tokenizer and a recursive-descent parser (no eval).

Assertions arrive in playbooks, untrusted input, so parsing is bounded: at most
MAX_LENGTH characters, MAX_TERMS numbers and calls, MAX_NESTING levels of parentheses
and ``not``. A chain of one precedence level (``a + b - c``, ``a * b / c``,
``x and y and z``) is one node with a child per term, so the parser, the evaluator and
rendering recurse only as deep as the parentheses go, never as long as the assertion is.

Grammar::

    expr   := or
    or     := and ("or" and)*
    and    := not ("and" not)*
    not    := "not" not | "(" expr ")" | cmp
    cmp    := sum OP sum                     OP: < <= > >= == !=
    sum    := term (("+" | "-") term)*
    term   := factor (("*" | "/") factor)*
    factor := ["-"] NUMBER [ms | s | %] | call | "baseline" "." bcall | "(" sum ")"
    call   := FUNC "(" REF "," DURATION ")" | "last" "(" REF ")"
    bcall  := FUNC "(" REF ")"
    REF    := probe_name ["." metric] | "kernel" "." kernel_metric
              metric: latency_ms (default) | status | value;  kernel_metric: [a-z0-9_]+

A "(" opens an arithmetic group when the token after its matching ")" is an operator
(``(p99(a, 5s) + 10) < 50``), otherwise it groups conditions.

Functions and what they return:

* ``error_rate``, ``availability``: percent of failed / successful samples (0..100).
* ``p50 p90 p95 p99 avg min max``: over the metric, ``latency_ms`` unless the reference names
  ``status`` or ``value``; latencies are in milliseconds. Percentiles use the nearest rank.
  ``value`` is a sample's measured number, e.g. a Prometheus query's result:
  ``last(up.value) == 1``, ``avg(queue_depth.value, 30s) < 100``.
* ``count``: the number of samples in the window; ``rate``: samples per second over the
  part of the window that lies inside the phase.
* ``last``: the metric of the latest sample of the phase that has it (no window).
* ``baseline.FUNC(ref)``: FUNC over every sample of the ``before`` phase, frozen when that
  phase ends; unknown until then (so a comparison with it is unknown too).

Kernel series: ``kernel.METRIC`` (``kernel.tcp_retransmits``, ``kernel.read_latency_ms``) reads
the samples a kernel collector records as probe ``kernel.METRIC``, one per interval, whose value
is the number of events in the interval, or their mean in milliseconds for ``*_latency_ms``.
The metric names are the collectors' own, so any lowercase ``[a-z0-9_]+`` name parses; the
playbook checks that a collector providing it is declared. On a kernel series ``count`` is the
sum of the values (events in the window) and ``rate`` that sum per second, over the part of
the window inside the phase (``rate(kernel.tcp_retransmits, 5s) < 10``); ``last``, ``avg``,
``min``, ``max`` and the percentiles read the values themselves. Every function of a kernel
series is unknown while its window holds no kernel sample (the collector is not reporting).
``error_rate`` and ``availability`` are refused: kernel series have no errors.

Kinds and units: every value has a kind (latency, percent, status, count, rate, or a plain
number; a sample's ``value`` is a kind of its own, with no unit, a kernel series is a count, or a
latency for ``*_latency_ms``).
``+ - < <= ...`` need equal kinds, a plain number taking the kind of the other side;
``*`` scales a kind by a plain number; ``/`` by a plain number keeps the kind and between two
values of one kind gives a plain ratio. A number with ``ms``/``s`` is a latency (``s`` is
converted to milliseconds: ``p99(checkout, 30s) < 2s`` means ``< 2000``), a number with ``%``
is a percentage; ``5%`` and ``5`` mean the same next to ``error_rate``.
Window durations take ``ms``, ``s``, ``m`` or ``h``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

PERCENT_FUNCTIONS = ("error_rate", "availability")
STAT_FUNCTIONS = ("p50", "p90", "p95", "p99", "avg", "min", "max")
COUNT_FUNCTIONS = ("count", "rate")
POINT_FUNCTIONS = ("last",)
WINDOW_FUNCTIONS = PERCENT_FUNCTIONS + STAT_FUNCTIONS + COUNT_FUNCTIONS
FUNCTIONS = WINDOW_FUNCTIONS + POINT_FUNCTIONS
BASELINE = "baseline"
METRICS = ("latency_ms", "status", "value")
KERNEL = "kernel"
KERNEL_PREFIX = f"{KERNEL}."
_KERNEL_METRIC = re.compile(r"[a-z0-9_]+")
OPERATORS = ("<", "<=", ">", ">=", "==", "!=")
ARITHMETIC = ("+", "-", "*", "/")
KEYWORDS = ("and", "or", "not")

_WINDOW_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_VALUE_UNITS = ("", "ms", "s", "%")
# The caps, against real SLAs: the longest assertion in examples/, tests/fixtures and the tests
# is 113 characters with 6 terms, and none nests deeper than 2 (``not (a or b)``). The caps
# leave 8 to 17 times that, room for an SLA over a dozen probes written out in full, while a
# hostile assertion is refused before it costs anything. Nesting bounds the stack, terms the work
# of every evaluation tick (each call is a window read), length the tokenizer and error texts.
MAX_LENGTH = 2000  # characters
MAX_TERMS = 100  # numbers and function calls, in the whole assertion
# Parentheses and "not" are what the parser and the evaluator recurse on: about 4 frames each.
MAX_NESTING = 16


class AssertionSyntaxError(ValueError):
    """A malformed assertion; ``offset`` is the 0-based character offset of the problem."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        return self.message


class Expr:
    """Base of every node in a parsed assertion."""

    offset: int

    def children(self) -> tuple[Expr, ...]:
        return ()

    def calls(self) -> Iterator[Call]:
        """Every function call in the expression (baseline ones included), left to right."""
        # A stack rather than ``yield from child.calls()``: a generator per level would be
        # frames in proportion to the depth for every caller.
        pending: list[Expr] = [self]
        while pending:
            node = pending.pop()
            if isinstance(node, Call):
                yield node
            else:
                pending.extend(reversed(node.children()))

    def references(self) -> set[str]:
        """The probe names the expression reads."""
        return {call.probe for call in self.calls()}

    def max_window(self) -> float:
        """The longest window in seconds (0.0 when there is no windowed call)."""
        return max((call.window for call in self.calls()), default=0.0)


@dataclass(frozen=True)
class Number(Expr):
    """A literal; ``value`` is in the unit of its kind (seconds become milliseconds)."""

    value: float
    unit: str
    text: str
    offset: int

    @property
    def kind(self) -> str | None:
        if self.unit in ("ms", "s"):
            return "latency"
        return "percent" if self.unit == "%" else None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Call(Expr):
    """A function over a probe; ``window`` is 0.0 for ``last`` and baseline calls."""

    func: str
    probe: str
    metric: str
    window: float
    window_text: str
    offset: int
    probe_offset: int
    baseline: bool = False
    window_offset: int = 0  # where the window is written, for messages about it (0 without one)

    @property
    def kernel(self) -> bool:
        """Whether the call reads a kernel series (``kernel.METRIC``) rather than a probe."""
        return self.probe.startswith(KERNEL_PREFIX)

    @property
    def kind(self) -> str:
        """What the call returns: "percent", "latency", "status", "count", "rate" or "value"."""
        if self.func in PERCENT_FUNCTIONS:
            return "percent"
        if self.func in COUNT_FUNCTIONS:
            return self.func
        if self.kernel:
            return "latency" if self.probe.endswith("_latency_ms") else "count"
        if self.metric == "value":
            return "value"  # unitless: '< 5ms' next to it would guess the value's unit
        return "latency" if self.metric == "latency_ms" else "status"

    def __str__(self) -> str:
        plain = self.metric == "latency_ms" or self.kernel
        ref = self.probe if plain else f"{self.probe}.{self.metric}"
        if self.baseline:
            return f"{BASELINE}.{self.func}({ref})"
        if not self.window_text:
            return f"{self.func}({ref})"
        return f"{self.func}({ref}, {self.window_text})"


@dataclass(frozen=True)
class Arith(Expr):
    """``terms[0] ops[0] terms[1] ops[1] ...``, worked out left to right.

    One node per chain of one precedence level: ``a + b - c`` has three terms, and a product
    inside a sum is one term of it (``a + 2 * b``). ``kinds[i]`` is the kind of the chain up to
    and including ``terms[i]``, worked out when parsing; the last is the chain's.
    """

    terms: tuple[Value, ...]  # two or more
    ops: tuple[str, ...]  # one fewer than terms; all "+"/"-" or all "*"/"/"
    kinds: tuple[str | None, ...]  # one per term
    offset: int

    @property
    def kind(self) -> str | None:
        return self.kinds[-1]

    # The binary reading, ``left op right``, for code that thinks in single operations:
    # ``a + b - c`` is ``(a + b) - c``. Nothing in parsing or evaluation uses it.
    @property
    def op(self) -> str:
        return self.ops[-1]

    @property
    def left(self) -> Value:
        if len(self.terms) == 2:
            return self.terms[0]
        return Arith(self.terms[:-1], self.ops[:-1], self.kinds[:-1], self.offset)

    @property
    def right(self) -> Value:
        return self.terms[-1]

    def children(self) -> tuple[Expr, ...]:
        return self.terms

    def __str__(self) -> str:
        mine = _PRECEDENCE[self.ops[0]]
        parts = [_group(self.terms[0], mine, strict=False)]
        for op, term in zip(self.ops, self.terms[1:], strict=True):
            # a - (b - c) and a / (b * c) need their parentheses back; a + (b + c) does not.
            parts += [op, _group(term, mine, strict=op in ("-", "/"))]
        return " ".join(parts)


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def _group(value: Value, precedence: int, strict: bool) -> str:
    if isinstance(value, Arith):
        inner = _PRECEDENCE[value.op]
        if inner < precedence or (strict and inner == precedence):
            return f"({value})"
    return str(value)


Value = Number | Call | Arith


@dataclass(frozen=True)
class Compare(Expr):
    op: str
    left: Value
    right: Value
    offset: int

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def __str__(self) -> str:
        return f"{self.left} {self.op} {self.right}"


@dataclass(frozen=True)
class And(Expr):
    items: tuple[Expr, ...]
    offset: int

    def children(self) -> tuple[Expr, ...]:
        return self.items

    def __str__(self) -> str:
        return " and ".join(_wrap(item, Or) for item in self.items)


@dataclass(frozen=True)
class Or(Expr):
    items: tuple[Expr, ...]
    offset: int

    def children(self) -> tuple[Expr, ...]:
        return self.items

    def __str__(self) -> str:
        return " or ".join(str(item) for item in self.items)


@dataclass(frozen=True)
class Not(Expr):
    operand: Expr
    offset: int

    def children(self) -> tuple[Expr, ...]:
        return (self.operand,)

    def __str__(self) -> str:
        return f"not {_wrap(self.operand, (And, Or))}"


def _wrap(expr: Expr, kinds: type | tuple[type, ...]) -> str:
    return f"({expr})" if isinstance(expr, kinds) else str(expr)


@dataclass(frozen=True)
class Token:
    kind: str  # NUMBER, NAME, OP, ARITH, "(", ")", ",", ".", END, LIMIT (see tokenize)
    text: str
    offset: int
    number: float = 0.0
    unit: str = ""


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>[A-Za-z%]*)
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*)
  | (?P<op><=|>=|==|!=|<|>)
  | (?P<arith>[-+*/])
  | (?P<punct>[(),.])
    """,
    re.VERBOSE,
)


def tokenize(text: str, limit: int | None = None) -> list[Token]:
    """The tokens of ``text``, ending with END; or, past ``limit`` characters, with LIMIT.

    With a limit, nothing beyond it is read: a token that reaches the limit may go on past it,
    so it becomes the LIMIT token, and the parser says "too long" only if it gets that far.
    """
    end = len(text) if limit is None else min(len(text), limit)
    cut = end < len(text)
    tokens: list[Token] = []
    pos = 0
    while pos < end:
        match = _TOKEN.match(text, pos, end)
        if match is None:
            char = text[pos]
            if char == "=":
                raise AssertionSyntaxError("unknown operator '=' (did you mean '=='?)", pos)
            if char == "!":
                raise AssertionSyntaxError("unknown operator '!' (did you mean '!='?)", pos)
            raise AssertionSyntaxError(f"unexpected character {char!r}", pos)
        if cut and match.end() == end:
            break
        kind = match.lastgroup
        if match.group("number") is not None:
            tokens.append(
                Token(
                    "NUMBER",
                    match.group(0),
                    pos,
                    number=float(match.group("number")),
                    unit=match.group("unit"),
                )
            )
        elif kind == "name":
            tokens.append(Token("NAME", match.group(0), pos))
        elif kind == "op":
            tokens.append(Token("OP", match.group(0), pos))
        elif kind == "arith":
            tokens.append(Token("ARITH", match.group(0), pos))
        elif kind == "punct":
            tokens.append(Token(match.group(0), match.group(0), pos))
        pos = match.end()
    tokens.append(Token("LIMIT", "", pos) if cut else Token("END", "", len(text)))
    return tokens


def _did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _describe(token: Token) -> str:
    return "the end of the assertion" if token.kind == "END" else f"'{token.text}'"


def _matching_parentheses(tokens: list[Token]) -> dict[int, int]:
    """Token index of each '(' -> index of its ')', in one pass (unclosed ones are absent)."""
    matches: dict[int, int] = {}
    opened: list[int] = []
    for index, token in enumerate(tokens):
        if token.kind == "(":
            opened.append(index)
        elif token.kind == ")" and opened:
            matches[opened.pop()] = index
    return matches


class _Parser:
    def __init__(self, text: str) -> None:
        # Only the first MAX_LENGTH characters are tokenized, so a 200 KB assertion costs what
        # a 2 KB one does. Problems come in reading order: nesting or a term too many before
        # the cap is reported as such; reaching the cap is "too long".
        self.length = len(text)
        self.tokens = tokenize(text, MAX_LENGTH)
        self.closing = _matching_parentheses(self.tokens)
        self.pos = 0
        self.depth = 0
        self.terms = 0

    def at(self, index: int) -> Token:
        """The token at ``index``; every read goes through here, so none passes the cap."""
        token = self.tokens[index]
        if token.kind == "LIMIT":
            # The offset is where the cap is passed: a playbook error points there.
            raise AssertionSyntaxError(
                f"assertion is {self.length} characters long, more than the {MAX_LENGTH} "
                "allowed (split it into several SLAs)",
                MAX_LENGTH,
            )
        return token

    def peek(self) -> Token:
        return self.at(self.pos)

    def advance(self) -> Token:
        token = self.at(self.pos)
        if token.kind != "END":
            self.pos += 1
        return token

    def at_keyword(self, word: str) -> bool:
        token = self.peek()
        return token.kind == "NAME" and token.text == word

    def expect(self, kind: str, message: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            raise AssertionSyntaxError(f"{message}, found {_describe(token)}", token.offset)
        return self.advance()

    def nest(self, token: Token) -> None:
        """Enter the '(' or 'not' at ``token``; the caller leaves with ``self.depth -= 1``."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise AssertionSyntaxError(
                f"assertion nested too deeply: more than {MAX_NESTING} levels of parentheses "
                "and 'not'",
                token.offset,
            )

    def count_term(self, token: Token) -> None:
        """One more number or function call, starting at ``token``."""
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise AssertionSyntaxError(
                f"assertion has more than {MAX_TERMS} terms (numbers and function calls); "
                "split it into several SLAs",
                token.offset,
            )

    def parse(self) -> Expr:
        if self.peek().kind == "END":
            raise AssertionSyntaxError("empty assertion", 0)
        expr = self.parse_or()
        token = self.peek()
        if token.kind != "END":
            if token.kind == ")":
                raise AssertionSyntaxError("unmatched ')'", token.offset)
            raise AssertionSyntaxError(
                f"unexpected '{token.text}' after a complete comparison "
                "(join comparisons with 'and' or 'or')",
                token.offset,
            )
        return expr

    def parse_or(self) -> Expr:
        first = self.parse_and()
        items = [first]
        while self.at_keyword("or"):
            self.advance()
            items.append(self.parse_and())
        return first if len(items) == 1 else Or(tuple(items), first.offset)

    def parse_and(self) -> Expr:
        first = self.parse_not()
        items = [first]
        while self.at_keyword("and"):
            self.advance()
            items.append(self.parse_not())
        return first if len(items) == 1 else And(tuple(items), first.offset)

    def parse_not(self) -> Expr:
        token = self.peek()
        if self.at_keyword("not"):
            self.nest(token)
            try:
                self.advance()
                return Not(self.parse_not(), token.offset)
            finally:
                self.depth -= 1
        if token.kind == "(" and not self.opens_arithmetic():
            self.nest(token)
            try:
                self.advance()
                inner = self.parse_or()
                self.close(token)
                return inner
            finally:
                self.depth -= 1
        return self.parse_cmp()

    def close(self, opening: Token) -> None:
        closing = self.peek()
        if closing.kind != ")":
            raise AssertionSyntaxError(
                f"expected ')' to close the '(' at offset {opening.offset}, "
                f"found {_describe(closing)}",
                closing.offset,
            )
        self.advance()

    def opens_arithmetic(self) -> bool:
        """Whether the '(' at the cursor groups a value: its ')' is followed by an operator."""
        # Looked up, not scanned for: a scan per '(' made a run of them quadratic.
        closing = self.closing.get(self.pos)
        if closing is None:
            return False  # unbalanced: let the boolean branch report the missing ')'
        return self.at(closing + 1).kind in ("OP", "ARITH")  # END follows the last ')'

    def parse_cmp(self) -> Expr:
        left = self.parse_sum()
        op = self.peek()
        if op.kind != "OP":
            raise AssertionSyntaxError(
                f"expected a comparison operator (<, <=, >, >=, ==, !=) after '{left}', "
                f"found {_describe(op)}",
                op.offset,
            )
        self.advance()
        right = self.parse_sum()
        if self.peek().kind == "OP":
            raise AssertionSyntaxError(
                "comparisons cannot be chained; join them with 'and'", self.peek().offset
            )
        try:
            _joined_kind(op.text, left.kind, right.kind)
        except _Mismatch:
            raise _mismatch(left, right, op) from None
        return Compare(op.text, left, right, left.offset)

    def parse_sum(self) -> Value:
        return self.parse_chain(("+", "-"), self.parse_term)

    def parse_term(self) -> Value:
        return self.parse_chain(("*", "/"), self.parse_factor)

    def parse_chain(self, ops: tuple[str, str], operand: Callable[[], Value]) -> Value:
        """``operand (op operand)*`` as one Arith (a loop, not a node per operator)."""
        first = operand()
        terms: list[Value] = [first]
        signs: list[str] = []
        kinds: list[str | None] = [first.kind]
        while self.peek().kind == "ARITH" and self.peek().text in ops:
            op = self.advance()
            term = operand()
            try:
                kinds.append(_joined_kind(op.text, kinds[-1], term.kind))
            except _Mismatch:
                # Only now is the chain so far built as a node, for the message to show it.
                so_far: Value = first
                if len(terms) > 1:
                    so_far = Arith(tuple(terms), tuple(signs), tuple(kinds), first.offset)
                raise _mismatch(so_far, term, op) from None
            terms.append(term)
            signs.append(op.text)
        if len(terms) == 1:
            return first
        return Arith(tuple(terms), tuple(signs), tuple(kinds), first.offset)

    def parse_factor(self) -> Value:
        token = self.peek()
        if token.kind == "ARITH" and token.text == "-":
            self.count_term(token)
            following = self.at(self.pos + 1)
            if following.kind != "NUMBER" or following.offset != token.offset + 1:
                raise AssertionSyntaxError(
                    "a minus sign must be followed directly by a number", token.offset
                )
            self.advance()
            number = self.parse_number()
            return Number(-number.value, number.unit, "-" + number.text, token.offset)
        if token.kind == "NUMBER":
            self.count_term(token)
            return self.parse_number()
        if token.kind == "(":
            self.nest(token)
            try:
                self.advance()
                inner = self.parse_sum()
                self.close(token)
                return inner
            finally:
                self.depth -= 1
        if token.kind == "NAME" and token.text not in KEYWORDS:
            self.count_term(token)
            following = self.at(self.pos + 1)
            if token.text == BASELINE and following.kind == ".":
                return self.parse_baseline()
            if following.kind == "(" or token.text in FUNCTIONS:
                return self.parse_call()
            raise AssertionSyntaxError(
                f"expected a number or a function call, found '{token.text}' "
                f"(write e.g. error_rate({token.text}, 5s))",
                token.offset,
            )
        raise AssertionSyntaxError(
            f"expected a number or a function call like error_rate(probe, 5s), "
            f"found {_describe(token)}",
            token.offset,
        )

    def parse_number(self) -> Number:
        token = self.advance()
        if token.unit not in _VALUE_UNITS:
            raise AssertionSyntaxError(
                f"unknown unit '{token.unit}' in '{token.text}' (use ms, s or %)",
                token.offset + len(token.text) - len(token.unit),
            )
        if token.unit == "s":
            return Number(token.number * 1000.0, "ms", token.text, token.offset)
        return Number(token.number, token.unit, token.text, token.offset)

    def parse_baseline(self) -> Call:
        self.advance()  # "baseline"
        self.advance()  # "."
        name = self.peek()
        if name.kind != "NAME":
            raise AssertionSyntaxError(
                f"expected a function after 'baseline.', found {_describe(name)}", name.offset
            )
        if name.text not in WINDOW_FUNCTIONS:
            hint = _did_you_mean(name.text, WINDOW_FUNCTIONS)
            raise AssertionSyntaxError(
                f"unknown baseline function '{name.text}'{hint}; "
                f"baseline takes one of: {', '.join(WINDOW_FUNCTIONS)}",
                name.offset,
            )
        return self.parse_call(baseline=True)

    def parse_call(self, baseline: bool = False) -> Call:
        name = self.advance()
        if name.text not in FUNCTIONS:
            raise AssertionSyntaxError(
                f"unknown function '{name.text}'{_did_you_mean(name.text, FUNCTIONS)}",
                name.offset,
            )
        self.expect("(", f"expected '(' after '{name.text}'")
        probe = self.peek()
        if probe.kind != "NAME" or probe.text in KEYWORDS:
            raise AssertionSyntaxError(
                f"expected a probe name after '{name.text}(', found {_describe(probe)}",
                probe.offset,
            )
        self.advance()
        probe_name = probe.text
        metric = "latency_ms"
        if probe.text == KERNEL and self.peek().kind == ".":
            probe_name = self.parse_kernel_series(name)
            metric = "value"
        elif self.peek().kind == ".":
            self.advance()
            metric_token = self.peek()
            if metric_token.kind != "NAME":
                raise AssertionSyntaxError(
                    f"expected a metric name after '{probe.text}.', "
                    f"found {_describe(metric_token)}",
                    metric_token.offset,
                )
            if metric_token.text not in METRICS:
                raise AssertionSyntaxError(
                    f"unknown metric '{metric_token.text}'"
                    f"{_did_you_mean(metric_token.text, METRICS)}; metrics: {', '.join(METRICS)}",
                    metric_token.offset,
                )
            if name.text not in STAT_FUNCTIONS + POINT_FUNCTIONS:
                raise AssertionSyntaxError(
                    f"{name.text}() works on whole samples; give it a probe name without a metric",
                    metric_token.offset,
                )
            self.advance()
            metric = metric_token.text
        if baseline or name.text in POINT_FUNCTIONS:
            if self.peek().kind == ",":
                what = "baseline functions cover the whole before phase"
                if not baseline:
                    what = f"{name.text}() reads the latest sample"
                raise AssertionSyntaxError(f"{what}; remove the window", self.peek().offset)
            self.expect(")", f"expected ')' after '{probe_name}'")
            return Call(
                func=name.text,
                probe=probe_name,
                metric=metric,
                window=0.0,
                window_text="",
                offset=name.offset,
                probe_offset=probe.offset,
                baseline=baseline,
            )
        self.expect(",", "expected ',' after probe name")
        window = self.peek()
        if window.kind != "NUMBER" or window.unit not in _WINDOW_UNITS or window.number <= 0:
            raise AssertionSyntaxError(
                f"expected a window duration like 5s, found {_describe(window)}", window.offset
            )
        self.advance()
        self.expect(")", "expected ')' after the window")
        return Call(
            func=name.text,
            probe=probe_name,
            metric=metric,
            window=window.number * _WINDOW_UNITS[window.unit],
            window_text=window.text,
            offset=name.offset,
            probe_offset=probe.offset,
            window_offset=window.offset,
        )

    def parse_kernel_series(self, func: Token) -> str:
        """``.METRIC`` after ``kernel``; the probe name the collector's samples carry."""
        self.advance()  # "."
        series = self.peek()
        if series.kind != "NAME" or not _KERNEL_METRIC.fullmatch(series.text):
            raise AssertionSyntaxError(
                "expected a kernel metric like tcp_retransmits after 'kernel.' "
                f"(lowercase letters, digits and _), found {_describe(series)}",
                series.offset,
            )
        if func.text in PERCENT_FUNCTIONS:
            raise AssertionSyntaxError(
                f"{func.text}() needs probe samples that can fail; kernel series have no errors "
                "(use count, rate, last, avg, min, max or a percentile)",
                func.offset,
            )
        self.advance()
        if self.peek().kind == ".":
            raise AssertionSyntaxError(
                f"a kernel series is one number per interval; write kernel.{series.text} "
                "without a metric",
                self.peek().offset,
            )
        return KERNEL_PREFIX + series.text


def _unit_literal(value: Value) -> Number | None:
    return value if isinstance(value, Number) and value.kind is not None else None


class _Mismatch(Exception):
    """Two kinds an operator cannot join; the caller words it, knowing the operands."""


def _joined_kind(op: str, a: str | None, b: str | None) -> str | None:
    """The kind of ``a op b`` (None: a plain number); raises _Mismatch when they do not fit.

    ``+ -`` and comparisons need equal kinds, a plain number taking the other side's; ``*``
    scales a kind by a plain number; ``/`` divides by a plain number, or two values of one
    kind into a plain ratio.
    """
    if op == "*":
        if a is None or b is None:
            return a if b is None else b
        raise _Mismatch
    if op == "/":
        if b is None:
            return a
        if a == b:
            return None  # a ratio of two values of one kind
        raise _Mismatch
    if a is None or b is None or a == b:
        return a if a is not None else b
    raise _Mismatch


_VERBS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}  # others compare


def _mismatch(left: Value, right: Value, op: Token) -> AssertionSyntaxError:
    """Why ``left op right`` is refused, pointing at a literal with a unit when there is one."""
    verb = _VERBS.get(op.text, "compare")
    if op.text in ("*", "/"):
        return AssertionSyntaxError(
            f"cannot {verb} '{left}' by '{right}'; scale a value by a plain number, "
            "or divide two values of the same kind",
            op.offset,
        )
    a, b = left.kind, right.kind
    for literal, other in ((_unit_literal(right), a), (_unit_literal(left), b)):
        if literal is None:
            continue
        if literal.kind == "latency":
            return AssertionSyntaxError(
                f"'{literal.text}' is a time; {verb} times only with a latency function "
                f"such as p99(probe, 30s), not a {other}",
                literal.offset,
            )
        return AssertionSyntaxError(
            f"'{literal.text}' is a percentage; {verb} percentages only with "
            f"error_rate() or availability(), not a {other}",
            literal.offset,
        )
    return AssertionSyntaxError(f"cannot {verb} a {a} ('{left}') and a {b} ('{right}')", op.offset)


def parse_assertion(text: str) -> Expr:
    """Parse an SLA assertion; raises AssertionSyntaxError with the offset of the problem."""
    return _Parser(text).parse()
