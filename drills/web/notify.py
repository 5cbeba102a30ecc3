"""Game-day notifications: what is told (events as sentences), to whom (the document's
channels and their noise setting), and how a message leaves the outbox.

Writing: ``queue_*`` run inside the transaction of the state change they tell of and add one
outbox row per channel that wants it; the row's dedupe key names the change, so telling it
twice is a no-op. Sending: ``send_message`` claims a row by compare-and-set, sends it once,
and marks it sent; a failed send is retried with exponential backoff by the task
(drills.web.tasks.send_notification), as the same row, so a receiver never gets a second
message for one change (a receiver that missed our acknowledgement sees the same delivery id).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from drills.engine.events import EventType
from drills.gameday.document import Sends
from drills.gameday.fire_times import Decision, Outcome
from drills.web.models import (
    DrillRun,
    GameDay,
    GameDayRun,
    NotificationChannel,
    OutboxMessage,
    RunEvent,
)
from drills.web.models.notifications import ChannelKind, OutboxState

log = logging.getLogger(__name__)

# Events that a "failures" channel is told of (besides a day or drill that did not pass).
_ALWAYS_FAILURES = {"drill_breached", "drill_aborted", "schedule_missed"}
SEND_TIMEOUT = 10.0
MAX_ATTEMPTS = 8
SIGNATURE_HEADER = "X-Drillhall-Signature"
TIMESTAMP_HEADER = "X-Drillhall-Timestamp"
DELIVERY_HEADER = "X-Drillhall-Delivery"
EVENT_HEADER = "X-Drillhall-Event"


def is_failure(event: str, state: str | None) -> bool:
    if event in _ALWAYS_FAILURES:
        return True
    if event in ("drill_finished", "gameday_finished"):
        return state not in (None, "passed")
    return False


def wants(sends: Sends, event: str, state: str | None) -> bool:
    if sends is Sends.ALL:
        return True
    if sends is Sends.FAILURES:
        return is_failure(event, state)
    return event == "gameday_finished"  # digest: one message when the day ends


def gameday_run_path(run_id: int) -> str:
    from django.urls import reverse

    return reverse("gameday-run-detail", args=[run_id])


def _page(path: str) -> str:
    base = str(getattr(settings, "DRILLHALL_URL", "") or "")
    return f"{base}{path}" if base else path


def _queue(
    gameday: GameDay,
    version_content_doc: Any,
    run: GameDayRun | None,
    event: str,
    key: str,
    text: str,
    payload: dict[str, Any],
    state: str | None = None,
    digest_text: str | None = None,
) -> list[int]:
    """One outbox row per channel of the document that wants ``event``; in the caller's
    transaction. Returns the new rows' ids."""
    queued: list[int] = []
    for notification in version_content_doc.notify:
        if not wants(notification.sends, event, state):
            continue
        channel = NotificationChannel.objects.filter(name=notification.channel).first()
        if channel is None:
            log.warning(
                "game day %s names the channel %s, which this server does not have: not told",
                gameday.name,
                notification.channel,
            )
            continue
        body = digest_text if notification.sends is Sends.DIGEST and digest_text else text
        try:
            with transaction.atomic():  # a savepoint: a duplicate leaves the caller's work
                row = OutboxMessage.objects.create(
                    channel=channel,
                    gameday=gameday,
                    gameday_run=run,
                    dedupe_key=key[:200],
                    event=event,
                    text=body,
                    payload={**payload, "text": body},
                    next_attempt_at=timezone.now(),
                )
        except IntegrityError:
            continue  # this change was told already
        queued.append(row.id)
    if queued:
        # Robust: from a run's events this runs after a group commit, whose other writes must
        # not see its failure (drills/web/group_commit.py); the outbox row is the record.
        transaction.on_commit(lambda: [request_send(i) for i in queued], robust=True)
    return queued


def request_send(message_id: int, countdown: float | None = None) -> None:
    from drills.web.tasks import send_notification

    try:
        send_notification.apply_async(
            args=[message_id],
            countdown=countdown,
            queue=settings.DRILLHALL_ORCHESTRATOR_QUEUE,
            retry=False,
        )
    except Exception:  # beat's clock sends what is left in the outbox
        log.warning("could not hand notification %s to a worker", message_id, exc_info=True)


# --- what is told ------------------------------------------------------------------------


