"""Signatures on agent requests and the key files behind them (no Django, no broker)."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from injector.protocol import AgentTask, ProtocolError, SignedRequest
from injector.signing import (
    KeyFileError,
    SignatureError,
    agent_key_path,
    canonical_json,
    ensure_agent_key,
    load_key,
    sign,
    verify,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
BODY = {"run": "ab12", "step": 2, "attempt": 1, "kind": "test.fake", "params": {"host": "db1"},
        "lease_seconds": 10.0}  # fmt: skip
NOW = 1_800_000_000.0


def signed(
    key: bytes = KEY,
    task: AgentTask = AgentTask.APPLY,
    host: str = "db1",
    expires: float = NOW + 60,
) -> dict[str, Any]:
    return sign(key, task, host, BODY, expires).to_json()


def refusal(raw: object, task: AgentTask = AgentTask.APPLY) -> str:
    with pytest.raises(SignatureError) as refused:
        verify(KEY, raw, task=task, host="db1", now=NOW)
    return str(refused.value)


def test_a_signed_request_opens_to_its_body() -> None:
    assert verify(KEY, signed(), task=AgentTask.APPLY, host="db1", now=NOW) == BODY


def test_the_broker_may_reformat_the_json_and_the_signature_still_holds() -> None:
    # Spacing and key order change on the way; the canonical bytes do not.
    travelled = json.loads(json.dumps(signed(), indent=3, sort_keys=False))
    travelled["signed"] = dict(reversed(list(travelled["signed"].items())))
    assert verify(KEY, travelled, task=AgentTask.APPLY, host="db1", now=NOW) == BODY


def test_canonical_json_is_one_byte_string_per_value() -> None:
    assert canonical_json({"b": 1, "a": [1.5, "é"]}) == b'{"a":[1.5,"\\u00e9"],"b":1}'
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def test_an_unsigned_request_is_refused() -> None:
    said = refusal(BODY)
    assert said.startswith("an unsigned request to apply a fault was refused")


def test_a_request_signed_with_another_key_is_refused() -> None:
    said = refusal(signed(key=OTHER_KEY))
    assert "signature does not match the key of db1" in said


def test_a_request_signed_for_another_host_is_refused() -> None:
    said = refusal(signed(host="db2"))
    assert said == (
        "a request to apply a fault signed for host db2 reached the agent of db1 and was refused"
    )


def test_an_expired_request_is_refused_with_when() -> None:
    said = refusal(signed(expires=NOW - 90))
    assert "expired at 2027-01-15 07:58:30 UTC (90 s ago)" in said
    assert "check this host's clock" in said


@pytest.mark.parametrize("field", ["lease_seconds", "kind"])
def test_a_request_changed_on_the_way_is_refused(field: str) -> None:
    raw = signed()
    body = raw["signed"]["body"]
    body[field] = 86400.0 if field == "lease_seconds" else "network.partition"
    assert "signature does not match" in refusal(raw)


def test_a_signature_cannot_be_moved_to_another_task() -> None:
    # A revert's signature, the task name edited to apply: the signature covers the task.
    raw = signed(task=AgentTask.REVERT)
    raw["signed"]["task"] = AgentTask.APPLY.value
    assert "signature does not match" in refusal(raw)
    # Delivered whole to another task's queue name: said as such.
    assert "signed as drillhall.agent.revert was delivered as a request to apply" in refusal(
        signed(task=AgentTask.REVERT)
    )


@pytest.mark.parametrize(
    "raw",
    [
        {"signed": "x", "signature": "0" * 64},
        {"signed": {}, "signature": "nothex"},
        {"signed": {}, "signature": "0" * 64, "more": 1},
    ],
)
def test_a_malformed_signed_request_is_refused(raw: dict[str, object]) -> None:
    assert refusal(raw).startswith("a malformed signed request to apply a fault was refused")


def test_signing_needs_a_finite_expiry_and_a_valid_host() -> None:
    with pytest.raises(ValueError):
        sign(KEY, AgentTask.APPLY, "db1", BODY, float("inf"))
    with pytest.raises(ProtocolError):
        sign(KEY, AgentTask.APPLY, "../db1", BODY, NOW)


def test_the_signed_body_is_what_the_agent_will_parse() -> None:
    # A tuple in the body travels as a list: signing sees it as the agent will.
    request = sign(KEY, AgentTask.APPLY, "db1", {"peers": ("10.0.0.1",)}, NOW + 5)
    assert request.body == {"peers": ["10.0.0.1"]}
    assert SignedRequest.from_json(json.loads(json.dumps(request.to_json()))) == request


# -- key files ------------------------------------------------------------------------------


def test_ensure_agent_key_makes_a_private_random_key_once(tmp_path: Path) -> None:
    path = ensure_agent_key(tmp_path, "db1")
    assert path == tmp_path / "agents" / "db1" / "hmac.key"
    text = path.read_text()
    assert len(text.strip()) == 64 and int(text, 16) >= 0
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (tmp_path / "agents", path.parent):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert ensure_agent_key(tmp_path, "db1") == path and path.read_text() == text
    assert load_key(ensure_agent_key(tmp_path, "db2")) != load_key(path)


def _ensure(args: tuple[str, str]) -> str:
    return ensure_agent_key(Path(args[0]), args[1]).read_text()


def test_processes_racing_to_make_a_key_all_get_the_same_one(tmp_path: Path) -> None:
    # Spawned, not forked: a fork of this (threaded) test process can deadlock in the child.
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=6, mp_context=spawn) as pool:
        keys = set(pool.map(_ensure, [(str(tmp_path), "db1")] * 24))
    assert len(keys) == 1
    assert os.listdir(tmp_path / "agents" / "db1") == ["hmac.key"]  # no temporary file left


def test_a_malformed_key_file_is_an_error_and_is_never_replaced(tmp_path: Path) -> None:
    path = agent_key_path(tmp_path, "db1")
    path.parent.mkdir(parents=True)
    path.write_text("not a key\n")
    with pytest.raises(KeyFileError, match="does not hold an agent key"):
        ensure_agent_key(tmp_path, "db1")
    assert path.read_text() == "not a key\n"


def test_a_missing_key_file_is_said_in_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"the agent key file .*/nope does not exist"):
        load_key(tmp_path / "nope")


def test_key_paths_take_only_host_names(tmp_path: Path) -> None:
    with pytest.raises(ProtocolError):
        agent_key_path(tmp_path, "../../etc")
