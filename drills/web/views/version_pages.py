"""A document's history (a playbook's, a game day's): its versions, a line diff between any
two, and, for playbooks, restore.

Versions are immutable: restoring saves the old text as a new version.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from drills.playbook.redaction import find_credentials, redact
from drills.web.access import requires, visible_gameday
from drills.web.audit import Origin
from drills.web.models import GameDay, GameDayVersion, Playbook, PlaybookVersion
from drills.web.roles import Action
from drills.web.views.playbook_pages import accessible_playbook

DIFF_CONTEXT = 3


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add" | "del" | "same" | "gap" (lines left out between hunks)
    old: int | None  # 1-based line number in the older text
    new: int | None
    text: str


def line_diff(old: str, new: str, context: int = DIFF_CONTEXT) -> list[DiffLine]:
    """A unified line diff with line numbers; unchanged stretches beyond context are a gap."""
    a, b = old.splitlines(), new.splitlines()
    if a == b:
        return []
    rows: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    shown_to = 0  # lines of the old text up to here are shown
    for group in matcher.get_grouped_opcodes(context):
        if group[0][1] > 0:  # lines above this hunk are left out
            rows.append(DiffLine("gap", None, None, ""))
        for tag, i1, i2, j1, j2 in group:
            shown_to = i2
            if tag == "equal":
                rows.extend(
                    DiffLine("same", i + 1, j + 1, a[i])
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                )
                continue
            if tag in ("replace", "delete"):
                rows.extend(DiffLine("del", i + 1, None, a[i]) for i in range(i1, i2))
            if tag in ("replace", "insert"):
                rows.extend(DiffLine("add", None, j + 1, b[j]) for j in range(j1, j2))
    if shown_to < len(a):  # lines below the last hunk are left out
        rows.append(DiffLine("gap", None, None, ""))
    return rows


def _version(playbook: Playbook, number: int) -> PlaybookVersion:
    return get_object_or_404(PlaybookVersion, playbook=playbook, number=number)


@dataclass(frozen=True)
class Kind:
    """The URL names of one kind of document, so one template serves both kinds."""

    prefix: str  # "playbook" or "gameday"
    restorable: bool

    def urls(self, name: str) -> dict[str, str]:
        return {
            "detail_url": reverse(f"{self.prefix}-detail", args=[name]),
            "edit_url": reverse(f"{self.prefix}-edit", args=[name]),
            "versions_url": reverse(f"{self.prefix}-versions", args=[name]),
            "diff_pick_url": reverse(f"{self.prefix}-diff-pick", args=[name]),
        }


PLAYBOOKS = Kind("playbook", restorable=True)
# A game day's text holds no secrets, but restoring is a convenience nobody asked for yet:
# copying an old version into the editor does the same.
GAMEDAYS = Kind("gameday", restorable=False)


def versions_page(request: HttpRequest, doc: Playbook | GameDay, kind: Kind) -> HttpResponse:
    versions = list(doc.versions.select_related("author").order_by("-number"))
    context = {
        "doc": doc,
        "restorable": kind.restorable,
        **kind.urls(doc.name),
        "versions": versions,
        # Preselect the two newest: the usual question is "what did the last save change".
        "pick_a": versions[1].number if len(versions) > 1 else None,
        "pick_b": versions[0].number if versions else None,
    }
    return render(request, "drills/versions.html", context)


def diff_pick(request: HttpRequest, doc: Playbook | GameDay, kind: Kind) -> HttpResponse:
    """The history page's form sends ?a=&b=; the diff itself lives at a stable path."""
    try:
        a, b = int(request.GET["a"]), int(request.GET["b"])
    except (KeyError, ValueError):
        messages.error(request, "Pick two versions to compare.")
        return redirect(kind.urls(doc.name)["versions_url"])
    return redirect(reverse(f"{kind.prefix}-diff", args=[doc.name, a, b]))


def diff_page(
    request: HttpRequest,
    doc: Playbook | GameDay,
    old: PlaybookVersion | GameDayVersion,
    new: PlaybookVersion | GameDayVersion,
    kind: Kind,
) -> HttpResponse:
    # Versions saved before secrets were named may hold a password: compared as shown.
    rows = line_diff(redact(old.content), redact(new.content))
    context = {
        "doc": doc,
        **kind.urls(doc.name),
        "old": old,
        "new": new,
        "rows": rows,
        "added": sum(r.kind == "add" for r in rows),
        "removed": sum(r.kind == "del" for r in rows),
    }
    return render(request, "drills/diff.html", context)


@login_required
@require_GET
def playbook_versions(request: HttpRequest, name: str) -> HttpResponse:
    return versions_page(request, accessible_playbook(request, name), PLAYBOOKS)


@login_required
@require_GET
def playbook_diff_pick(request: HttpRequest, name: str) -> HttpResponse:
    return diff_pick(request, accessible_playbook(request, name), PLAYBOOKS)


@login_required
@require_GET
def playbook_diff(request: HttpRequest, name: str, a: int, b: int) -> HttpResponse:
    playbook = accessible_playbook(request, name)
    return diff_page(request, playbook, _version(playbook, a), _version(playbook, b), PLAYBOOKS)


@login_required
@require_GET
def gameday_versions(request: HttpRequest, gameday: str) -> HttpResponse:
    return versions_page(request, visible_gameday(request, gameday), GAMEDAYS)


@login_required
@require_GET
def gameday_diff_pick(request: HttpRequest, gameday: str) -> HttpResponse:
    return diff_pick(request, visible_gameday(request, gameday), GAMEDAYS)


@login_required
@require_GET
def gameday_diff(request: HttpRequest, gameday: str, a: int, b: int) -> HttpResponse:
    day = visible_gameday(request, gameday)
    old = get_object_or_404(GameDayVersion, gameday=day, number=a)
    new = get_object_or_404(GameDayVersion, gameday=day, number=b)
    return diff_page(request, day, old, new, GAMEDAYS)


@login_required
@require_POST
@requires(Action.EDIT)
def playbook_restore(request: HttpRequest, name: str, number: int) -> HttpResponse:
    playbook = accessible_playbook(request, name)
    old = _version(playbook, number)
    latest = playbook.latest_version()
    if latest is None:  # cannot happen with a version in hand; keeps the types honest
        raise Http404("No versions")
    if find_credentials(old.content):
        # Saved before secrets were named: restoring would store the password again.
        messages.error(
            request,
            f"v{old.number} has a password written in it and cannot be restored; edit the "
            "latest version and name the secret instead (dsn_env or secret).",
        )
        return redirect("playbook-versions", name=playbook.name)
    if latest.content_hash == old.content_hash:
        messages.info(request, f"v{old.number} has the same text as the latest, v{latest.number}.")
        return redirect("playbook-versions", name=playbook.name)
    version = playbook.save_version(
        old.content, request.user, f"restore v{old.number}", origin=Origin.of(request)
    )
    messages.success(request, f"Restored v{old.number} as v{version.number}.")
    return redirect("playbook-versions", name=playbook.name)