def queue_gameday_event(run: GameDayRun, event: str, data: dict[str, Any]) -> list[int]:
    from drills.web.gameday_runs import document_of

    document = document_of(run.version)
    name = run.gameday.name
    base = {
        "event": event,
        "gameday": name,
        "gameday_run": run.id,
        "url": _page(gameday_run_path(run.id)),
    }
    if event == "gameday_started":
        text = f"Game day {name} started (run {run.id}): {document.metadata.goal}"
        return _queue(run.gameday, document, run, event, f"{run.key}:started", text, base)
    result = data.get("result") or {}
    state = str(result.get("state", ""))
    text = f"Game day {name} (run {run.id}) {_verdict_phrase(state)}: {result.get('reason', '')}"
    lines = [text]
    for drill in result.get("drills", []):
        lines.append(f"- {_drill_line(drill)}")
    payload = {**base, "state": state, "result": result}
    return _queue(
        run.gameday,
        document,
        run,
        event,
        f"{run.key}:finished",
        text,
        payload,
        state=state,
        digest_text="\n".join(lines),
    )


def queue_drill_events(drill_run_id: int, events: list[RunEvent]) -> None:
    """From the run's event stream, inside its transaction: a drill of a game day started,
    breached an SLA (its first breach), was aborted, or finished."""
    interesting = [e for e in events if e.type in _DRILL_EVENT_TYPES]
    if not interesting:
        return
    drill = (
        DrillRun.objects.select_related("gameday_run__gameday", "gameday_run__version")
        .filter(id=drill_run_id, gameday_run__isnull=False)
        .first()
    )
    if drill is None:
        return
    run = drill.gameday_run
    assert run is not None
    from drills.web.gameday_runs import document_of

    document = document_of(run.version)
    position = (drill.gameday_position or 0) + 1
    title = f"drill {position} of game day {run.gameday.name} ({drill.version.playbook.name})"
    base = {
        "gameday": run.gameday.name,
        "gameday_run": run.id,
        "drill": {"position": position, "playbook": drill.version.playbook.name, "run": drill.id},
        "url": _page(f"/runs/{drill.id}/"),
    }
    for event in interesting:
        told = _drill_event(event, title)
        if told is None:
            continue
        kind, suffix, text, state = told
        _queue(
            run.gameday,
            document,
            run,
            kind,
            f"{run.key}:drill:{position}:{suffix}",
            text,
            {**base, "event": kind, "state": state},
            state=state,
        )


_DRILL_EVENT_TYPES = {EventType.STATE, EventType.VERDICT, EventType.ABORT, EventType.RESULT}


def _drill_event(event: RunEvent, title: str) -> tuple[str, str, str, str | None] | None:
    data = event.data or {}
    if event.type == EventType.STATE and data.get("state") == "preflight":
        return "drill_started", "started", f"{title.capitalize()} started", None
    if event.type == EventType.VERDICT and counts_as_breach(data):
        sla = data.get("sla", "")
        why = data.get("reason", "")
        text = f"{title.capitalize()} breached the SLA “{sla}”: {why}"
        return "drill_breached", "breached", text, "breached"
    if event.type == EventType.ABORT:
        text = f"{title.capitalize()} was aborted: {data.get('reason', '')}"
        return "drill_aborted", "aborted", text, "aborted"
    if event.type == EventType.RESULT:
        state = str(data.get("state", ""))
        text = f"{title.capitalize()} {_verdict_phrase(state)}: {data.get('reason', '')}"
        return "drill_finished", "finished", text, state
    return None


def counts_as_breach(verdict: dict[str, Any]) -> bool:
    """A verdict event that tells of a breach for good: a failed SLA, or a final breach (a
    recovery SLA's breach may still recover while the system heals: that is not a breach)."""
    state = verdict.get("state")
    return state == "failed" or (state == "breached" and bool(verdict.get("final")))


def queue_schedule_event(gameday: GameDay, decision: Decision) -> list[int]:
    """A fire time that did not run: skipped (the calendar, Forbid, a pause) or missed."""
    from drills.web.gameday_runs import document_of

    version = gameday.latest_version()
    if version is None or decision.outcome is Outcome.RUN:
        return []
    event = f"schedule_{decision.outcome.value}"
    when = decision.fire_time.strftime("%Y-%m-%d %H:%M %Z")
    text = f"Game day {gameday.name}: the fire time {when} was {decision.outcome.value}: " + (
        decision.reason
    )
    payload = {
        "event": event,
        "gameday": gameday.name,
        "fire_time": decision.fire_time.isoformat(),
        "reason": decision.reason,
        "url": _page(f"/gamedays/{gameday.name}/"),
    }
    key = f"{gameday.name}:{decision.fire_time.astimezone(dt.UTC).isoformat()}:{event}"
    return _queue(gameday, document_of(version), None, event, key, text, payload)


