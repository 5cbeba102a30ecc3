"""What a PostgreSQL canary's DSN may say, and a reading of its text that keeps offsets.

A DSN is libpq's: ``key=value`` pairs or a ``postgresql://`` URI. Most keywords shape the
connection, but some name files on the machine that connects (``passfile``, ``service``,
``sslcert``, ``sslkey``, ``sslrootcert``, ``sslcrl``, ``sslcrldir``; ``sslkeylogfile`` even
*writes* one), and a host written as a path is a local Unix socket. The canary connects from
the orchestrator, as root, so a playbook may use only the keywords below and must name a host
reached over the network.

Two readers apply the same rules: the playbook model reads the text here (no libpq needed) so
an issue points at the word; the canary checks libpq's own reading again before it connects,
so neither a reader's slip nor a plan built by other means gets a file through.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import unquote

URI_PREFIXES = ("postgresql://", "postgres://")

# The connection itself: where, who, how long, TLS negotiated with the server's certificate
# checked against the orchestrator's own defaults. Nothing here names a local file.
ALLOWED_KEYWORDS = frozenset(
    {
        "host", "hostaddr", "port", "dbname", "user", "password", "options",
        "application_name", "fallback_application_name", "connect_timeout", "client_encoding",
        "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
        "tcp_user_timeout", "target_session_attrs", "load_balance_hosts", "sslmode",
        "sslnegotiation", "sslsni", "ssl_min_protocol_version", "ssl_max_protocol_version",
        "channel_binding", "require_auth", "gssencmode",
    }
)  # fmt: skip
# Refused with a reason of their own: they name a file the connecting process reads or writes.
FILE_KEYWORDS = frozenset(
    {
        "passfile", "service", "servicefile", "sslcert", "sslkey", "sslrootcert", "sslcrl",
        "sslcrldir", "sslkeylogfile", "sslpassword",
    }
)  # fmt: skip
# C's isspace() in the "C" locale, as libpq's parser uses it.
_SPACE = " \t\n\v\f\r"


class DsnSyntaxError(ValueError):
    """The text is not a DSN libpq would read; ``offset`` is where the reading stopped."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class DsnEntry:
    """One keyword of a DSN with its value as libpq reads it (quotes, escapes and %XX
    resolved), where the key and the value start in the text, and where each comma-separated
    item of the value starts (a URL's ports are apart from each other, behind their hosts)."""

    key: str
    value: str
    key_at: int
    value_at: int
    items_at: tuple[int, ...] = ()

    def items(self) -> list[tuple[str, int]]:
        """Each comma-separated item of the value with where it starts in the text."""
        texts = self.value.split(",")
        starts = list(self.items_at) + [self.value_at] * (len(texts) - len(self.items_at))
        return list(zip(texts, starts, strict=True))


def refusal(key: str, value: str) -> str | None:
    """Why ``key=value`` may not be in a canary DSN, or None when it may."""
    if key in FILE_KEYWORDS:
        return f"'{key}' names a file on the orchestrator, which a playbook may not choose"
    if key not in ALLOWED_KEYWORDS:
        allowed = ", ".join(sorted(ALLOWED_KEYWORDS))
        return f"'{key}' is not allowed in a canary DSN; allowed: {allowed}"
    if key == "host":
        for host in value.split(","):
            if host == "" or host.startswith(("/", "@")):
                # An empty entry means libpq's default, which is a local socket too.
                return (
                    f"host '{host}' is a local socket, not a network host; "
                    "the canary connects over TCP: name a host or an address"
                )
    if key == "hostaddr":
        for address in value.split(","):
            try:
                ipaddress.ip_address(address)
            except ValueError:
                return f"hostaddr '{address}' is not an IP address"
    if key == "dbname" and ("=" in value or "://" in value):
        return "dbname is a database name, not another connection string"
    return None


def missing_host(keys: set[str]) -> str | None:
    """Without a host libpq connects to a local socket (or to $PGHOST): a DSN must name one."""
    if keys & {"host", "hostaddr"}:
        return None
    return (
        "the DSN names no host: write the database's host or address (host=db1, or @db1 in a URL)"
    )


def check_params(params: Mapping[str, object]) -> None:
    """Raise ValueError unless libpq's reading of a DSN (keyword -> value) keeps to the rules."""
    for key, value in params.items():
        problem = refusal(key, "" if value is None else str(value))
        if problem is not None:
            raise ValueError(problem)
    problem = missing_host(set(params))
    if problem is not None:
        raise ValueError(problem)


