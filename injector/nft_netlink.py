"""The two nftables requests an agent sends the kernel itself: is a table there, delete it.

Everything else goes through nft (``injector.nft``). The deletion does not, because nft reads
every table of the namespace into its cache first, allocating 512 KiB of hash buckets per
table: with the hundred tables of a hundred drills on one host, an nft deletion took 50 ms
(30 of them the kernel zeroing those pages) in an agent that serves its tasks one at a time.
(nft's listing of one table is filtered, 4 ms there; the lookup goes with the deletion so
that a revert and its check speak to the kernel the same way.) A netlink request names one
table and costs next to no CPU: a lookup answers in 0.1-0.2 ms; a deletion waits 8-23 ms
(asleep) for the kernel to acknowledge its transaction, as nft's does.

Written here rather than with pyroute2 (a dependency already, for the lab's namespaces): its
netlink package added 11 MiB to an agent's resident memory (99 MiB against 88 on db1; the
goal is 120 MiB for the whole agent, docs/performance.md) and 0.1 s to its first revert; and
its deletion returned in 0.2-0.4 ms, before the kernel's acknowledgement, so a revert could be
reported done before the kernel had said so. A request here is one datagram of fixed layout
(linux/netlink.h, linux/netfilter/nfnetlink.h, linux/netfilter/nf_tables.h), built from a
table name that ``injector.nft`` has already matched against its pattern.

Both act in the network namespace of the calling process: the caller checks it is the one meant.
"""

from __future__ import annotations

import errno
import os
import socket
import struct

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
NFNL_MSG_BATCH_BEGIN = 0x10
NFNL_MSG_BATCH_END = 0x11
NFT_MSG_GETTABLE = 1
NFT_MSG_DELTABLE = 2
NFTA_TABLE_NAME = 1
NLMSG_ERROR = 2
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NFPROTO_INET = 1

_HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
_NFGEN = struct.Struct("=BBH")  # nfgenmsg: family, version, resource id (big-endian)
_ATTR = struct.Struct("=HH")  # nlattr: length, type
_ERROR = struct.Struct("=i")  # nlmsgerr: -errno, or 0 for an acknowledgement

TIMEOUT_S = 5.0
# Each request has a socket of its own, so its messages can always be numbered the same:
# the batch's begin, the request, the batch's end.
BEGIN, REQUEST, END = 1, 2, 3


class NetlinkError(OSError):
    """The kernel answered a request with an error (``errno`` says which)."""


def table_exists(name: str, family: int = NFPROTO_INET) -> bool:
    try:
        _request(_nftables(NFT_MSG_GETTABLE), family, name, batch=False)
    except NetlinkError as exc:
        if exc.errno == errno.ENOENT:
            return False
        raise
    return True


def delete_table(name: str, family: int = NFPROTO_INET) -> None:
    """Delete the table and everything in it, in one transaction. NetlinkError(ENOENT) when
    there is no such table."""
    _request(_nftables(NFT_MSG_DELTABLE), family, name, batch=True)


def _nftables(message: int) -> int:
    return (NFNL_SUBSYS_NFTABLES << 8) | message


def _message(kind: int, flags: int, sequence: int, family: int, body: bytes = b"") -> bytes:
    # A batch's begin and end name the subsystem the batch is for, in network byte order.
    batch_edge = kind in (NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END)
    resource = socket.htons(NFNL_SUBSYS_NFTABLES) if batch_edge else 0
    payload = _NFGEN.pack(family, 0, resource) + body
    return _HEADER.pack(_HEADER.size + len(payload), kind, flags, sequence, 0) + payload


def _name_attribute(name: str) -> bytes:
    value = name.encode("ascii") + b"\0"
    padding = b"\0" * (-len(value) % 4)
    return _ATTR.pack(_ATTR.size + len(value), NFTA_TABLE_NAME) + value + padding


def _request(kind: int, family: int, name: str, *, batch: bool) -> None:
    """Send one request for the table ``name`` and wait for the kernel's acknowledgement;
    a change goes inside a batch, as nftables takes changes only as transactions."""
    request = _message(kind, NLM_F_REQUEST | NLM_F_ACK, REQUEST, family, _name_attribute(name))
    if batch:
        request = (
            _message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, BEGIN, 0)
            + request
            + _message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, END, 0)
        )
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                       NETLINK_NETFILTER) as sock:  # fmt: skip
        sock.settimeout(TIMEOUT_S)
        sock.bind((0, 0))
        sock.send(request)
        while True:
            for answered, error in _acknowledgements(sock.recv(65536)):
                if error:
                    raise NetlinkError(error, os.strerror(error))
                if answered == REQUEST:
                    return


def _acknowledgements(data: bytes) -> list[tuple[int, int]]:
    """(message number, errno) of each acknowledgement (errno 0) or error in ``data``; other
    messages (the table itself, answering a lookup) are passed over."""
    found = []
    offset = 0
    while offset + _HEADER.size <= len(data):
        length, kind, _, answered, _ = _HEADER.unpack_from(data, offset)
        if length < _HEADER.size:
            break
        if kind == NLMSG_ERROR:
            (code,) = _ERROR.unpack_from(data, offset + _HEADER.size)
            found.append((answered, -code))
        offset += (length + 3) & ~3
    return found
