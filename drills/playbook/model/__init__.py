"""The playbook format (drillhall/v1) as pydantic models: the authority for the JSON Schema.

Attributes are snake_case; the YAML keys are the aliases (``apiVersion``, ``from``, ``assert``,
``for``) and ``model_dump()`` writes them back, durations and percentages as strings ("10s",
"5%"), so a dump validates again. Values need their units: ``10`` is an error, ``10s`` is ten
seconds.
"""

from __future__ import annotations

from drills.playbook.model.collectors import COLLECTORS, CollectorOptions, KernelCollector
from drills.playbook.model.faults import (
    CATALOGUE,
    FAULTS,
    Fault,
    FaultContext,
    FaultStep,
    HttpError,
    IoDelay,
    IoError,
    NetworkBandwidth,
    NetworkDns,
    NetworkLatency,
    NetworkLoss,
    NetworkPartition,
    NetworkReset,
    NetworkTimeout,
    ProcessKill,
    ProcessMatch,
    ProcessPause,
    StressCpu,
    StressMemory,
    proof_of,
)
from drills.playbook.model.limit_checks import check_limits
from drills.playbook.model.limits import Limits
from drills.playbook.model.metadata import Metadata
from drills.playbook.model.objectives import Objectives
from drills.playbook.model.playbook import CROSS_CHECKED, Playbook
from drills.playbook.model.probes import (
    CanaryProbe,
    CanarySpec,
    DnsProbe,
    DnsSpec,
    HttpProbe,
    HttpSpec,
    PostgresCanary,
    Probe,
    PrometheusProbe,
    PrometheusSpec,
    RedisCanary,
    TcpProbe,
    TcpSpec,
)
from drills.playbook.model.references import CrossProblem, cross_check, iter_fault_steps
from drills.playbook.model.slas import Sla
from drills.playbook.model.steps import (
    ParallelStep,
    PauseSpec,
    PauseStep,
    RepeatSpec,
    RepeatStep,
    Step,
    WaitStep,
    expected_seconds,
)
from drills.playbook.model.targets import HostTarget, Selector, SelectorTarget, Target
from drills.playbook.model.values import NAME_PATTERN

__all__ = [
    "CATALOGUE",
    "COLLECTORS",
    "CROSS_CHECKED",
    "FAULTS",
    "NAME_PATTERN",
    "CanaryProbe",
    "CanarySpec",
    "CollectorOptions",
    "CrossProblem",
    "DnsProbe",
    "DnsSpec",
    "Fault",
    "FaultContext",
    "FaultStep",
    "HostTarget",
    "HttpError",
    "HttpProbe",
    "HttpSpec",
    "IoDelay",
    "IoError",
    "KernelCollector",
    "Limits",
    "Metadata",
    "NetworkBandwidth",
    "NetworkDns",
    "NetworkLatency",
    "NetworkLoss",
    "NetworkPartition",
    "NetworkReset",
    "NetworkTimeout",
    "Objectives",
    "ParallelStep",
    "PauseSpec",
    "PauseStep",
    "Playbook",
    "PostgresCanary",
    "Probe",
    "ProcessKill",
    "ProcessMatch",
    "ProcessPause",
    "PrometheusProbe",
    "PrometheusSpec",
    "RedisCanary",
    "RepeatSpec",
    "RepeatStep",
    "Selector",
    "SelectorTarget",
    "Sla",
    "Step",
    "StressCpu",
    "StressMemory",
    "Target",
    "TcpProbe",
    "TcpSpec",
    "WaitStep",
    "check_limits",
    "cross_check",
    "expected_seconds",
    "iter_fault_steps",
    "proof_of",
]
