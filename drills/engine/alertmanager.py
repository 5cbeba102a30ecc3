"""Alertmanager's v2 API, the part Drillhall uses: create, expire and list silences.

Framework-free and standard library only (urllib, JSON): the orchestrator silences alerts
through it during a drill's fault windows (drills/engine/silences.py decides when), the demo
and ``drillhall doctor`` ask it whether Alertmanager answers. Every request is bounded by a
short timeout, every failure is an ``AlertmanagerError`` whose text is a sentence, and nothing a
playbook says reaches a request unescaped: a host goes into a matcher only through
``host_matcher`` (``re.escape``), bodies are JSON, and a silence id in a path is checked and
quoted.

A base URL may carry a user and password (Alertmanager's own basic auth, or a proxy's): they go
into an Authorization header and never into a sentence. Environment proxies are not used, and
redirects are refused: the URL is the Alertmanager, or a mistake worth saying.
"""

from __future__ import annotations

import base64
import json
import re
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from drills.engine.silences import SilenceError

# Alertmanager answers from memory: on loopback or a LAN it takes milliseconds. A drill waits
# at most this long for any one request, so an Alertmanager that hangs cannot hold a run up.
DEFAULT_TIMEOUT_S = 1.0
CREATED_BY = "drillhall"
# The label that names a host when nobody says otherwise: Prometheus sets it on every series
# it scrapes, to the target's address (db1:9100).
DEFAULT_HOST_LABEL = "instance"
# A silence starts this much before the moment it is asked for: a server clock a little ahead
# of Alertmanager's would otherwise make it "pending" (not yet muting) when the fault lands.
# Alertmanager starts a silence whose start has passed at once, so nothing is silenced earlier.
CLOCK_SKEW_S = 60.0
# Prometheus' label names (the game day's silence.host_label is held to the same pattern).
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,62}$")
# Alertmanager's silence ids are UUIDs; anything else in an answer is not put into a path.
SILENCE_ID = re.compile(r"^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
# The most of an answer read (a busy Alertmanager's list of silences, kept for 5 days).
MAX_ANSWER_BYTES = 16 << 20
# How much of an error body a sentence quotes.
BODY_CHARS = 200


class AlertmanagerError(SilenceError):
    """Alertmanager could not be reached, refused, or answered something unreadable."""


def base_url(raw: str) -> str:
    """A checked Alertmanager base URL (``http(s)://host[:port][/prefix]``, no trailing slash);
    "" for "" (no Alertmanager). ValueError with a sentence for anything else."""
    raw = raw.strip()
    if not raw:
        return ""
    parts = urlsplit(raw)
    shown = _shown(raw)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{shown} is not an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError(f"{shown} names no host")
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        raise ValueError(f"{shown} has a port that is not a number") from None
    if parts.query or parts.fragment:
        raise ValueError(f"{shown}: give the base URL only, without ? or #")
    path = parts.path.rstrip("/")
    if path.endswith("/api/v2"):  # a common slip: the client adds the API path itself
        path = path.removesuffix("/api/v2")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _shown(url: str) -> str:
    """``url`` for people: without its user and password."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1]))


def rfc3339(t: float) -> str:
    return (
        datetime.fromtimestamp(t, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


_OPERATORS = {(True, False): "=", (True, True): "=~", (False, False): "!=", (False, True): "!~"}


@dataclass(frozen=True)
class Matcher:
    """One silence matcher: ``name`` equals (or, ``is_regex``, fully matches) ``value``."""

    name: str
    value: str
    is_regex: bool = False
    is_equal: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Matcher:
        return cls(
            str(data.get("name", "")),
            str(data.get("value", "")),
            bool(data.get("isRegex", False)),
            bool(data.get("isEqual", True)),
        )

    def text(self) -> str:
        """As Alertmanager writes it: ``instance=~"db1(?::[0-9]+)?"``."""
        op = _OPERATORS[(self.is_equal, self.is_regex)]
        return f"{self.name}{op}{json.dumps(self.value)}"


def host_matcher(label: str, host: str) -> Matcher:
    """The alerts about ``host``: ``label`` is the host, or the host and a port.

    Prometheus sets ``instance`` to the scrape target's address, usually ``host:port``
    (``db1:9100`` from node_exporter, ``db1:9121`` from redis_exporter), while labels that
    relabelling adds (``hostname``, ``node``) usually carry the bare name. One regex catches
    both, ``db1`` and ``db1:<digits>``, and never another host that starts the same
    (``db10``, ``db1.example.com``): Alertmanager anchors a regex matcher at both ends. The host
    is escaped with ``re.escape``, whose output Go's regexp (RE2) reads as the same literal.
    """
    if not LABEL_NAME.match(label):
        raise ValueError(f"{label!r} is not a label name (letters, digits and _)")
    if not host:
        raise ValueError("no host to silence alerts about")
    return Matcher(label, f"{re.escape(host)}(?::[0-9]+)?", is_regex=True)


def host_matcher_text(label: str, host: str) -> str:
    """``host_matcher`` for a sentence: ``instance is db1 or db1:<port>``."""
    return f"{label} is {host} or {host}:<port>"


@dataclass(frozen=True)
class Silence:
    """A silence as Alertmanager reports it."""

    id: str
    state: str  # active | pending | expired
    matchers: tuple[Matcher, ...]
    starts_at: float | None
    ends_at: float | None
    updated_at: float | None
    created_by: str
    comment: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Silence:
        status = data.get("status")
        return cls(
            str(data.get("id", "")),
            str(status.get("state", "")) if isinstance(status, dict) else "",
            tuple(Matcher.from_json(m) for m in data.get("matchers") or () if isinstance(m, dict)),
            _epoch(data.get("startsAt")),
            _epoch(data.get("endsAt")),
            _epoch(data.get("updatedAt")),
            str(data.get("createdBy", "")),
            str(data.get("comment", "")),
        )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None  # urllib then raises the 3xx as an HTTPError, which says where it pointed


class AlertmanagerClient:
    """Alertmanager's v2 API at ``url`` (a ``base_url``)."""

    def __init__(self, url: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        checked = base_url(url)
        if not checked:
            raise ValueError("no Alertmanager URL")
        parts = urlsplit(checked)
        self._auth: str | None = None
        if parts.username is not None:
            user, password = unquote(parts.username), unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            self._auth = f"Basic {token}"
        self.url = _shown(checked)  # what requests go to, and what sentences name
        self.timeout = timeout
        # No proxies from the environment, no redirects.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects)

    # -- the API ---------------------------------------------------------------------------
    def create_silence(
        self,
        matchers: list[Matcher] | tuple[Matcher, ...],
        starts_at: float,
        ends_at: float,
        comment: str,
        created_by: str = CREATED_BY,
    ) -> str:
        """A new silence; its id."""
        body = {
            "matchers": [m.to_json() for m in matchers],
            "startsAt": rfc3339(starts_at),
            "endsAt": rfc3339(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        answer = self._request("POST", "/api/v2/silences", body, "create a silence")
        silence_id = answer.get("silenceID") if isinstance(answer, dict) else None
        if not isinstance(silence_id, str) or not SILENCE_ID.match(silence_id):
            raise AlertmanagerError(
                f"Alertmanager at {self.url} created a silence but gave no silence id "
                "Drillhall can read; is this URL an Alertmanager?",
                unreachable=False,
            )
        return silence_id

    def expire_silence(self, silence_id: str) -> None:
        """Expire it now; one that has expired already (by hand, or its end passed) is fine."""
        path = self._silence_path(silence_id)
        try:
            self._request("DELETE", path, None, f"expire silence {silence_id}")
        except AlertmanagerError as exc:
            if exc.unreachable:
                raise
            # Some versions refuse to expire what has expired (500 "already expired"): ask
            # rather than read their error text.
            try:
                state = self.silence(silence_id).state
            except AlertmanagerError:
                raise exc from None
            if state != "expired":
                raise

    def silence(self, silence_id: str) -> Silence:
        path = self._silence_path(silence_id)
        answer = self._request("GET", path, None, f"read silence {silence_id}")
        if not isinstance(answer, dict):
            raise self._unreadable("silence " + silence_id)
        return Silence.from_json(answer)

    def silences(self) -> list[Silence]:
        answer = self._request("GET", "/api/v2/silences", None, "list silences")
        if not isinstance(answer, list):
            raise self._unreadable("list of silences")
        return [Silence.from_json(s) for s in answer if isinstance(s, dict)]

    def version(self) -> str:
        """Alertmanager's version (``GET /api/v2/status``): whether it answers, for the doctor."""
        answer = self._request("GET", "/api/v2/status", None, "report its status")
        info = answer.get("versionInfo") if isinstance(answer, dict) else None
        if not isinstance(info, dict) or not isinstance(info.get("version"), str):
            raise self._unreadable("status")
        return str(info["version"])

    # -- plumbing --------------------------------------------------------------------------
    def _silence_path(self, silence_id: str) -> str:
        if not SILENCE_ID.match(silence_id):
            raise ValueError(f"{silence_id!r} is not an Alertmanager silence id")
        return "/api/v2/silence/" + quote(silence_id, safe="")

    def _unreadable(self, what: str) -> AlertmanagerError:
        return AlertmanagerError(
            f"Alertmanager at {self.url} answered with a {what} Drillhall cannot read; is this "
            "URL an Alertmanager (v0.16 or later, API v2)?",
            unreachable=False,
        )

    def _request(self, method: str, path: str, body: Any, doing: str) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310 (http/https only, checked)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self._auth:
            request.add_header("Authorization", self._auth)
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                raw = response.read(MAX_ANSWER_BYTES)
        except urllib.error.HTTPError as exc:
            raise AlertmanagerError(
                f"Alertmanager at {self.url} refused to {doing}: HTTP {exc.code}"
                f"{_said(exc)}{_hint(exc.code)}",
                unreachable=False,
            ) from None
        except urllib.error.URLError as exc:
            raise AlertmanagerError(
                f"Alertmanager at {self.url} could not be reached to {doing}: "
                f"{_reason(exc.reason, self.timeout)}",
                unreachable=True,
            ) from None
        except TimeoutError:
            raise AlertmanagerError(
                f"Alertmanager at {self.url} did not answer within {self.timeout:g} s "
                f"when asked to {doing}",
                unreachable=True,
            ) from None
        except (OSError, ValueError) as exc:  # a connection reset mid-answer, a bad status line
            raise AlertmanagerError(
                f"Alertmanager at {self.url} could not be reached to {doing}: "
                f"{_reason(exc, self.timeout)}",
                unreachable=True,
            ) from None
        if not raw.strip():
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise AlertmanagerError(
                f"Alertmanager at {self.url} answered a request to {doing} with something "
                "that is not JSON; is this URL an Alertmanager?",
                unreachable=False,
            ) from None


def _reason(reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is it running, on that port?)"
    if isinstance(reason, socket.gaierror):
        return "its host name does not resolve"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror.lower()
    return str(reason) or type(reason).__name__


def _said(exc: urllib.error.HTTPError) -> str:
    """What Alertmanager said with an error, as printable text, briefly."""
    if 300 <= exc.code < 400:
        where = exc.headers.get("Location", "") if exc.headers else ""
        return f" (a redirect to {_printable(_shown(where))})" if where else " (a redirect)"
    try:
        raw = exc.read(4096).decode("utf-8", "replace")
    except OSError:
        return ""
    try:  # Alertmanager's errors are JSON strings, or objects with a message
        parsed = json.loads(raw)
        if isinstance(parsed, dict):
            parsed = parsed.get("message", raw)
        text = str(parsed)
    except ValueError:
        text = raw
    text = _printable(text).strip()
    if len(text) > BODY_CHARS:
        text = text[:BODY_CHARS] + "…"
    return f" ({text})" if text else ""


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)


def _hint(code: int) -> str:
    if code in (401, 403):
        return "; give DRILLHALL_ALERTMANAGER_URL the user and password it asks for"
    if code == 404:
        return (
            "; is DRILLHALL_ALERTMANAGER_URL the Alertmanager's base URL (with its route prefix)?"
        )
    if 300 <= code < 400:
        return "; set DRILLHALL_ALERTMANAGER_URL to where it points"
    return ""


class AlertmanagerSilencer:
    """A run's silences in Alertmanager: the alerts about a host, by one label (``label``)."""

    def __init__(self, client: AlertmanagerClient, label: str = DEFAULT_HOST_LABEL) -> None:
        if not LABEL_NAME.match(label):
            raise ValueError(f"{label!r} is not a label name (letters, digits and _)")
        self.client = client
        self.label = label

    def describe(self, host: str) -> str:
        return host_matcher_text(self.label, host)

    def create(self, host: str, starts_at: float, ends_at: float, comment: str) -> str:
        return self.client.create_silence(
            [host_matcher(self.label, host)], starts_at - CLOCK_SKEW_S, ends_at, comment
        )

    def expire(self, silence_id: str) -> None:
        self.client.expire_silence(silence_id)
