"""A playbook's history: its versions, a line diff between any two, and restore.

Versions are immutable: restoring saves the old text as a new version.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from drills.playbook.redaction import find_credentials, redact
from drills.web.access import requires
from drills.web.audit import Origin
from drills.web.models import Playbook, PlaybookVersion
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


@login_required
@require_GET
def playbook_versions(request: HttpRequest, name: str) -> HttpResponse:
    playbook = accessible_playbook(request, name)
    versions = list(playbook.versions.select_related("author").order_by("-number"))
    context = {
        "playbook": playbook,
        "versions": versions,
        # Preselect the two newest: the usual question is "what did the last save change".
        "pick_a": versions[1].number if len(versions) > 1 else None,
        "pick_b": versions[0].number if versions else None,
    }
    return render(request, "drills/versions.html", context)


@login_required
@require_GET
def playbook_diff_pick(request: HttpRequest, name: str) -> HttpResponse:
    """The history page's form sends ?a=&b=; the diff itself lives at a stable path."""
    playbook = accessible_playbook(request, name)
    try:
        a, b = int(request.GET["a"]), int(request.GET["b"])
    except (KeyError, ValueError):
        messages.error(request, "Pick two versions to compare.")
        return redirect("playbook-versions", name=playbook.name)
    return redirect("playbook-diff", name=playbook.name, a=a, b=b)


@login_required
@require_GET
def playbook_diff(request: HttpRequest, name: str, a: int, b: int) -> HttpResponse:
    playbook = accessible_playbook(request, name)
    old, new = _version(playbook, a), _version(playbook, b)
    # Versions saved before secrets were named may hold a password: compared as shown.
    rows = line_diff(redact(old.content), redact(new.content))
    context = {
        "playbook": playbook,
        "old": old,
        "new": new,
        "rows": rows,
        "added": sum(r.kind == "add" for r in rows),
        "removed": sum(r.kind == "del" for r in rows),
    }
    return render(request, "drills/diff.html", context)


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