def read_dsn(text: str) -> list[DsnEntry]:
    """Every keyword of ``text`` as libpq's parser reads it (fe-connect.c: conninfo_parse and
    conninfo_uri_parse); raises DsnSyntaxError where libpq would refuse the text."""
    if text.startswith(URI_PREFIXES):
        return list(_read_uri(text))
    return list(_read_pairs(text))


def _read_pairs(text: str) -> Iterator[DsnEntry]:
    at = 0
    end = len(text)
    while at < end:
        if text[at] in _SPACE:
            at += 1
            continue
        key_at = at
        while at < end and text[at] != "=" and text[at] not in _SPACE:
            at += 1
        key = text[key_at:at]
        while at < end and text[at] in _SPACE:
            at += 1
        if at >= end or text[at] != "=":
            raise DsnSyntaxError(f"missing '=' after '{key}'", key_at)
        at += 1
        while at < end and text[at] in _SPACE:
            at += 1
        value_at = at
        value: list[str] = []
        if at < end and text[at] == "'":
            at += 1
            while True:
                if at >= end:
                    raise DsnSyntaxError("unterminated quoted string", value_at)
                char = text[at]
                if char == "\\":
                    at += 1
                    if at < end:
                        value.append(text[at])
                        at += 1
                    continue
                at += 1
                if char == "'":
                    break
                value.append(char)
        else:
            while at < end and text[at] not in _SPACE:
                if text[at] == "\\":
                    at += 1
                    if at >= end:
                        break
                value.append(text[at])
                at += 1
            at += 1  # the blank that ended the value
        text_value = "".join(value)
        yield DsnEntry(key, text_value, key_at, value_at, _items_at(text, value_at, text_value))


def _items_at(text: str, value_at: int, value: str) -> tuple[int, ...]:
    """Where each comma-separated item of a key=value value starts (exact without escapes)."""
    at = value_at + (text[value_at : value_at + 1] == "'")
    starts = []
    for item in value.split(","):
        starts.append(at)
        at += len(item) + 1
    return tuple(starts)


def _read_uri(text: str) -> Iterator[DsnEntry]:
    start = len(next(p for p in URI_PREFIXES if text.startswith(p)))
    at = start
    # libpq looks for '@' only up to the first '/': what precedes it is user[:password].
    end_of_netloc = len(text)
    for index in range(start, len(text)):
        if text[index] in "@/":
            end_of_netloc = index
            break
    if end_of_netloc < len(text) and text[end_of_netloc] == "@":
        userinfo = text[start:end_of_netloc]
        user, colon, password = userinfo.partition(":")
        if user:
            yield DsnEntry("user", unquote(user), start, start)
        if colon:
            password_at = start + len(user) + 1
            yield DsnEntry("password", unquote(password), password_at, password_at)
        at = end_of_netloc + 1
    hosts: list[tuple[str, int]] = []
    ports: list[tuple[str, int]] = []  # one per host, "" where it has none
    while True:
        if at < len(text) and text[at] == "[":
            closing = text.find("]", at)
            if closing < 0:
                raise DsnSyntaxError("unterminated IPv6 host address", at)
            hosts.append((text[at + 1 : closing], at + 1))
            at = closing + 1
        else:
            host_at = at
            while at < len(text) and text[at] not in ":/?,":
                at += 1
            hosts.append((text[host_at:at], host_at))
        port_at = at + 1
        if at < len(text) and text[at] == ":":
            at = port_at
            while at < len(text) and text[at] not in "/?,":
                at += 1
        ports.append((text[port_at:at] if at >= port_at else "", port_at))
        if at < len(text) and text[at] == ",":
            at += 1
            continue
        break
    # As libpq: the lists are stored when they are not empty, and %XX-decoded as a whole.
    for key, items in (("host", hosts), ("port", ports)):
        joined = ",".join(item for item, _ in items)
        if joined:
            starts = tuple(start for _, start in items)
            yield DsnEntry(key, unquote(joined), starts[0], starts[0], starts)
    if at < len(text) and text[at] == "/":
        dbname_at = at + 1
        at = text.find("?", dbname_at)
        at = len(text) if at < 0 else at
        if at > dbname_at:
            yield DsnEntry("dbname", unquote(text[dbname_at:at]), dbname_at, dbname_at)
    if at < len(text) and text[at] == "?":
        yield from _read_query(text, at + 1)


def _read_query(text: str, at: int) -> Iterator[DsnEntry]:
    for pair in text[at:].split("&"):
        key, separator, value = pair.partition("=")
        if not separator:
            raise DsnSyntaxError(f"missing '=' in URL parameter '{pair}'", at)
        if "=" in value:
            raise DsnSyntaxError(f"extra '=' in URL parameter '{pair}'", at)
        yield DsnEntry(unquote(key), unquote(value), at, at + len(key) + 1)
        at += len(pair) + 1
