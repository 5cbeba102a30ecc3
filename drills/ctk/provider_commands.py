"""What a Chaos Toolkit process provider runs, and whether drillhall has the same fault.

Only killing processes by name maps (``pkill NAME``, ``killall NAME``) to ``process.kill``;
other well-known chaos commands are recognised so the report can say why they do not map
and what to use instead.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

SIGNALS = {"9": "SIGKILL", "KILL": "SIGKILL", "15": "SIGTERM", "TERM": "SIGTERM"}
PAUSE_SIGNALS = {"19", "STOP", "18", "CONT", "20", "TSTP"}
SIGNAL_NAMES = set(
    "HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT "
    "STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO POLL PWR SYS".split()
)
# Names only: a pattern with these characters is a regular expression in pkill.
REGEX_CHARS = re.compile(r"[\\^$.|?*+()\[\]{}]")

# Well-known commands that chaos experiments run, and why they do not map.
KNOWN_COMMANDS = {
    "kubectl": "acts on Kubernetes objects; drillhall faults hosts through its agents",
    "helm": "acts on Kubernetes releases; drillhall faults hosts through its agents",
    "docker": "acts on containers; drillhall faults hosts through its agents",
    "podman": "acts on containers; drillhall faults hosts through its agents",
    "tc": "traffic control; use a network.latency, network.loss or network.bandwidth step",
    "iptables": "firewall rules; use a network.partition (or network.dns) step",
    "ip6tables": "firewall rules; use a network.partition (or network.dns) step",
    "nft": "firewall rules; use a network.partition (or network.dns) step",
    "stress-ng": "resource stress; use a stress.cpu or stress.memory step",
    "stress": "resource stress; use a stress.cpu or stress.memory step",
    "dd": "disk load; use an io.delay or io.error step",
    "fallocate": "disk filling is not in the fault catalogue",
    "systemctl": "service management is not a fault; process.kill covers killing the process",
    "service": "service management is not a fault; process.kill covers killing the process",
    "shutdown": "stopping a whole machine is not in the fault catalogue",
    "reboot": "stopping a whole machine is not in the fault catalogue",
    "halt": "stopping a whole machine is not in the fault catalogue",
    "poweroff": "stopping a whole machine is not in the fault catalogue",
    "toxiproxy-cli": "Toxiproxy toxics; use network.latency or network.timeout steps",
    "pumba": "container chaos; drillhall faults hosts through its agents",
    "gremlin": "Gremlin attacks run by Gremlin's agent, not drillhall's",
    "chaos": "runs another Chaos Toolkit experiment",
}


@dataclass(frozen=True)
class Kill:
    """A process.kill step: processes called ``name`` get ``signal``."""

    name: str
    signal: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Unmappable:
    reason: str


def command_line(provider: dict[str, Any]) -> list[str]:
    """The argv a process provider runs (arguments: a list, a string, or the old mapping)."""
    argv = [str(provider["path"])]
    arguments = provider.get("arguments")
    if isinstance(arguments, str):
        try:
            argv += shlex.split(arguments)
        except ValueError:
            argv += arguments.split()
    elif isinstance(arguments, list):
        argv += [str(a) for a in arguments]
    elif isinstance(arguments, dict):
        # The first specification's form: {"-s": "KILL", "app": ""} ("" means a bare flag).
        for key, value in arguments.items():
            argv.append(str(key))
            if value != "":
                argv.append(str(value))
    return argv


def classify(argv: list[str]) -> Kill | Unmappable:
    program = PurePosixPath(argv[0]).name
    if program in ("pkill", "killall"):
        return _kill_by_name(program, argv[1:])
    if program == "kill":
        return Unmappable(
            "kill takes process ids, which do not carry over to another machine or run; "
            "write it as `pkill NAME` to get a process.kill step"
        )
    if program in KNOWN_COMMANDS:
        return Unmappable(KNOWN_COMMANDS[program])
    return Unmappable("an arbitrary command; drillhall runs only the faults of its catalogue")


def _kill_by_name(program: str, args: list[str]) -> Kill | Unmappable:
    signal = "SIGTERM"  # the default of both pkill and killall
    names: list[str] = []
    notes: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        value: str | None = None
        if arg in ("-s", "--signal") and i + 1 < len(args):
            value, i = args[i + 1], i + 1
        elif arg.startswith("--signal="):
            value = arg.split("=", 1)[1]
        elif arg in ("-x", "--exact", "-e", "-q", "--quiet", "-w", "--wait"):
            pass  # exact matching is drillhall's rule already; quiet/wait change nothing here
        elif arg.startswith("-") and _is_signal(arg[1:]):
            value = arg[1:]
        elif arg.startswith("-"):
            return Unmappable(f"{program} option {arg!r} has no equivalent in process.kill")
        else:
            names.append(arg)
        if value is not None:
            mapped = _signal_name(value)
            if mapped is None:
                return Unmappable(_signal_reason(value))
            signal = mapped
        i += 1
    if len(names) != 1:
        return Unmappable(f"{program} needs exactly one process name here, found {len(names)}")
    name = names[0]
    if program == "pkill" and REGEX_CHARS.search(name):
        return Unmappable(
            f"pkill pattern {name!r} is a regular expression; process.kill matches a name"
        )
    notes.append(
        f"{program} signals every matching process; process.kill signals 'count' of them "
        "(default 1): set count if more than one should go"
    )
    if program == "pkill":
        notes.append(
            f"pkill matches {name!r} anywhere in a process name; match.name is the "
            "process name: check it is the full name"
        )
    return Kill(name, signal, tuple(notes))


def _is_signal(text: str) -> bool:
    key = text.upper().removeprefix("SIG")
    return key in SIGNAL_NAMES or key.isdigit() and 1 <= int(key) <= 64


def _signal_name(text: str) -> str | None:
    """SIGTERM or SIGKILL for a signal process.kill can send; None otherwise."""
    return SIGNALS.get(text.upper().removeprefix("SIG"))


def _signal_reason(text: str) -> str:
    key = text.upper().removeprefix("SIG")
    if key in PAUSE_SIGNALS:
        return f"signal {text} pauses or resumes a process; use a process.pause step"
    return f"signal {text}: process.kill sends SIGTERM or SIGKILL only"
