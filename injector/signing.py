"""Signatures on orchestrator -> agent requests: HMAC-SHA256 with one key per agent.

The orchestrator holds every agent's key, an agent only its own, so a request signed with the
key of ``db1`` can only have come from the orchestrator (or from ``db1``'s own agent, which
could do anything on ``db1`` anyway). The signature covers the canonical JSON of the request's
signed part (injector.protocol.SignedRequest): task, host, expiry and body.

Keys live in files, one per host: ``<credentials dir>/agents/<host>/hmac.key``, 32 random
bytes in hex, mode 0600. ``ensure_agent_key`` makes one the first time and is idempotent, so
enrolment, the lab and tests can all call it. Standard library only: hmac, hashlib, secrets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import secrets
import stat
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from injector.credentials import write_secret_once
from injector.protocol import (
    AgentTask,
    ProtocolError,
    SignedRequest,
    check_host_name,
)

log = logging.getLogger(__name__)

KEY_BYTES = 32
KEY_FILE_NAME = "hmac.key"


class KeyFileError(ValueError):
    """A key file that is missing or unusable; the message is a sentence."""


class SignatureError(ValueError):
    """A request the agent must not act on; the message is a sentence saying why."""


# -- canonical encoding ---------------------------------------------------------------------


def canonical_json(value: Any) -> bytes:
    """One byte string per value: sorted keys, no spaces, ASCII only, no NaN.

    Both ends build it from parsed JSON, so whatever the broker did to spacing or key order
    on the way, the signed bytes are the same.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


def signature_of(key: bytes, request: SignedRequest) -> str:
    return hmac.new(key, canonical_json(request.signed_part()), hashlib.sha256).hexdigest()


def sign(
    key: bytes, task: AgentTask, host: str, body: Mapping[str, Any], expires: float
) -> SignedRequest:
    """``body`` (a request's JSON) signed for ``host`` until ``expires`` (Unix time)."""
    if not math.isfinite(expires):
        raise ValueError("a signed request needs a finite expiry")
    # Through JSON and back: the signed bytes are then exactly what the agent will parse.
    plain = json.loads(json.dumps(dict(body), allow_nan=False))
    unsigned = SignedRequest(task.value, check_host_name(host), float(expires), plain)
    return replace(unsigned, signature=signature_of(key, unsigned))


_WHAT = {
    AgentTask.ADMIT: "request to admit a run",
    AgentTask.APPLY: "request to apply a fault",
    AgentTask.RENEW: "lease renewal",
    AgentTask.REVERT: "request to revert a fault",
}


def _what(task: AgentTask) -> str:
    return _WHAT.get(task, f"{task.name.lower()} request")


def utc(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def verify(
    key: bytes, raw: Any, *, task: AgentTask, host: str, now: float | None = None
) -> dict[str, Any]:
    """The body of a request signed with ``key`` for ``host`` and ``task``, still valid at
    ``now``; SignatureError with the reason for anything else."""
    what = _what(task)
    if not isinstance(raw, Mapping) or "signature" not in raw or "signed" not in raw:
        raise SignatureError(
            f"an unsigned {what} was refused: this agent acts only on requests signed by the "
            "orchestrator with this host's key"
        )
    try:
        request = SignedRequest.from_json(raw)
    except ProtocolError as exc:
        raise SignatureError(f"a malformed signed {what} was refused: {exc}") from None
    if request.host != host:
        raise SignatureError(
            f"a {what} signed for host {request.host} reached the agent of {host} and was refused"
        )
    if not hmac.compare_digest(signature_of(key, request), request.signature):
        raise SignatureError(
            f"a {what} whose signature does not match the key of {host} was refused (signed "
            "with another key, or changed on the way)"
        )
    if request.task != task.value:
        raise SignatureError(
            f"a request signed as {request.task} was delivered as a {what}; refused"
        )
    now = time.time() if now is None else now
    if request.expires < now:
        raise SignatureError(
            f"a {what} that expired at {utc(request.expires)} ({now - request.expires:.0f} s "
            "ago) was refused; if that is not long ago, check this host's clock"
        )
    return request.body


# -- key files ------------------------------------------------------------------------------


def agent_key_path(credentials_dir: Path, host: str) -> Path:
    """Where the key of ``host``'s agent lives under a credentials directory."""
    return Path(credentials_dir) / "agents" / check_host_name(host) / KEY_FILE_NAME


def parse_key(text: str, where: str) -> bytes:
    value = text.strip()
    if len(value) != 2 * KEY_BYTES or any(c not in "0123456789abcdef" for c in value):
        raise KeyFileError(f"{where} does not hold an agent key ({2 * KEY_BYTES} hex digits)")
    return bytes.fromhex(value)


def load_key(path: Path) -> bytes:
    """The key in ``path``; KeyFileError with a sentence when it is missing or malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KeyFileError(f"the agent key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"the agent key file {path} cannot be read ({exc})") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Not refused: a deployment may share it with a group on purpose. Said, though.
        log.warning("the agent key file %s can be read by others than its owner", path)
    return parse_key(text, f"the file {path}")


def ensure_agent_key(credentials_dir: Path, host: str) -> Path:
    """The key file of ``host``'s agent, made (32 random bytes, hex, 0600) if there is none.

    Idempotent and safe when two processes race: the key is written to a temporary file and
    linked into place, so a reader never sees half a key and the first writer wins. An
    existing file is never replaced, even a malformed one (that is an error to look at).
    """
    path = agent_key_path(credentials_dir, host)
    write_secret_once(path, secrets.token_hex(KEY_BYTES) + "\n")
    load_key(path)
    return path
