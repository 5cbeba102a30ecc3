"""The audit log for admins: a page (newest first, filtered, paginated) and the same entries
as CSV or JSON, streamed so that a long log is never held in memory.

The export is an async iterator reading the log in chunks: under daphne (ASGI) a synchronous
one would be read to the end before the first byte is sent.

Only Drillhall admins (drills.web.roles: Action.ADMINISTER) see it; anyone else signed in is
refused with 403. Nothing here changes an entry: these views only read, and answer GET.
"""

from __future__ import annotations

import csv
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from drills.web.models import AuditEntry
from drills.web.models.audit_entries import AuditAction
from drills.web.roles import Action, can

PAGE_SIZE = 50
EXPORT_CHUNK = 500
EXPORT_FIELDS = [
    "id",
    "at",
    "action",
    "actor",
    "actor_id",
    "source",
    "object_type",
    "object_id",
    "summary",
    "content_hash",
]


class AuditFilter(forms.Form):
    action = forms.ChoiceField(choices=[("", "any action"), *AuditAction.choices], required=False)
    actor = forms.CharField(required=False, max_length=150)
    object = forms.CharField(
        required=False, max_length=140, help_text='"run 12", "host db1" or "checkout-partition"'
    )
    since = forms.DateField(required=False, label="from")
    until = forms.DateField(required=False, label="to")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("the date range ends before it begins")
        return data

    def apply(self, entries: QuerySet[AuditEntry]) -> QuerySet[AuditEntry]:
        data = self.cleaned_data
        if data.get("action"):
            entries = entries.filter(action=data["action"])
        if data.get("actor"):
            entries = entries.filter(actor_name__icontains=data["actor"].strip())
        if data.get("object"):
            entries = entries.filter(_object_query(data["object"].strip()))
        # Whole days, inclusive, in the server's time zone (the page shows times in it).
        if data.get("since"):
            entries = entries.filter(at__date__gte=data["since"])
        if data.get("until"):
            entries = entries.filter(at__date__lte=data["until"])
        return entries


def _object_query(text: str) -> Q:
    """ "run 12" is that run; a bare name or number is any object with that id."""
    kind, _, ident = text.partition(" ")
    if ident.strip():
        return Q(object_type__iexact=kind, object_id__iexact=ident.strip())
    return Q(object_id__iexact=text)


@dataclass(frozen=True)
class Row:
    """One entry as people read it."""

    entry: AuditEntry
    who: str
    where: str
    what: str
    object: str
    link: str


SOURCES = {"cli": "the command line", "system": "Drillhall itself", "": "an unknown place"}


def who(entry: AuditEntry) -> str:
    if entry.actor_name:
        return entry.actor_name
    if entry.action == AuditAction.LOGIN_FAILED:
        return "someone not signed in"
    return "someone unknown"


def where(entry: AuditEntry) -> str:
    return SOURCES.get(entry.source, entry.source)


def object_words(entry: AuditEntry) -> str:
    if not entry.object_type:
        return entry.object_id
    return f"{entry.object_type} {entry.object_id}".strip()


def object_link(entry: AuditEntry) -> str:
    try:
        if entry.object_type == "run" and entry.object_id.isdigit():
            return reverse("run-detail", args=[int(entry.object_id)])
        if entry.object_type == "playbook" and entry.object_id:
            return reverse("playbook-detail", args=[entry.object_id])
    except NoReverseMatch:  # an id that is no URL (a playbook name from before a rename)
        return ""
    return ""


def row(entry: AuditEntry) -> Row:
    return Row(
        entry=entry,
        who=who(entry),
        where=where(entry),
        what=entry.summary or entry.get_action_display(),
        object=object_words(entry),
        link=object_link(entry),
    )


def _admin_only(request: HttpRequest) -> None:
    if not can(request.user, Action.ADMINISTER):
        raise PermissionDenied("only Drillhall admins can read the audit log")


def _filtered(request: HttpRequest) -> tuple[AuditFilter, QuerySet[AuditEntry] | None]:
    form = AuditFilter(request.GET or None)
    entries = AuditEntry.objects.order_by("-at", "-id")
    if not request.GET:
        return form, entries
    if not form.is_valid():
        return form, None
    return form, form.apply(entries)


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@login_required
@require_safe
def audit_log(request: HttpRequest) -> HttpResponse:
    _admin_only(request)
    form, entries = _filtered(request)
    page = Paginator(entries if entries is not None else AuditEntry.objects.none(), PAGE_SIZE)
    current = page.get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": current,
        "rows": [row(e) for e in current.object_list],
        "query": _query_without_page(request),
        "total": page.count,
        "time_zone": timezone.get_current_timezone_name(),
    }
    return render(request, "drills/audit_log.html", context, status=400 if entries is None else 200)


def _export_values(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "action": entry.action,
        "actor": entry.actor_name,
        "actor_id": entry.actor_id,
        "source": entry.source,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "summary": entry.summary,
        "content_hash": entry.content_hash,
    }


def _spreadsheet_safe(value: Any) -> Any:
    # A username typed at the login form lands in the log; a cell that starts with = + - @
    # would be a formula to a spreadsheet that opens the export.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


class _Line:
    """csv.writer writes into this, one row at a time, and the row is yielded at once."""

    def write(self, value: str) -> str:
        return value


def _read(entries: QuerySet[AuditEntry], count: int) -> list[AuditEntry]:
    return list(entries.order_by("-at", "-id")[:count])


async def _in_chunks(entries: QuerySet[AuditEntry]) -> AsyncIterator[AuditEntry]:
    """Newest first, EXPORT_CHUNK at a time, each chunk after the last one read (keyset)."""
    last: AuditEntry | None = None
    while True:
        after = entries
        if last is not None:
            after = entries.filter(Q(at__lt=last.at) | Q(at=last.at, id__lt=last.id))
        chunk: list[AuditEntry] = await sync_to_async(_read)(after, EXPORT_CHUNK)
        for entry in chunk:
            yield entry
        if len(chunk) < EXPORT_CHUNK:
            return
        last = chunk[-1]


async def _csv_rows(entries: QuerySet[AuditEntry]) -> AsyncIterator[str]:
    writer = csv.writer(_Line())
    yield writer.writerow(EXPORT_FIELDS)
    async for entry in _in_chunks(entries):
        values = _export_values(entry)
        yield writer.writerow([_spreadsheet_safe(values[f]) for f in EXPORT_FIELDS])


async def _json_rows(entries: QuerySet[AuditEntry]) -> AsyncIterator[str]:
    yield "["
    first = True
    async for entry in _in_chunks(entries):
        yield ("\n" if first else ",\n") + json.dumps(_export_values(entry), ensure_ascii=False)
        first = False
    yield "\n]\n"


def _export(request: HttpRequest, kind: str) -> HttpResponse:
    _admin_only(request)
    form, entries = _filtered(request)
    if entries is None:
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        return HttpResponse(f"The filter is not valid: {errors}\n", status=400,
                            content_type="text/plain; charset=utf-8")  # fmt: skip
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    if kind == "csv":
        response = StreamingHttpResponse(_csv_rows(entries), content_type="text/csv; charset=utf-8")
    else:
        response = StreamingHttpResponse(
            _json_rows(entries), content_type="application/json; charset=utf-8"
        )
    response["Content-Disposition"] = f'attachment; filename="drillhall-audit-{stamp}.{kind}"'
    return response


@login_required
@require_safe
def audit_export_csv(request: HttpRequest) -> HttpResponse:
    return _export(request, "csv")


@login_required
@require_safe
def audit_export_json(request: HttpRequest) -> HttpResponse:
    return _export(request, "json")
