"""SECRET_KEY: where it comes from, and why a missing, public or weak one stops the start.

Django signs sessions, password-reset links and CSRF tokens with SECRET_KEY: whoever knows it can
forge a session and log in as anybody. So there is no built-in default. The key comes from, in
this order:

1. SECRET_KEY, or SECRET_KEY_FILE (the path of a file holding it): what production sets.
2. var/secret-key in this checkout, which `make setup` and `drillhall demo` write once: a random
   key, readable by its owner only, git-ignored with the rest of var/. `make demo`, the command
   line and a developer's server work with nothing to set, the key survives restarts (logins
   do too), and it is never a value that anybody else has.
3. Otherwise the start stops (ImproperlyConfigured) with a sentence saying what to set.

Why a file written at set-up rather than a fallback key while DEBUG is on: the demo, the command
line and the tests all run with DEBUG off (its default), so such a fallback would not reach them,
and it would teach that turning DEBUG on makes the error go away. The rules hold whatever DEBUG
says.

A key is refused when Django's own check (security.W009, whose thresholds are imported here so
that the bar moves with Django) would call it weak: fewer than 50 characters or 5 distinct ones,
or the "django-insecure-" prefix of a key generated for development. So is the development key
that earlier versions fell back to, public in this repository's history.

`python -m drillhall.secret_key` writes var/secret-key if it is not there (scripts/setup.sh).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)

from drillhall.env import SettingError, env_optional

LOCAL_KEY_FILE = Path(__file__).resolve().parent.parent / "var" / "secret-key"
# The fallback of earlier versions: anyone can read it in the repository, so it signs nothing.
PUBLIC_KEYS = frozenset({"drillhall-dev-only-change-me"})
HOW_TO_MAKE_ONE = "python3 -c 'import secrets; print(secrets.token_urlsafe(50))'"


def load_secret_key(local_file: Path = LOCAL_KEY_FILE) -> str:
    """The key settings use (see the module's docstring for the order), or SettingError."""
    key = env_optional("SECRET_KEY")
    source = "SECRET_KEY"
    if os.environ.get("SECRET_KEY_FILE"):
        source = f"the key in SECRET_KEY_FILE ({os.environ['SECRET_KEY_FILE']})"
    if key is None:
        key, source = _read_local_key(local_file), f"the key in {local_file}"
    if key is None:
        raise SettingError(
            "SECRET_KEY is not set: set SECRET_KEY to a long random value (or SECRET_KEY_FILE to "
            f"the path of a file holding one), for example the output of {HOW_TO_MAKE_ONE}; for "
            "a local install, `make setup` writes one to var/secret-key"
        )
    problem = weakness(key)
    if problem is not None:
        # The sentence never repeats the key: it ends up in logs.
        raise SettingError(
            f"{source} {problem}; set SECRET_KEY (or SECRET_KEY_FILE) to a long random value, "
            f"for example the output of {HOW_TO_MAKE_ONE}"
        )
    return key


def weakness(key: str) -> str | None:
    """Why key must not sign anything, or None when it is strong enough."""
    if key in PUBLIC_KEYS:
        return "is Drillhall's old development key, which anybody can read in its source"
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return f"starts with {SECRET_KEY_INSECURE_PREFIX!r}, Django's mark of a development key"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"is too weak ({len(key)} characters, fewer than {SECRET_KEY_MIN_LENGTH})"
    distinct = len(set(key))
    if distinct < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return (
            f"is too weak ({distinct} distinct characters, "
            f"fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS})"
        )
    return None


def _read_local_key(path: Path) -> str | None:
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise SettingError(f"{path}: cannot read the secret key ({exc.strerror})") from None
    if not key:
        raise SettingError(f"{path} is empty: delete it and run `make setup` to write a new key")
    return key


def write_local_key(path: Path = LOCAL_KEY_FILE) -> bool:
    """Write a random key to path unless a key is there already; True when it wrote one.

    The key goes to a temporary file (mkstemp makes it 0600) that is then hard-linked into
    place: link() fails when the name exists, so two set-ups at once cannot both write, and no
    reader ever sees a half-written key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        return False
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secret-key.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(50) + "\n")
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(temporary)
    return True


def main() -> None:
    if write_local_key():
        print(f"wrote a random SECRET_KEY to {LOCAL_KEY_FILE} (readable by you only)")
    else:
        print(f"SECRET_KEY for this checkout: {LOCAL_KEY_FILE} is there")


if __name__ == "__main__":
    main()
