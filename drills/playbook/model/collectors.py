"""Kernel collectors (eBPF, with a /proc fallback) to run on target hosts during a drill.

Written as a list of one-key maps, ``- tcp_retransmits: {on: app}``; the names are a closed list.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from drills.playbook.model.values import did_you_mean, strict_config

CollectorName = Literal[
    "tcp_retransmits",
    "tcp_resets",
    "tcp_connect",
    "block_io_latency",
    "syscall_latency",
    "runqueue_latency",
]
COLLECTORS: tuple[str, ...] = get_args(CollectorName)


class CollectorOptions(BaseModel):
    model_config = strict_config()

    on: str = Field(min_length=1)  # a target name


def _known_collectors(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if len(value) != 1:
        raise PydanticCustomError(
            "collector_shape",
            "each kernel collector is a one-key map like '- tcp_retransmits: {on: app}'",
            {},
        )
    (name,) = value
    if name not in COLLECTORS:
        raise PydanticCustomError(
            "unknown_collector",
            "unknown kernel collector '{name}'; known collectors: {known}",
            {
                "name": name,
                "known": ", ".join(COLLECTORS),
                "hint": did_you_mean(name, COLLECTORS),
                "at_key": name,
            },
        )
    return value


KernelCollector = Annotated[
    dict[CollectorName, CollectorOptions],
    BeforeValidator(_known_collectors),
    Field(min_length=1, max_length=1),
]
