"""Sending the outbox: a real HTTP receiver on loopback checks every signature; a failed send
is retried as the same delivery, so one state change is one message."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.utils import timezone

from drills.web.models import GameDay, NotificationChannel, OutboxMessage
from drills.web.notify import backoff, send_message
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db


def message(channel: NotificationChannel, key: str = "k", event: str = "gameday_started") -> int:
    owner = User.objects.get_or_create(username="alice")[0]
    gameday = GameDay.objects.get_or_create(name="day", defaults={"owner": owner})[0]
    return OutboxMessage.objects.create(
        channel=channel,
        gameday=gameday,
        dedupe_key=key,
        event=event,
        text="Game day day started (run 1): both drills pass",
        payload={"event": event, "gameday": "day", "text": "Game day day started"},
        next_attempt_at=timezone.now(),
    ).id


def test_a_webhook_message_is_signed_and_sent_once() -> None:
    with Receiver() as receiver:
        channel = NotificationChannel.objects.create(name="ops", kind="webhook", url=receiver.url)
        receiver.secret = channel.secret
        sent = message(channel)
        assert send_message(sent) is None
        assert send_message(sent) is None  # sent already: nothing goes out again
    assert receiver.refused == [] and receiver.requests == 1
    [got] = receiver.accepted
    assert (got["event"], got["gameday"]) == ("gameday_started", "day")
    row = OutboxMessage.objects.get(id=sent)
    assert (row.state, row.attempts, str(row.delivery)) == ("sent", 1, got["delivery"])


def test_a_receiver_with_another_secret_refuses_the_message() -> None:
    with Receiver(secret="not the channel's") as receiver:
        channel = NotificationChannel.objects.create(name="ops", kind="webhook", url=receiver.url)
        sent = message(channel)
        assert send_message(sent) == backoff(1)
    assert receiver.refused == ["bad signature"]
    row = OutboxMessage.objects.get(id=sent)
    assert (row.state, row.last_error) == ("pending", "the receiver answered HTTP 401")


def test_a_failed_send_is_retried_as_the_same_delivery_after_a_backoff() -> None:
    with Receiver(fail_next=1) as receiver:
        channel = NotificationChannel.objects.create(name="ops", kind="webhook", url=receiver.url)
        receiver.secret = channel.secret
        sent = message(channel)
        before = timezone.now()
        assert send_message(sent) == 2.0
        row = OutboxMessage.objects.get(id=sent)
        assert row.next_attempt_at >= before + dt.timedelta(seconds=2)
        assert send_message(sent) is None  # not due yet: nothing is sent
        assert receiver.requests == 1
        OutboxMessage.objects.filter(id=sent).update(next_attempt_at=timezone.now())
        assert send_message(sent) is None
    assert receiver.requests == 2 and len(receiver.accepted) == 1
    assert OutboxMessage.objects.get(id=sent).state == "sent"


def test_backoff_doubles_up_to_ten_minutes() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4, 10, 20)] == [2, 4, 8, 16, 600, 600]


def test_a_slack_channel_gets_the_sentence() -> None:
    with Receiver() as receiver:
        channel = NotificationChannel.objects.create(name="chat", kind="slack", url=receiver.url)
        send_message(message(channel))
    # Slack's incoming webhooks take {"text": ...} and no signature.
    assert [json.loads(b) for b in receiver.bodies] == [
        {"text": "Game day day started (run 1): both drills pass"}
    ]


def test_an_email_channel_goes_through_djangos_mail_backend(settings) -> None:  # type: ignore[no-untyped-def]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    channel = NotificationChannel.objects.create(
        name="mail", kind="email", recipients="sre@example.test\noncall@example.test\n"
    )
    assert send_message(message(channel)) is None
    [sent] = mail.outbox
    assert sent.to == ["sre@example.test", "oncall@example.test"]
    assert sent.subject == "Game day day started (run 1): both drills pass"
