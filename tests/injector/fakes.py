"""A fault whose "system" is a dict: for the janitor's and the agent's pure logic."""

from __future__ import annotations

from typing import Any

from injector.faults.fault import Fault, FaultError
from injector.protocol import FaultSpec


class FakeSystem:
    def __init__(self) -> None:
        self.applied: set[str] = set()
        self.stuck: set[str] = set()  # faults whose revert silently does nothing
        self.failing_apply: set[str] = set()  # faults whose apply half-happens, then fails
        self.apply_calls: list[str] = []

    def factory(self, spec: FaultSpec, netns: str | None) -> Fault:
        if spec.kind != FakeFault.kind:
            raise FaultError(f"unknown fault kind {spec.kind!r}", True)
        return FakeFault(spec, netns, self)


class FakeFault(Fault):
    kind = "test.fake"

    def __init__(self, spec: FaultSpec, netns: str | None, system: FakeSystem) -> None:
        super().__init__(spec, netns)
        self.system = system

    def plan(self) -> dict[str, Any]:
        return {"mechanism": "fake", "artifacts": [self.fault_id]}

    def apply(self) -> None:
        self.system.apply_calls.append(self.fault_id)
        self.system.applied.add(self.fault_id)
        if self.fault_id in self.system.failing_apply:
            raise FaultError("half applied")

    def revert(self) -> None:
        if self.fault_id not in self.system.stuck:
            self.system.applied.discard(self.fault_id)

    def is_active(self) -> bool:
        return self.fault_id in self.system.applied


def fake_spec(run: str = "1", step: int = 1, attempt: int = 1, lease: float = 5.0,
              **params: Any) -> FaultSpec:  # fmt: skip
    return FaultSpec(run, step, attempt, FakeFault.kind, params, lease)
