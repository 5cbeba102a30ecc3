"""Secrets a probe names instead of holding, and where the orchestrator looks them up.

A playbook never holds a password: it is stored in every version, copied into the plan of every
run and shown on pages and in reports. A PostgreSQL canary names its DSN instead:

- ``dsn_env: SHOP_PG_DSN``: an environment variable of the orchestrator, and only one the
  operator lists in ``DRILLHALL_PROBE_SECRET_ENV`` (comma-separated names). The orchestrator's
  environment also holds its own secrets: ``DATABASE_URL`` is a PostgreSQL URL, and a canary
  pointed at it would write into Drillhall's database; ``REDIS_URL`` carries the broker's
  password; an error that quoted ``SECRET_KEY`` would hand out every session. So nothing is
  readable unless named, and Drillhall's and Django's own settings (RESERVED_ENV) cannot be
  named even then. A list and not a prefix: the operator sees exactly what playbooks can read,
  and a variable added later under a shared prefix is not readable by accident.
- ``secret: shop-pg``: a name in the secret store, the JSON or TOML file of name -> value that
  ``DRILLHALL_SECRETS_FILE`` names (``*_FILE`` style, like SECRET_KEY_FILE). It must not be
  writable by its group nor readable by other users: it holds passwords.

References are resolved on the orchestrator when the probe is built (at preflight, before any
fault), never in the browser, the plan or an event. Every error is a sentence that names the
reference and never repeats a value.
"""

from __future__ import annotations

import json
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

ENV_SETTING = "DRILLHALL_PROBE_SECRET_ENV"
FILE_SETTING = "DRILLHALL_SECRETS_FILE"

ENV_NAME_PATTERN = r"[A-Za-z_][A-Za-z0-9_]{0,127}"
SECRET_NAME_PATTERN = r"[a-z0-9][a-z0-9_.-]{0,62}"
# Settings of Drillhall, Django and Celery, and the variables that configure them: never a
# probe's, whatever the list says.
RESERVED_ENV_PREFIXES = ("DRILLHALL_", "DJANGO_", "CELERY_")
RESERVED_ENV = frozenset({"SECRET_KEY", "SECRET_KEY_FILE", "DATABASE_URL", "REDIS_URL"})
# Group write and every permission of other users: the store must be the server's alone.
_LOOSE_MODE = stat.S_IWGRP | stat.S_IRWXO


class SecretError(ValueError):
    """A reference that cannot be resolved here; the message is a sentence without a value."""


class SecretSource(StrEnum):
    ENV = "dsn_env"  # an environment variable the operator allows
    STORE = "secret"  # a name in the secret store


@dataclass(frozen=True)
class SecretRef:
    """What a playbook writes instead of a secret: where to find it, by name."""

    source: SecretSource
    name: str

    def describe(self) -> str:
        if self.source is SecretSource.ENV:
            return f"the environment variable {self.name}"
        return f"the secret '{self.name}'"

    @classmethod
    def from_params(cls, params: Mapping[str, object]) -> SecretRef | None:
        """The reference in a planned probe's parameters, or None when it has none."""
        for source in SecretSource:
            name = params.get(source.value)
            if isinstance(name, str) and name:
                return cls(source, name)
        return None


def env_name_refusal(name: str) -> str | None:
    """Why ``name`` can never be a probe's environment variable, or None."""
    if re.fullmatch(ENV_NAME_PATTERN, name) is None:
        return f"'{name}' is not an environment variable name (letters, digits and '_')"
    upper = name.upper()
    if upper in RESERVED_ENV or upper.startswith(RESERVED_ENV_PREFIXES):
        return (
            f"{name} is a setting of Drillhall, Django or Celery, which no probe may read; "
            "the operator names the variables probes may read in " + ENV_SETTING
        )
    return None


@dataclass(frozen=True)
class SecretStore:
    """Where references are looked up: the allowed environment variables and the store file."""

    allowed_env: frozenset[str] = frozenset()
    file: Path | None = None
    environ: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> SecretStore:
        """The store the settings describe; SecretError for a setting that is wrong."""
        environ = os.environ if environ is None else environ
        names = [n.strip() for n in environ.get(ENV_SETTING, "").split(",") if n.strip()]
        for name in names:
            problem = env_name_refusal(name)
            if problem is not None:
                raise SecretError(f"{ENV_SETTING}: {problem}")
        path = environ.get(FILE_SETTING, "").strip()
        return cls(frozenset(names), Path(path) if path else None, environ)

    def resolve(self, ref: SecretRef) -> str:
        """The value ``ref`` names; SecretError saying why not (never with a value in it)."""
        if ref.source is SecretSource.ENV:
            value = self._from_env(ref.name)
        else:
            value = self._from_store(ref.name)
        value = value.strip()
        if not value:
            raise SecretError(f"{ref.describe()} is empty on the orchestrator")
        return value

    def _from_env(self, name: str) -> str:
        problem = env_name_refusal(name)
        if problem is not None:
            raise SecretError(problem)
        if name not in self.allowed_env:
            allowed = ", ".join(sorted(self.allowed_env)) or "none"
            raise SecretError(
                f"the environment variable {name} is not one the operator lets probes read "
                f"(allowed: {allowed}); add it to {ENV_SETTING} on the orchestrator, or "
                "use a secret from the secret store"
            )
        value = self.environ.get(name)
        if value is None:
            raise SecretError(
                f"the environment variable {name} is not set on the orchestrator; set it where "
                "the orchestrator worker starts"
            )
        return value

    def _from_store(self, name: str) -> str:
        if self.file is None:
            raise SecretError(
                f"the secret '{name}' cannot be looked up: the orchestrator has no secret store "
                f"({FILE_SETTING} is not set; it names a JSON or TOML file of name = value)"
            )
        secrets = self._read_store()
        if name not in secrets:
            raise SecretError(f"the secret store {self.file} has no secret named '{name}'")
        value = secrets[name]
        if not isinstance(value, str):
            raise SecretError(f"the secret '{name}' in {self.file} is not a string")
        return value

    def _read_store(self) -> Mapping[str, object]:
        path = self.file
        assert path is not None
        try:
            mode = path.stat().st_mode
            if mode & _LOOSE_MODE:
                raise SecretError(
                    f"the secret store {path} can be read or changed by other users (mode "
                    f"{stat.S_IMODE(mode):04o}); it holds passwords: chmod 600 it (or 640 for "
                    "the server's group)"
                )
            raw = path.read_bytes()
        except OSError as exc:
            raise SecretError(
                f"the secret store {path} cannot be read ({exc.strerror or exc})"
            ) from None
        try:
            if path.suffix.lower() == ".toml":
                data: object = tomllib.loads(raw.decode("utf-8"))
            else:
                data = json.loads(raw)
        except UnicodeDecodeError:
            raise SecretError(f"the secret store {path} is not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            # exc.msg names what was expected, never the text found.
            raise SecretError(
                f"the secret store {path} is not JSON: {exc.msg} at line {exc.lineno}, "
                f"column {exc.colno}"
            ) from None
        except tomllib.TOMLDecodeError as exc:
            # Only where: some of tomllib's messages quote the character they stopped at.
            where = re.search(r"\(at ([^)]*)\)", str(exc))
            at = f" ({where.group(1)})" if where else ""
            raise SecretError(f"the secret store {path} is not valid TOML{at}") from None
        if not isinstance(data, dict):
            raise SecretError(f"the secret store {path} must map names to values")
        return data
