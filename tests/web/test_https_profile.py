"""DRILLHALL_HTTPS=true: HSTS, the redirect to HTTPS, secure cookies and the proxy's
X-Forwarded-Proto, such that `manage.py check --deploy --fail-level WARNING` is clean."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from drillhall.env import SettingError, env_int
from tests.web.personas import PASSWORD, World

ROOT = Path(__file__).resolve().parents[2]
HOST = "drillhall.example.com"
PROFILE = (
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SILENCED_SYSTEM_CHECKS",
)
# What production sets besides the profile: a strong key, DEBUG off, its host name.
PRODUCTION = {"DEBUG": "false", "ALLOWED_HOSTS": HOST}


def python(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DRILLHALL_HSTS", "DRILLHALL_HTTPS", "SECRET_KEY"))
    }
    environment.update(SECRET_KEY=secrets.token_urlsafe(50), **PRODUCTION, **env)
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, env=environment, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip


def check_deploy(**env: str) -> subprocess.CompletedProcess[str]:
    return python(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], **env)


def profile(**env: str) -> dict[str, Any]:
    """The settings the profile governs, as drillhall/settings.py computes them from env."""
    code = (
        "import json, sys, drillhall.settings as s\n"
        "print(json.dumps({n: getattr(s, n, None) for n in sys.argv[1:]}))\n"
    )
    out = python(["-c", code, *PROFILE], **env)
    assert out.returncode == 0, out.stderr
    values: dict[str, Any] = json.loads(out.stdout)
    return values


def test_with_https_on_check_deploy_is_clean_at_warning_level() -> None:
    out = check_deploy(DRILLHALL_HTTPS="true")

    assert out.returncode == 0, out.stdout + out.stderr
    assert "System check identified no issues" in out.stdout


def test_without_it_check_deploy_names_what_https_would_turn_on() -> None:
    out = check_deploy(DRILLHALL_HTTPS="false")

    assert out.returncode != 0
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in out.stderr
    assert "security.W009" not in out.stderr  # the key is strong: only HTTPS is missing


def test_preload_when_asked_keeps_check_deploy_clean_without_silencing() -> None:
    values = profile(DRILLHALL_HTTPS="true", DRILLHALL_HSTS_PRELOAD="true")
    out = check_deploy(DRILLHALL_HTTPS="true", DRILLHALL_HSTS_PRELOAD="true")

    assert values["SECURE_HSTS_PRELOAD"] is True
    assert values["SILENCED_SYSTEM_CHECKS"] is None
    assert out.returncode == 0, out.stdout + out.stderr
    assert "(0 silenced)" in out.stdout


@pytest.fixture(scope="module")
def https_profile() -> dict[str, Any]:
    return profile(DRILLHALL_HTTPS="true")


def test_the_profile_sets_hsts_for_a_year_with_subdomains_and_trusts_the_proxy(
    https_profile: dict[str, Any],
) -> None:
    assert https_profile == {
        "SECURE_PROXY_SSL_HEADER": ["HTTP_X_FORWARDED_PROTO", "https"],
        "SECURE_SSL_REDIRECT": True,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SILENCED_SYSTEM_CHECKS": ["security.W021"],
    }


def test_the_hsts_lifetime_can_be_lowered_while_trying_https_out() -> None:
    values = profile(DRILLHALL_HTTPS="true", DRILLHALL_HSTS_SECONDS="3600")

    assert values["SECURE_HSTS_SECONDS"] == 3600


def test_a_bad_boolean_stops_the_start() -> None:
    out = check_deploy(DRILLHALL_HTTPS="yes please")

    assert out.returncode != 0
    assert "DRILLHALL_HTTPS='yes please': expected one of true/false" in out.stderr


@pytest.mark.parametrize(
    ("raw", "sentence"),
    [
        ("a year", "expected a whole number"),
        ("-1", "expected 0 or more"),
        ("1e6", "expected a whole number"),
    ],
)
def test_a_bad_hsts_lifetime_stops_the_start(
    monkeypatch: pytest.MonkeyPatch, raw: str, sentence: str
) -> None:
    # In-process: settings parse it with env_int whether HTTPS is on or off.
    monkeypatch.setenv("DRILLHALL_HSTS_SECONDS", raw)

    with pytest.raises(SettingError, match=f"DRILLHALL_HSTS_SECONDS={raw!r}: {sentence}"):
        env_int("DRILLHALL_HSTS_SECONDS", 0)


@pytest.fixture
def https_on(settings, https_profile: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    """This process's settings as DRILLHALL_HTTPS=true makes them, behind a proxy at HOST."""
    for name, value in https_profile.items():
        setattr(settings, name, tuple(value) if name == "SECURE_PROXY_SSL_HEADER" else value)
    settings.ALLOWED_HOSTS = [HOST]


def test_plain_http_is_redirected_to_https(client, https_on: None) -> None:
    response = client.get(reverse("login"), HTTP_HOST=HOST)

    assert response.status_code == 301
    assert response["Location"] == f"https://{HOST}/accounts/login/"


def test_behind_the_proxy_pages_carry_hsts_and_cookies_are_secure(
    client, world: World, https_on: None
) -> None:
    https = {"HTTP_HOST": HOST, "HTTP_X_FORWARDED_PROTO": "https"}

    page = client.get(reverse("login"), **https)
    login = client.post(reverse("login"), {"username": "olive", "password": PASSWORD}, **https)

    assert page.status_code == 200  # no redirect loop: the proxy's header counts as HTTPS
    assert page["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    assert page.cookies["csrftoken"]["secure"] is True
    assert login.status_code == 302
    assert login.cookies["sessionid"]["secure"] is True
