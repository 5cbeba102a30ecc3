"""Where probes connect, written as text: http(s) URLs, HOST:PORT, host names and DNS names,
and PostgreSQL DSNs.

A port inside such text is checked like a ``port:`` key (1..65535), and the error points at the
port itself (``offset`` in the error context), so a typo in a long URL is found at once.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from verifier.probes.pg_dsn import ALLOWED_KEYWORDS, DsnSyntaxError, missing_host, read_dsn, refusal

HTTP_SCHEMES = ("http", "https")
# libpq takes both spellings of the URI scheme.
DSN_SCHEMES = ("postgresql", "postgres")
PORT_RANGE = "1..65535"
SECRET_HINT = (
    "put the whole DSN in an environment variable the operator allows (dsn_env: SHOP_PG_DSN) "
    "or in the secret store (secret: shop-pg)"
)

_DIGITS = re.compile(r"[0-9]+")
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):([^:]*)")


def _check_port(text: str, offset: int, *, empty_ok: bool = False) -> None:
    """Raise a positioned error unless ``text`` is a port (empty means "the default" where
    ``empty_ok``: URLs and libpq allow ``host:``)."""
    if text == "" and empty_ok:
        return
    if not _DIGITS.fullmatch(text):
        raise PydanticCustomError(
            "port",
            "expected a port number {range}, found '{text}'",
            {"range": PORT_RANGE, "text": text, "offset": offset},
        )
    # The length first: int() refuses thousands of digits, and no port has more than five.
    if len(text.lstrip("0")) > 5 or not 1 <= int(text) <= 65535:
        raise PydanticCustomError(
            "port",
            "port {port} is out of range, expected {range}",
            {
                "port": text if len(text) <= 12 else f"{text[:9]}...",
                "range": PORT_RANGE,
                "offset": offset,
            },
        )


# -- http(s) URLs --
_CONTROL_OR_SPACE = re.compile(r"[\x00-\x20\x7f]")


def _http_url(value: str) -> str:
    """An http or https URL with a host: the probes speak HTTP and nothing else (no file://,
    no gopher://), and the URL carries no credentials and no hidden characters."""
    hidden = _CONTROL_OR_SPACE.search(value)
    if hidden is not None:
        # urlsplit would silently drop tabs and newlines: what runs must be what was written.
        raise PydanticCustomError(
            "url",
            "a URL may not contain spaces or control characters (found {char})",
            {"char": repr(hidden.group()), "offset": hidden.start()},
        )
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:  # an unclosed '[' of an IPv6 host, for one
        host = None
        parts = None
    if parts is None or parts.scheme not in HTTP_SCHEMES or not host:
        raise PydanticCustomError(
            "url", "expected an http:// or https:// URL with a host, got '{url}'", {"url": value}
        )
    if "@" in parts.netloc:
        # The probes never send them (no Authorization header), so they would do nothing but
        # keep a secret in the playbook, in the plan stored with every run and in its report.
        raise PydanticCustomError(
            "url",
            "a probe URL may not carry a user or password ('user:password@'): the probe does "
            "not send them, and the URL is stored and shown with every run",
            {
                "offset": value.find("//") + 2,
                "hint": "probe an endpoint that needs no credentials",
            },
        )
    # The port is what follows the last ':' of the authority, outside an IPv6 host's brackets.
    authority = parts.netloc
    after_host = authority[authority.find("]") + 1 :] if authority.startswith("[") else authority
    if ":" in after_host:
        port = after_host.rpartition(":")[2]
        at = value.find(parts.netloc)
        _check_port(port, at + len(parts.netloc) - len(port), empty_ok=True)
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]


# -- HOST:PORT --
def _host_port(value: str) -> str:
    match = _HOST_PORT.fullmatch(value)
    if match is None or match.group(2) == "":
        raise PydanticCustomError(
            "host_port",
            "expected HOST:PORT like db1:6379 or 10.77.0.3:6379, got '{text}'",
            {"text": value},
        )
    _check_port(match.group(2), match.start(2))
    return value


HostPort = Annotated[str, AfterValidator(_host_port)]  # target name or address, with port


# -- host names and DNS names --
# A label of letters, digits, '-' and '_' (SRV names: _redis._tcp), neither starting nor ending
# with '-': so no name can pass for an option, a path or anything but a name.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_DNS_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")


def _is_dns_name(value: str) -> bool:
    return len(value.rstrip(".")) <= 253 and _DNS_NAME.fullmatch(value) is not None


def _dns_name(value: str) -> str:
    if not _is_dns_name(value):
        raise PydanticCustomError(
            "dns_name",
            "expected a DNS name like db1.lab or _redis._tcp.shop.internal, got '{text}'",
            {"text": value},
        )
    return value


DnsName = Annotated[str, AfterValidator(_dns_name)]


def _host(value: str) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        if not _is_dns_name(value):
            raise PydanticCustomError(
                "host",
                "expected a target name, a host name or an IP address like 10.77.0.3, got '{text}'",
                {"text": value if len(value) <= 60 else f"{value[:57]}..."},
            ) from None
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id is not None:
            # A scope names an interface of the machine that probes: the probe would leave
            # through it to a link-local peer, wherever that is.
            raise PydanticCustomError(
                "host",
                "an address with a scope (the part after %) names an interface, not a host, "
                "got '{text}'",
                {"text": value if len(value) <= 60 else f"{value[:57]}..."},
            )
    return value


Host = Annotated[str, AfterValidator(_host)]  # a target name, an inventory host or an address


# -- PostgreSQL DSNs --
def _dsn(value: str) -> str:
    """A libpq connection string (a postgresql:// URI or key=value pairs) that names a network
    host, uses only the keywords a canary may use (no local files: verifier/probes/pg_dsn.py),
    holds no password, and whose ports are ports."""
    scheme, separator, _ = value.partition("://")
    if separator and scheme not in DSN_SCHEMES:
        raise PydanticCustomError(
            "dsn",
            "expected a postgresql:// URL or key=value pairs like "
            "'host=db1 port=5432 dbname=shop', found the scheme '{scheme}'",
            {"scheme": scheme, "offset": 0},
        )
    try:
        entries = read_dsn(value)
    except DsnSyntaxError as exc:
        raise PydanticCustomError(
            "dsn", "not a PostgreSQL DSN: {problem}", {"problem": str(exc), "offset": exc.offset}
        ) from None
    for entry in entries:
        if entry.key == "password":
            # Stored with every version and run, shown on pages and in reports: named, never
            # written (verifier/probes/secret_refs.py).
            raise PydanticCustomError(
                "dsn_password",
                "a password is written in the DSN; a playbook names its secrets and never "
                "holds them",
                {"offset": entry.value_at, "hint": SECRET_HINT},
            )
        problem = refusal(entry.key, entry.value)
        if problem is not None:
            # A keyword that may not be used: point at it; a value that may not: at the value.
            at = entry.value_at if entry.key in ALLOWED_KEYWORDS else entry.key_at
            raise PydanticCustomError("dsn", "{problem}", {"problem": problem, "offset": at})
        if entry.key == "port":
            for text, offset in entry.items():
                _check_port(text, offset, empty_ok=True)
    problem = missing_host({entry.key for entry in entries})
    if problem is not None:
        raise PydanticCustomError("dsn", "{problem}", {"problem": problem, "offset": 0})
    return value


PostgresDsn = Annotated[str, AfterValidator(_dsn)]
