"""nftables tables that faults own: one `inet drillhall_r<run key>_s<step>` table per fault step.

Every network fault that filters or redirects packets applies, checks and deletes its table
the same way, inside the target's network namespace. This module is the only one that runs
nft, and with ``injector.nft_netlink`` the only one that speaks to nftables: in the agent's
own namespace, finding and deleting a table are one netlink request each (``exists``,
``delete``). Everything else goes through nft, which is only ever handed a
JSON document on stdin (``nft -j -f -``, the libnftables
JSON schema, see libnftables-json(5)); it never writes nft syntax.

Why: a ruleset built as text is a small program, and a value copied into it can end a set,
close the table and start another one. The security review did exactly that with a scoped
IPv6 address (``fe80::1%} accept … table inet pwn {``, which ``ipaddress`` accepts). So faults
describe their rules as data with the constructors below, and each constructor takes parsed
values only: ``ipaddress`` objects written back with their own ``str`` (scope ids refused),
ports and marks as ints in range, and names (hooks, protocols, interfaces) from closed sets.
In JSON a value can only ever be a value: nothing a playbook writes can become nft syntax.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, get_args

from injector import nft_netlink
from injector.commands import CommandError, already_in, in_netns, netns_missing, run_command
from injector.faults.fault import FaultError
from injector.protocol import FAULT_ID, RUN_KEY

NFT_TIMEOUT = 5.0
# The one nft command line: JSON on stdin. Rulesets, listings and deletions all go through it,
# so no table name or value is ever parsed by nft's text grammar, not even from argv.
NFT_ARGV = ("nft", "-j", "-f", "-")
TABLE_NAME = re.compile(r"^drillhall_r[0-9a-f]{1,32}_s[0-9]+$")
FAMILY = "inet"  # every table a fault owns sees IPv4 and IPv6 alike

Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
# One libnftables JSON command or object: only this module's functions make them.
Json: TypeAlias = dict[str, Any]
Document: TypeAlias = dict[str, list[Json]]

IpFamily = Literal["ip", "ip6"]
AddressField = Literal["saddr", "daddr"]
PortField = Literal["dport", "sport"]
# "th": the transport header, whichever of TCP or UDP it is (with an l4proto match before it).
PortProtocol = Literal["th", "tcp", "udp"]
L4Protocol = Literal["tcp", "udp"]
NfProto = Literal["ipv4", "ipv6"]
Interface = Literal["lo"]
Hook = Literal["input", "output", "prerouting"]
ChainType = Literal["filter", "nat"]
_VERSION: dict[str, int] = {"ip": 4, "ip6": 6}


def _one_of(value: object, allowed: object) -> str:
    """``value`` when it is one of the Literal's names; the type checker sees the Literal,
    this checks it at run time too, so a name from elsewhere cannot slip into a ruleset."""
    names = get_args(allowed)
    if not isinstance(value, str) or value not in names:
        raise ValueError(f"{value!r} is not one of {names}")
    return value


def _integer(value: object, low: int, high: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{what} must be an integer {low}-{high}, got {value!r}")
    return value


def _one_or_set(values: list[Any]) -> Any:
    # A single value is compared as such; several become an anonymous set (nft makes the same
    # of a one-element set, so this only keeps the document short).
    return values[0] if len(values) == 1 else {"set": values}


@dataclass(frozen=True)
class Statement:
    """One statement of a rule (a match, a verdict, a redirect) in libnftables JSON."""

    body: Json


Rule: TypeAlias = tuple[Statement, ...]


def _match(left: Json, right: Any, op: Literal["==", "!=", "<"] = "==") -> Statement:
    return Statement({"match": {"op": op, "left": left, "right": right}})


# -- matches --
def match_addresses(
    family: IpFamily, field: AddressField, addresses: Sequence[Address]
) -> Statement:
    """``ip saddr { … }`` and the like; every address of ``family``'s version, none scoped."""
    _one_of(family, IpFamily)
    _one_of(field, AddressField)
    if not addresses:
        raise ValueError("an address match needs at least one address")
    values = []
    for address in addresses:
        if not isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address):
            raise TypeError(f"expected an ipaddress address, got {address!r}")
        if address.version != _VERSION[family]:
            raise ValueError(f"{address} is not an {family} address")
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
            raise ValueError(f"{address} has a scope id: not an address nft can match")
        values.append(str(address))
    return _match({"payload": {"protocol": family, "field": field}}, _one_or_set(values))


def by_family(addresses: Iterable[Address]) -> list[tuple[IpFamily, tuple[Address, ...]]]:
    """The addresses split into IPv4 then IPv6, leaving out a family that has none."""
    found = list(addresses)
    split: list[tuple[IpFamily, tuple[Address, ...]]] = []
    for family in get_args(IpFamily):
        same = tuple(a for a in found if a.version == _VERSION[family])
        if same:
            split.append((family, same))
    return split


