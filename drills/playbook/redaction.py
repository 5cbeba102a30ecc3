"""Redaction: what looks like a credential is masked wherever a playbook, plan, event or report
is shown or stored.

Playbooks name their secrets (``dsn_env``, ``secret``: verifier/probes/secret_refs.py) and
never hold one; the parser refuses a text in which ``find_credentials`` finds anything. This
module is the second line: versions saved before that rule, plans stored with old runs, and
messages that quote what a server or a library said are all shown through ``redact``. What
counts as a credential:

- the password of a URL's user info (``postgresql://shop:<here>@db1``);
- ``key=value`` where the key ends in password, passwd, pwd, passphrase, secret, token,
  api_key, access_key or private_key (``password=``, ``PGPASSWORD=``, ``?token=``);
- ``key: value`` (YAML, JSON, headers) for the same keys except a bare ``secret``, which in a
  playbook is the *name* of a secret (``secret: shop-pg``), not one;
- ``Authorization:`` headers (the credential after Bearer, Basic, ...);
- ``--password VALUE`` options.

Only the value is replaced, by ``MASK``, so a DSN, a URL or a YAML line keeps its shape and a
reader sees which part was hidden. ``MASK`` is itself matched by every pattern, so redacting
twice changes nothing, and it has no meaning in YAML (unlike ``*`` or ``[``), so a playbook
stays YAML. Text without a credential is returned unchanged, character for character.

No Django here: the parser, the plan, the CLI, the reports and the web app all use it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

MASK = "<redacted>"

# Key names that hold a credential, matched at the end of a longer name (PGPASSWORD, db_password,
# X-Api-Key, csrfmiddlewaretoken).
_SECRET_WORDS = (
    r"password|passwd|pwd|passphrase|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|secret[_-]?key|client[_-]?secret"
)
_KEY = rf"(?<![\w.-])(?P<key>[\w.-]*?(?:{_SECRET_WORDS}))"
# A value in quotes (escapes kept inside), or bare up to a blank, a separator or a quote.
_QUOTED = r"'(?P<single>(?:[^'\\\n]|\\.)*)'|\"(?P<double>(?:[^\"\\\n]|\\.)*)\""


@dataclass(frozen=True)
class _Shape:
    kind: str  # what a person is told was found
    pattern: re.Pattern[str]


_SHAPES = (
    _Shape(
        "the password of a URL",
        # scheme://user:PASSWORD@ : libpq and urllib both end the user info at '@'.
        re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/?#@:'\"]*:(?P<bare>[^\s/@'\"]+)@", re.I),
    ),
    _Shape(
        "a key=value password or token",
        # Also secret=: in a DSN, a query string or a shell assignment nothing else is meant.
        re.compile(
            rf"(?<![\w.-])(?P<key>[\w.-]*?(?:{_SECRET_WORDS}|secret))[ \t]*=[ \t]*"
            rf"(?:{_QUOTED}|(?P<bare>[^\s&'\",;]+))",
            re.I,
        ),
    ),
    _Shape(
        "a key: value password or token",
        # YAML, JSON and header lines. Not a bare `secret:`, a playbook's name of a secret; nor
        # a value that starts a YAML block, anchor, alias, tag or collection.
        re.compile(
            rf"(?P<quote>[\"']?){_KEY}(?P=quote)[ \t]*:[ \t]*"
            rf"(?:{_QUOTED}|(?P<bare>(?![|>&*!{{\[])[^\s,}}\]'\"]+))",
            re.I,
        ),
    ),
    _Shape(
        "an Authorization header",
        re.compile(
            r"(?<![\w-])(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?"
            r"(?:(?:bearer|basic|digest|token|negotiate|ntlm)[ \t]+)?(?P<bare>[^\s'\",;]+)",
            re.I,
        ),
    ),
    _Shape(
        "a --password option",
        re.compile(
            r"(?<![\w-])--(?:password|passwd|pass|token|api-key)[ \t]+(?P<bare>[^\s'\"-][^\s'\"]*)",
            re.I,
        ),
    ),
)

# Keys of a structure (an event's data, a plan's parameters) whose whole value is a credential.
_SECRET_KEY = re.compile(rf"[\w.-]*(?:{_SECRET_WORDS}|authorization)", re.I)


@dataclass(frozen=True)
class Credential:
    """Where a credential's value is in a text (``start``..``end``) and what shape it has."""

    start: int
    end: int
    kind: str


# Every shape holds one of these, and no shape spans lines: only the lines with one are read
# by the shapes, so a long text (a 256 KiB playbook, a stream of samples) costs one scan.
_MAYBE = re.compile(r"pass|pwd|secret|token|key|auth|://", re.I)


def find_credentials(text: str) -> list[Credential]:
    """Every credential value in ``text``, in order, overlaps merged; values that are already
    ``MASK`` are not credentials."""
    found = sorted(_values(text), key=lambda c: (c.start, -c.end))
    merged: list[Credential] = []
    for credential in found:
        if merged and credential.start < merged[-1].end:
            last = merged[-1]
            if credential.end > last.end:
                merged[-1] = Credential(last.start, credential.end, last.kind)
            continue
        merged.append(credential)
    return [c for c in merged if text[c.start : c.end] != MASK]


def _lines_to_read(text: str) -> Iterator[tuple[int, int]]:
    at = 0
    while (hit := _MAYBE.search(text, at)) is not None:
        start = text.rfind("\n", 0, hit.start()) + 1
        end = text.find("\n", hit.end())
        end = len(text) if end < 0 else end
        yield start, end
        at = end + 1


def _values(text: str) -> Iterator[Credential]:
    for start, end in _lines_to_read(text):
        yield from _values_in(text, start, end)


def _values_in(text: str, start: int, end: int) -> Iterator[Credential]:
    for shape in _SHAPES:
        for match in shape.pattern.finditer(text, start, end):
            for group in ("single", "double", "bare"):
                if group in shape.pattern.groupindex and match.group(group) is not None:
                    first, last = match.span(group)
                    if last > first:
                        yield Credential(first, last, shape.kind)
                    break


def redact(text: str) -> str:
    """``text`` with every credential value replaced by MASK (idempotent)."""
    if not text or _MAYBE.search(text) is None:  # the usual text: one scan, nothing to find
        return text
    found = find_credentials(text)
    if not found:
        return text
    parts: list[str] = []
    at = 0
    for credential in found:
        parts.append(text[at : credential.start])
        parts.append(MASK)
        at = credential.end
    parts.append(text[at:])
    return "".join(parts)


def redact_data(value: Any) -> Any:
    """A copy of a JSON-like structure with every string redacted, and the whole value of a key
    named like a credential (``password``, ``api_key``, ``Authorization``) masked. A bare
    ``secret`` key is left alone: in a plan it holds the *name* of a secret."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            key: (
                MASK
                if isinstance(key, str) and _is_secret_key(key) and isinstance(item, str) and item
                else redact_data(item)
            )
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [redact_data(item) for item in value]
    if isinstance(value, tuple):
        return tuple(redact_data(item) for item in value)
    return value


@functools.lru_cache(maxsize=1024)
def _is_secret_key(key: str) -> bool:
    return _SECRET_KEY.fullmatch(key) is not None
