"""nft only ever gets JSON, and no module under injector/ writes nft rule text.

The guarantee behind the security fix (``injector/nft.py``): a ruleset is data, so a value
cannot become nft syntax. It holds only while nothing goes around it, so this proves it
three ways: every nft command the module runs is ``nft -j -f -`` with a JSON document on
stdin; no other module names the nft program at all; and no string formatting anywhere
under injector/ produces text that looks like an nft rule.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

import injector
from injector import nft
from tests.injector.test_nft_rulesets import CASES

INJECTOR = Path(injector.__file__).resolve().parent
# Words of nft's rule and table grammar. A formatted string containing one is rule text in
# the making; messages and artifact descriptions ("nft table inet <name>") have none.
NFT_SYNTAX = re.compile(
    r"\b(saddr|daddr|sport|dport|l4proto|nfproto|numgen|oifname|iifname|meta mark|ct state"
    r"|redirect to|reject with|policy accept|policy drop|type (filter|nat) hook|priority"
    r"|add (table|chain|rule)|delete (table|chain|rule)|flush (table|chain|ruleset))\b"
    r"|\{ |\};"
)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[list[str], str | None]] = []

    def __call__(self, argv: list[str], *, input: str | None = None, timeout: float = 0) -> str:
        self.calls.append((list(argv), input))
        return ""


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    found = Recorder()
    monkeypatch.setattr(nft, "run_command", found)
    # Every deletion through nft, as for a namespace other than this process's: in its own,
    # a deletion is a netlink message that carries no nft text at all (test_nft_delete.py).
    monkeypatch.setattr(nft, "_own_namespace", lambda netns: False)
    return found


def test_every_nft_command_is_json_on_stdin(
    recorder: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRILLHALL_AGENT_STATE", str(tmp_path))
    documents: list[Any] = []
    for build in CASES.values():
        table, ruleset = build()
        nft.apply(None, table, ruleset)
        nft.exists(None, table)
        nft.delete(None, table)
        documents += [ruleset, None, None]
    assert len(recorder.calls) == 3 * len(CASES)
    for (argv, stdin), document in zip(recorder.calls, documents, strict=True):
        assert argv == ["nft", "-j", "-f", "-"]
        assert stdin is not None
        loaded = json.loads(stdin)  # JSON, or nft would read it as text
        assert list(loaded) == ["nftables"]
        if document is not None:
            assert loaded == document


def test_in_a_namespace_it_is_the_same_command_wrapped(recorder: Recorder) -> None:
    table, ruleset = CASES["partition-both-one-peer"]()
    nft.apply("dht-some-namespace", table, ruleset)
    assert recorder.calls[0][0] == [
        "ip", "netns", "exec", "dht-some-namespace", "nft", "-j", "-f", "-",
    ]  # fmt: skip


def _modules() -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(INJECTOR.rglob("*.py")):
        found.append((str(path.relative_to(INJECTOR.parent)), ast.parse(path.read_text())))
    assert len(found) > 20, f"no injector sources found under {INJECTOR}"
    return found


def test_no_other_module_runs_nft() -> None:
    # The program's name appears once: in injector/nft.py's one command line.
    named = [
        f"{name}:{node.lineno}"
        for name, tree in _modules()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value == "nft"
    ]
    assert named == ["injector/nft.py:" + str(_nft_argv_line())]


def _nft_argv_line() -> int:
    tree = ast.parse((INJECTOR / "nft.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "NFT_ARGV" for t in node.targets
        ):
            return node.lineno
    raise AssertionError("injector/nft.py has no NFT_ARGV")


def _formatted_text(node: ast.AST) -> str | None:
    """The literal parts of an f-string, a ``%`` format or a ``.format`` call; else None."""
    if isinstance(node, ast.JoinedStr):
        return "".join(
            v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)
        )
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Mod)
        and isinstance(node.left, ast.Constant)
        and isinstance(node.left.value, str)
    ):
        return node.left.value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("format", "join")
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
    ):
        return node.func.value.value
    return None


def test_no_module_formats_nft_rule_text() -> None:
    found = []
    for name, tree in _modules():
        for node in ast.walk(tree):
            text = _formatted_text(node)
            if text is not None and NFT_SYNTAX.search(text):
                found.append(f"{name}:{getattr(node, 'lineno', '?')}: {text!r}")
    assert found == []


@pytest.mark.parametrize(
    "source",
    [
        'rule = f"ip saddr {{ {peers} }} drop"',
        'rule = "tcp dport %d reject with tcp reset" % port',
        'rule = "meta mark {} return".format(mark)',
        'body = f"\\tchain {hook} {{\\n\\t\\ttype filter hook {hook} priority 0;\\n"',
    ],
)
def test_the_scan_catches_rule_text(source: str) -> None:
    # The scan itself, on the shapes the text rulesets had before the review.
    nodes = ast.walk(ast.parse(source))
    assert any(NFT_SYNTAX.search(t) for t in map(_formatted_text, nodes) if t is not None)