def match_ports(
    protocol: PortProtocol, field: PortField, ports: Sequence[int], *, negate: bool = False
) -> Statement:
    """``tcp dport { … }`` (or ``th``/``udp``, ``sport``); ``negate`` for ``!=``."""
    _one_of(protocol, PortProtocol)
    _one_of(field, PortField)
    if not ports:
        raise ValueError("a port match needs at least one port")
    values = [_integer(p, 1, 65535, "a port") for p in ports]
    left = {"payload": {"protocol": protocol, "field": field}}
    return _match(left, _one_or_set(values), "!=" if negate else "==")


def match_l4proto(protocols: Sequence[L4Protocol]) -> Statement:
    """``meta l4proto { tcp, udp }``: the transport protocol, before a ``th`` port match."""
    if not protocols:
        raise ValueError("an l4proto match needs at least one protocol")
    values = [_one_of(p, L4Protocol) for p in protocols]
    return _match({"meta": {"key": "l4proto"}}, _one_or_set(values))


def match_nfproto(nfproto: NfProto) -> Statement:
    """``meta nfproto ipv4``: one address family of an inet table."""
    return _match({"meta": {"key": "nfproto"}}, _one_of(nfproto, NfProto))


def match_mark(mark: int) -> Statement:
    """``meta mark 0x…``: packets a socket of ours marked (SO_MARK)."""
    return _match({"meta": {"key": "mark"}}, _integer(mark, 0, 0xFFFFFFFF, "a mark"))


def match_oifname(interface: Interface) -> Statement:
    """``oifname "lo"``: packets leaving through that interface."""
    return _match({"meta": {"key": "oifname"}}, _one_of(interface, Interface))


def tcp_syn_only() -> Statement:
    """``tcp flags & (syn | ack) == syn``: the first segment of a new connection."""
    flags = {"&": [{"payload": {"protocol": "tcp", "field": "flags"}}, {"|": ["syn", "ack"]}]}
    return _match(flags, "syn")


def numgen_below(modulus: int, bound: int) -> Statement:
    """``numgen random mod M < B``: true for a share B/M of packets, drawn per packet."""
    # nft refuses a bound equal to the modulus; 0 would never match: both are caller bugs.
    _integer(modulus, 2, 0xFFFFFFFF, "a modulus")
    _integer(bound, 1, modulus - 1, "a bound")
    return _match({"numgen": {"mode": "random", "mod": modulus, "offset": 0}}, bound, "<")


# -- verdicts and actions --
def drop() -> Statement:
    return Statement({"drop": None})


def accept() -> Statement:
    return Statement({"accept": None})


def return_() -> Statement:
    """Leave this chain: later rules of it do not see the packet."""
    return Statement({"return": None})


def reject_tcp_reset() -> Statement:
    return Statement({"reject": {"type": "tcp reset"}})


def redirect(port: int) -> Statement:
    """``redirect to :port``: to that port on the namespace's own address (nat chains)."""
    return Statement({"redirect": {"port": _integer(port, 1, 65535, "a redirect port")}})


# -- tables --
@dataclass(frozen=True)
class Chain:
    """One base chain, named after its hook (a table has at most one chain per hook)."""

    hook: Hook
    kind: ChainType
    priority: int
    rules: tuple[Rule, ...]


def table_name(run: str, step: int) -> str:
    # FaultSpec.from_json checks both already; a spec built in code gets the same answer.
    if not isinstance(run, str) or not RUN_KEY.match(run):
        raise FaultError(f"no nft table for run key {run!r}", True)
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise FaultError(f"no nft table for step {step!r}", True)
    return f"drillhall_r{run}_s{step}"


def _table(table: str) -> Json:
    if not TABLE_NAME.match(table):
        raise FaultError(f"{table!r} is not the name of a drillhall nft table", True)
    return {"family": FAMILY, "name": table}


# The agent's own way to its broker, "ADDRESS:PORT", set by its supervisor: no fault of the
# agent's cuts it, or the agent could no longer hear the revert, renew or halt of that very
# fault (a loss or latency on port 6379 with no destination would take the broker's port too).
BROKER_ENV = "DRILLHALL_AGENT_BROKER"


def broker_exemption(environ: Mapping[str, str] | None = None) -> tuple[Rule, ...]:
    """Rules that accept the agent's broker traffic, both ways, before anything else of a
    chain; none when the agent has no broker address (tests, a broker by name)."""
    raw = (os.environ if environ is None else environ).get(BROKER_ENV, "")
    host, _, port = raw.rpartition(":")
    try:
        address = ipaddress.ip_address(host.strip("[]"))
        number = int(port)
    except ValueError:
        return ()
    family: IpFamily = "ip" if address.version == 4 else "ip6"
    return (
        (match_addresses(family, "daddr", [address]), match_ports("tcp", "dport", [number]),
         accept()),
        (match_addresses(family, "saddr", [address]), match_ports("tcp", "sport", [number]),
         accept()),
    )  # fmt: skip


