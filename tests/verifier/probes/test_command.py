from __future__ import annotations

import pytest

from verifier.probes.command import CommandNotAllowed, CommandProbe


def test_command_probe_is_ok_when_the_command_exits_zero() -> None:
    sample = CommandProbe("alive", ("true",), timeout=2).sample()
    assert sample.ok and sample.status == 0 and sample.error is None
    assert sample.latency_ms is not None and sample.latency_ms > 0


def test_command_probe_fails_with_the_exit_status() -> None:
    sample = CommandProbe("alive", ("false",), timeout=2).sample()
    assert not sample.ok and sample.status == 1
    assert sample.error == "exit 1"


def test_command_probe_stops_a_command_at_its_timeout() -> None:
    # ping on loopback, 10 echoes 0.2 s apart: runs 2 s unless stopped.
    sample = CommandProbe(
        "slow", ("ping", "-c", "10", "-i", "0.2", "127.0.0.1"), timeout=0.4
    ).sample()
    assert not sample.ok and sample.status is None
    assert sample.error == "timed out after 0.4s"
    assert sample.latency_ms is not None and sample.latency_ms < 1500


def test_command_probe_refuses_a_binary_outside_the_allowlist() -> None:
    with pytest.raises(CommandNotAllowed, match="'rm' is not an allowed probe command"):
        CommandProbe("bad", ("rm", "-rf", "/tmp/x"))
    with pytest.raises(CommandNotAllowed):
        CommandProbe("bad", ("/usr/bin/true",))  # the allowlist names bare binaries
