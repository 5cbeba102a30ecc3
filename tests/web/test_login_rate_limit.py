"""Login rate limiting (django-axes, settings.AXES_*): after AXES_FAILURE_LIMIT failed logins for a
username or from an address, its logins are refused with a 429 and a sentence until the lockout
has passed without another failure. The clock is moved with time-machine, not slept through."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.management import call_command
from django.test import AsyncClient, Client
from django.urls import reverse

from tests.web.personas import PASSWORD, World

ATTACKER, OFFICE = "203.0.113.7", "198.51.100.20"
REFUSAL = (
    "Too many failed logins for this username or from this address: logins are refused until "
    "15 minutes have passed without another failed one."
)


@pytest.fixture
def clock() -> Iterator[time_machine.Coordinates]:
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False) as traveller:
        yield traveller


def log_in(client: Client, username: str, password: str, address: str):  # type: ignore[no-untyped-def]
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def text(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(response.content.decode().split())


def fail_until_refused(client: Client, usernames: list[str], address: str) -> None:
    """One failed login per username; all but the last answered by the form, the last refused."""
    assert len(usernames) == settings.AXES_FAILURE_LIMIT
    for attempt, username in enumerate(usernames, start=1):
        response = log_in(client, username, "not-the-password", address)
        if attempt < settings.AXES_FAILURE_LIMIT:
            assert response.status_code == 200, attempt
            assert 'id="login-error"' in text(response)
        else:
            assert response.status_code == 429
            assert REFUSAL in text(response)


def test_the_defaults_are_five_failures_and_fifteen_minutes() -> None:
    assert settings.AXES_FAILURE_LIMIT == 5
    assert settings.AXES_COOLOFF_TIME == timedelta(minutes=15)


def test_it_refuses_a_username_after_too_many_failures_even_with_its_password(
    client: Client, world: World, clock: time_machine.Coordinates
) -> None:
    fail_until_refused(client, ["olive"] * settings.AXES_FAILURE_LIMIT, ATTACKER)

    right_password = log_in(client, "olive", PASSWORD, ATTACKER)
    from_elsewhere = log_in(Client(), "olive", PASSWORD, OFFICE)

    assert right_password.status_code == 429
    assert REFUSAL in text(right_password)
    assert from_elsewhere.status_code == 429  # the username is refused, from any address
    assert client.get(reverse("playbook-list")).status_code == 302  # not logged in


def test_another_user_from_another_address_is_unaffected(
    client: Client, world: World, clock: time_machine.Coordinates
) -> None:
    fail_until_refused(client, ["olive"] * settings.AXES_FAILURE_LIMIT, ATTACKER)

    response = log_in(client, "max", PASSWORD, OFFICE)

    assert response.status_code == 302
    assert response["Location"] == reverse("playbook-list")


def test_it_refuses_an_address_that_tried_many_usernames(
    client: Client, world: World, clock: time_machine.Coordinates
) -> None:
    guesses = [f"guess-{n}" for n in range(settings.AXES_FAILURE_LIMIT)]
    fail_until_refused(client, guesses, ATTACKER)

    from_there = log_in(Client(), "max", PASSWORD, ATTACKER)
    from_elsewhere = log_in(Client(), "max", PASSWORD, OFFICE)

    assert from_there.status_code == 429
    assert from_elsewhere.status_code == 302


def test_it_lets_the_user_in_once_the_lockout_has_passed_without_another_failure(
    client: Client, world: World, clock: time_machine.Coordinates
) -> None:
    fail_until_refused(client, ["olive"] * settings.AXES_FAILURE_LIMIT, ATTACKER)

    clock.shift(timedelta(minutes=14))
    still_refused = log_in(client, "olive", "one-more-guess", ATTACKER)
    clock.shift(timedelta(minutes=14))  # 28 minutes after the lockout, 14 after that guess
    refused_again = log_in(client, "olive", PASSWORD, ATTACKER)
    clock.shift(timedelta(minutes=15, seconds=1))  # after the last attempt, refused or not
    let_in = log_in(client, "olive", PASSWORD, ATTACKER)

    assert still_refused.status_code == 429
    assert refused_again.status_code == 429  # a guess while refused starts the lockout again
    assert let_in.status_code == 302
    assert client.get(reverse("playbook-list")).status_code == 200


def test_a_successful_login_clears_the_failures_before_it(
    client: Client, world: World, clock: time_machine.Coordinates
) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "olive", "typo", OFFICE).status_code == 200
    assert log_in(client, "olive", PASSWORD, OFFICE).status_code == 302
    client.post(reverse("logout"))

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert log_in(client, "olive", "typo", OFFICE).status_code == 200
    assert log_in(client, "olive", PASSWORD, OFFICE).status_code == 302


def test_the_admins_login_is_refused_too(
    client: Client, world: World, clock: time_machine.Coordinates
) -> None:
    world.owner.is_staff = True
    world.owner.save()
    fail_until_refused(client, ["olive"] * settings.AXES_FAILURE_LIMIT, ATTACKER)

    response = client.post(
        reverse("admin:login"), {"username": "olive", "password": PASSWORD}, REMOTE_ADDR=OFFICE
    )

    assert response.status_code == 429


def test_the_refusal_holds_under_asgi_as_daphne_serves_it(
    world: World, clock: time_machine.Coordinates
) -> None:
    # The async client goes through Django's ASGI handler, where django-axes' middleware takes
    # its async branch (daphne serves the app that way).
    async def attempts(client: AsyncClient) -> list[int]:
        codes = []
        for password in ["wrong"] * settings.AXES_FAILURE_LIMIT + [PASSWORD]:
            response = await client.post(
                reverse("login"), {"username": "olive", "password": password}
            )
            codes.append(response.status_code)
        return codes

    codes = async_to_sync(attempts)(AsyncClient(REMOTE_ADDR=ATTACKER))

    assert codes == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429, 429]


def test_failed_and_refused_logins_are_logged_with_username_and_address(
    client: Client, world: World, clock: time_machine.Coordinates, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="drillhall.logins")

    log_in(Client(), "olive\nforged line", "wrong", OFFICE)
    fail_until_refused(client, ["olive"] * settings.AXES_FAILURE_LIMIT, ATTACKER)

    lines = [r.getMessage() for r in caplog.records if r.name == "drillhall.logins"]
    assert lines[0] == f"failed login for username 'olive\\nforged line' from {OFFICE}"
    assert lines.count(f"failed login for username 'olive' from {ATTACKER}") == (
        settings.AXES_FAILURE_LIMIT
    )
    assert (
        f"login refused for username 'olive' from {ATTACKER}: 5 or more failed logins for that "
        "username or from that address; refused until 15 minutes pass without another"
    ) in lines


def test_an_operator_lifts_a_lockout_with_axes_reset_username(
    client: Client, world: World, clock: time_machine.Coordinates
) -> None:
    fail_until_refused(client, ["olive"] * settings.AXES_FAILURE_LIMIT, ATTACKER)
    out = StringIO()

    call_command("axes_reset_username", "olive", stdout=out)

    assert "attempts removed" in out.getvalue()
    assert log_in(client, "olive", PASSWORD, OFFICE).status_code == 302
    assert log_in(Client(), "max", PASSWORD, ATTACKER).status_code == 429  # the address still is