def ruleset(table: str, fault_id: str, chains: Sequence[Chain]) -> Document:
    """The document apply() loads: the table, replaced in one go, with its chains and rules.

    ``add`` + ``flush`` first, in the same transaction, so a second apply (a redelivery) replaces
    the rules instead of stacking them, and the table is either fully there or not at all. Not
    ``delete`` + ``add``, which replaced the chains too: deleting a table waits for the kernel's
    RCU grace period, and made every apply cost 20 ms instead of 5.5 (``nft -j -f -``, median
    of 25 fresh applies, 2026-12-03). A second apply has the same chains: the table is the
    fault's own (``table_name``), and its spec does not change. Each chain
    starts with the agent's broker exemption (``broker_exemption``). The comment
    names the fault on the table and on each rule: nft 1.0.6 (Debian 12) loads table comments
    from text only and drops them from JSON, while it keeps rule comments either way.
    """
    if not FAULT_ID.match(fault_id):
        raise FaultError(f"malformed fault id {fault_id!r}", True)
    comment = "drillhall fault " + fault_id
    commands: list[Json] = [
        {"add": {"table": {**_table(table), "comment": comment}}},
        {"flush": {"table": _table(table)}},
    ]
    for chain in chains:
        name = _one_of(chain.hook, Hook)
        base = {
            "family": FAMILY,
            "table": table,
            "name": name,
            "type": _one_of(chain.kind, ChainType),
            "hook": name,
            "prio": _integer(chain.priority, -(2**31), 2**31 - 1, "a priority"),
            "policy": "accept",
        }
        commands.append({"add": {"chain": base}})
        for rule in (*broker_exemption(), *chain.rules):
            expr = [statement.body for statement in rule]
            where = {"family": FAMILY, "table": table, "chain": name}
            commands.append({"add": {"rule": {**where, "expr": expr, "comment": comment}}})
    return {"nftables": commands}


def run_nft(netns: str | None, document: Document) -> str:
    """Hand nft one JSON document inside the namespace; its stdout (JSON) back."""
    return run_command(
        in_netns(netns, list(NFT_ARGV)), input=json.dumps(document), timeout=NFT_TIMEOUT
    )


def apply(netns: str | None, table: str, document: Document) -> None:
    try:
        run_nft(netns, document)
    except CommandError as exc:
        raise FaultError(f"nft could not apply {table}: {exc}") from exc


def exists(netns: str | None, table: str) -> bool:
    """Whether the table is there; a missing namespace has no tables. Over netlink in the
    agent's own namespace, as ``delete`` (a revert confirms with it)."""
    if netns_missing(netns):
        return False
    if _own_namespace(netns):
        return _exists_over_netlink(_table(table)["name"])
    try:
        run_nft(netns, {"nftables": [{"list": {"table": _table(table)}}]})
    except CommandError as exc:
        if exc.returncode == 1 and "No such file or directory" in exc.stderr:
            return False
        raise FaultError(f"cannot tell whether {table} exists: {exc}") from exc
    return True


def delete(netns: str | None, table: str) -> None:
    """Delete the table; already gone (or its namespace gone) is fine.

    In the agent's own namespace (a lab host's agent runs inside it; a host's agent in the
    root namespace) the deletion is one netlink message. nft first reads every table of the
    namespace into its cache for a deletion, as for nearly every command: with a hundred
    faults' tables in one
    namespace (a hundred drills on one host) a delete took 50 ms, most of it the kernel
    zeroing the memory nft allocates per table, in an agent that serves its tasks one at a
    time. Over netlink it costs next to no CPU; it waits, asleep, for the kernel to
    acknowledge the transaction (8-23 ms here, as nft does too; docs/performance.md)."""
    if netns_missing(netns):
        return
    if _own_namespace(netns):
        _delete_over_netlink(_table(table)["name"])
        return
    try:
        run_nft(netns, {"nftables": [{"delete": {"table": _table(table)}}]})
    except CommandError as exc:
        if exists(netns, table):
            raise FaultError(f"nft could not delete {table}: {exc}") from exc


def _own_namespace(netns: str | None) -> bool:
    """Whether netlink from this process reaches ``netns``: it is this process's namespace."""
    return not netns or already_in(netns)


def _delete_over_netlink(name: str) -> None:
    try:
        nft_netlink.delete_table(name)
    except nft_netlink.NetlinkError as exc:
        if exc.errno != errno.ENOENT:  # ENOENT: gone already, as a revert wants it
            raise FaultError(f"the kernel refused to delete {name}: {exc.strerror}") from exc
    except OSError as exc:
        raise FaultError(f"could not ask the kernel to delete {name}: {exc}") from exc


def _exists_over_netlink(name: str) -> bool:
    try:
        return nft_netlink.table_exists(name)
    except OSError as exc:
        raise FaultError(f"cannot tell whether {name} exists: {exc}") from exc