def _verdict_phrase(state: str) -> str:
    return {
        "passed": "passed",
        "failed": "failed",
        "aborted": "was aborted",
        "error": "ended in error",
    }.get(state, f"ended as {state}")


def _drill_line(drill: dict[str, Any]) -> str:
    name = f"drill {drill.get('position')} ({drill.get('playbook')})"
    if not drill.get("state"):
        return f"{name}: did not start"
    line = f"{name}: {drill['state']}"
    if drill.get("rto") is not None:
        line += f", RTO {drill['rto']:.1f} s"
        if drill.get("rto_objective") is not None:
            line += f" (objective {drill['rto_objective']:g} s)"
    return line


# --- how it is sent ----------------------------------------------------------------------


class SendFailed(Exception):
    """A send that did not arrive; the sentence says why. Retried with backoff."""


def backoff(attempts: int) -> float:
    """Seconds before try ``attempts + 1``: 2, 4, 8, ... up to ten minutes."""
    return float(min(600, 2 ** max(1, attempts)))


def claim(message_id: int, now: dt.datetime | None = None) -> OutboxMessage | None:
    """Take a message to send (compare-and-set): None when it is sent, given up, or another
    sender holds it. The claim lasts a minute, after which it may be taken again."""
    now = now or timezone.now()
    taken = OutboxMessage.objects.filter(
        id=message_id, state=OutboxState.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + dt.timedelta(seconds=60))
    if not taken:
        return None
    return OutboxMessage.objects.select_related("channel").get(id=message_id)


def send_message(message_id: int) -> float | None:
    """Send one message if it is due. Returns None when done with it (sent, given up, or not
    ours), else the seconds to wait before trying again."""
    message = claim(message_id)
    if message is None:
        return None
    attempts = message.attempts + 1
    try:
        deliver(message)
    except SendFailed as exc:
        give_up = attempts >= MAX_ATTEMPTS
        wait = backoff(attempts)
        OutboxMessage.objects.filter(id=message.id, state=OutboxState.PENDING).update(
            attempts=attempts,
            last_error=str(exc)[:500],
            next_attempt_at=timezone.now() + dt.timedelta(seconds=wait),
            state=OutboxState.FAILED if give_up else OutboxState.PENDING,
        )
        log.warning("notification %s to %s not sent: %s", message.id, message.channel.name, exc)
        return None if give_up else wait
    OutboxMessage.objects.filter(id=message.id).update(
        attempts=attempts, state=OutboxState.SENT, sent_at=timezone.now(), last_error=""
    )
    return None


def deliver(message: OutboxMessage) -> None:
    channel = message.channel
    if channel.kind == ChannelKind.EMAIL:
        from django.core.mail import send_mail

        recipients = channel.recipient_list()
        if not recipients:
            raise SendFailed(f"the e-mail channel {channel.name} has no recipients")
        subject = message.text.splitlines()[0][:150]
        try:
            send_mail(subject, message.text, None, recipients, fail_silently=False)
        except Exception as exc:
            raise SendFailed(f"the mail server refused it: {exc}") from None
        return
    if channel.kind == ChannelKind.SLACK:
        body = json.dumps({"text": message.text}).encode()
        _post(channel.url, body, {})
        return
    body = json.dumps(
        {**message.payload, "delivery": str(message.delivery)}, sort_keys=True
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        SIGNATURE_HEADER: "sha256=" + signature(channel.secret, timestamp, body),
        TIMESTAMP_HEADER: timestamp,
        DELIVERY_HEADER: str(message.delivery),
        EVENT_HEADER: message.event,
    }
    _post(channel.url, body, headers)


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256, hex, over "<timestamp>." and the body: a receiver recomputes it and
    refuses a timestamp older than a few minutes, so a captured message cannot be replayed."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    if not url.startswith(("http://", "https://")):
        raise SendFailed(f"the channel's address is not an http(s) URL: {url[:80]}")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "drillhall", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as exc:
        raise SendFailed(f"the receiver answered HTTP {exc.code}") from None
    except (OSError, ValueError) as exc:
        raise SendFailed(f"the receiver could not be reached: {exc}") from None
    if not 200 <= status < 300:
        raise SendFailed(f"the receiver answered HTTP {status}")


def due_messages(now: dt.datetime | None = None) -> list[int]:
    """Messages waiting whose time has come (their task was lost, or a claim ran out)."""
    now = now or timezone.now()
    return list(
        OutboxMessage.objects.filter(state=OutboxState.PENDING, next_attempt_at__lte=now)
        .order_by("id")
        .values_list("id", flat=True)[:200]
    )
