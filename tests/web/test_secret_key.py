"""SECRET_KEY (drillhall/secret_key.py): a missing, public or weak key stops the start with a
sentence saying what to set; SECRET_KEY_FILE and the checkout's var/secret-key supply one."""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from drillhall.env import SettingError
from drillhall.secret_key import load_secret_key, write_local_key
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
OLD_PUBLIC_KEY = "drillhall-dev-only-change-me"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """manage.py in a fresh interpreter, with no key but the one given (the test session's own,
    from tests/secret_key_plugin.py, is taken out)."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"SECRET_KEY", "SECRET_KEY_FILE", "DEBUG"}
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def strong_key() -> str:
    return secrets.token_urlsafe(50)


@pytest.fixture
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)


@pytest.mark.parametrize("debug", ["false", "true"])
def test_it_refuses_to_start_with_the_old_public_key(debug: str) -> None:
    # DEBUG on changes nothing: it is no way around a missing or weak key.
    out = manage("check", DEBUG=debug, SECRET_KEY=OLD_PUBLIC_KEY)

    assert out.returncode != 0, out.stdout
    assert "SECRET_KEY is Drillhall's old development key" in out.stderr
    assert "set SECRET_KEY (or SECRET_KEY_FILE) to a long random value" in out.stderr


def test_the_command_line_says_the_sentence_without_a_traceback() -> None:
    environment = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    environment["SECRET_KEY"] = OLD_PUBLIC_KEY
    argv = [sys.executable, "-m", "drills.cli.main", "plan", "examples/partition-demo.yaml"]

    out = subprocess.run(
        argv, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )

    assert out.returncode == 3  # "aborted or error", never 1 (an SLA failed)
    assert out.stderr.startswith("drillhall: SECRET_KEY is Drillhall's old development key")
    assert "Traceback" not in out.stderr


def test_it_starts_with_a_strong_key() -> None:
    out = manage("check", DEBUG="false", SECRET_KEY=strong_key())

    assert out.returncode == 0, out.stderr
    assert "System check identified no issues" in out.stdout


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("short-but-random-3f9a", "is too weak (21 characters, fewer than 50)"),
        ("abcd" * 20, "is too weak (4 distinct characters, fewer than 5)"),
        (
            "django-insecure-k3v9x7m2q8w4e6r1t5y0u2i8o4p6a1s3d5f7g9h2j4",
            "starts with 'django-insecure-', Django's mark of a development key",
        ),
    ],
    ids=["short", "few-distinct-characters", "django-insecure-prefix"],
)
def test_it_refuses_a_weak_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str, why: str
) -> None:
    monkeypatch.setenv("SECRET_KEY", key)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)

    with pytest.raises(ImproperlyConfigured) as refused:
        load_secret_key(local_file=tmp_path / "absent")

    assert str(refused.value).startswith(f"SECRET_KEY {why}; set SECRET_KEY (or SECRET_KEY_FILE)")
    assert key not in str(refused.value)  # the sentence lands in logs: it never repeats the key


def test_it_reads_the_key_from_SECRET_KEY_FILE(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weak, strong = tmp_path / "weak", tmp_path / "strong"
    weak.write_text(OLD_PUBLIC_KEY + "\n")
    key = strong_key()
    strong.write_text(key + "\n")

    refused = manage("check", DEBUG="false", SECRET_KEY_FILE=str(weak))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(strong))

    assert refused.returncode != 0
    assert f"the key in SECRET_KEY_FILE ({weak}) is Drillhall's old development key" in (
        refused.stderr
    )
    assert load_secret_key(local_file=tmp_path / "absent") == key


def test_it_refuses_to_start_with_no_key_at_all(
    tmp_path: Path, no_key_in_environment: None
) -> None:
    # In-process: the checkout's own var/secret-key (written by `make setup`) would answer a
    # subprocess, so the fallback file here is one that does not exist.
    with pytest.raises(ImproperlyConfigured) as refused:
        load_secret_key(local_file=tmp_path / "var" / "secret-key")

    assert str(refused.value).startswith(
        "SECRET_KEY is not set: set SECRET_KEY to a long random value (or SECRET_KEY_FILE"
    )
    assert "`make setup` writes one to var/secret-key" in str(refused.value)


def test_the_set_up_writes_a_key_once_readable_by_its_owner_only(
    tmp_path: Path, no_key_in_environment: None
) -> None:
    local = tmp_path / "var" / "secret-key"

    assert write_local_key(local) is True
    first = local.read_text()
    assert write_local_key(local) is False  # a second set-up keeps the key: logins survive

    assert local.read_text() == first
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert load_secret_key(local_file=local) == first.strip()
    assert [p.name for p in local.parent.iterdir()] == ["secret-key"]  # no temporary left


def test_a_key_in_the_environment_wins_over_the_checkouts_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local = tmp_path / "secret-key"
    write_local_key(local)
    key = strong_key()
    monkeypatch.setenv("SECRET_KEY", key)
    monkeypatch.delenv("SECRET_KEY_FILE", raising=False)

    assert load_secret_key(local_file=local) == key


def test_it_refuses_a_weak_key_in_the_checkouts_file(
    tmp_path: Path, no_key_in_environment: None
) -> None:
    local = tmp_path / "secret-key"
    local.write_text("too-short\n")

    with pytest.raises(SettingError, match=f"the key in {local} is too weak"):
        load_secret_key(local_file=local)


def test_it_refuses_both_SECRET_KEY_and_SECRET_KEY_FILE(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "key"
    path.write_text(strong_key())
    monkeypatch.setenv("SECRET_KEY", strong_key())
    monkeypatch.setenv("SECRET_KEY_FILE", str(path))

    with pytest.raises(SettingError, match="both SECRET_KEY and SECRET_KEY_FILE are set"):
        load_secret_key(local_file=tmp_path / "absent")


@pytest.mark.parametrize(
    ("content", "why"), [(None, "cannot read it (No such file or directory)"), ("\n", "is empty")]
)
def test_it_names_a_SECRET_KEY_FILE_it_cannot_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, why: str
) -> None:
    path = tmp_path / "key"
    if content is not None:
        path.write_text(content)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("SECRET_KEY_FILE", str(path))

    with pytest.raises(SettingError) as refused:
        load_secret_key(local_file=tmp_path / "absent")

    assert str(refused.value).startswith(f"SECRET_KEY_FILE={str(path)!r}: ")
    assert why in str(refused.value)


def test_the_checkouts_key_file_is_never_committed() -> None:
    require((ROOT / ".git").exists(), "needs a git checkout")
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", "var/secret-key"], cwd=ROOT, capture_output=True, timeout=30
    )
    assert ignored.returncode == 0, "var/secret-key is not git-ignored"
