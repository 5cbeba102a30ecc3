"""The playbook editor: a new playbook from a template, and editing one into a new version.

Saving always re-validates on the server: the browser's checks are a convenience, this is
the gate. An invalid text is never stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from drills.playbook.errors import Issue
from drills.playbook.redaction import redact
from drills.web.access import NoTeam, home_team, requires
from drills.web.audit import Origin
from drills.web.models import Playbook
from drills.web.roles import ADMIN_GROUP, Action, teams_where
from drills.web.views.editor_api import check_playbook, issue_dict, metadata_name, name_line
from drills.web.views.playbook_pages import accessible_playbook

EXAMPLES_DIR = Path(settings.BASE_DIR) / "examples"
# What the model accepts as metadata.name, and what fits the URL and the slug column.
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# Paths under /playbooks/ that a playbook name would shadow.
RESERVED_NAMES = {"new"}
MESSAGE_MAX = 200

BLANK = """apiVersion: drillhall/v1
kind: Playbook
metadata:
  name: my-drill
  description: What this drill shows.
targets: {}
probes: []
steps: []
"""


@dataclass(frozen=True)
class Template:
    slug: str
    name: str
    description: str
    content: str


def templates(kind: str = "Playbook") -> list[Template]:
    """The examples of one ``kind`` (Playbook, GameDay), offered as starting points;
    unreadable ones are left out."""
    found: list[Template] = []
    for path in sorted(EXAMPLES_DIR.glob("*.y*ml")):
        try:
            content = path.read_text(encoding="utf-8")
            doc = yaml.safe_load(content)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if not isinstance(doc, dict) or doc.get("kind") != kind:
            continue
        metadata = doc.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        found.append(
            Template(
                slug=path.stem,
                name=str(metadata.get("name") or path.stem),
                description=" ".join(str(metadata.get("description") or "").split()),
                content=content,
            )
        )
    return found


def _render(
    request: HttpRequest,
    *,
    playbook: Playbook | None,
    content: str,
    message: str = "",
    problems: list[Issue] | None = None,
    status: int = 200,
) -> HttpResponse:
    context = {
        "doc": playbook,
        "kind_label": "playbook",
        "new_title": "New playbook",
        "form_action": reverse("playbook-edit", args=[playbook.name])
        if playbook
        else reverse("playbook-new"),
        "detail_url": playbook.get_absolute_url() if playbook else "",
        "versions_url": reverse("playbook-versions", args=[playbook.name]) if playbook else "",
        "side_title": "Plan",
        "side_empty": "The plan appears here once the playbook is valid.",
        "version": playbook.latest_version() if playbook else None,
        # A version saved before secrets were named is shown, and saved again, without them.
        "content": redact(content),
        "message": message,
        "problems": [issue_dict(i) for i in problems or []],
        "templates": templates() if playbook is None else [],
        # Where a new playbook may go, when metadata.owner names none of these teams.
        "teams": [] if playbook else author_teams(request),
        "team": request.POST.get("team", ""),
        "filename": f"{playbook.name if playbook else 'new'}.yaml",
        "editor_config": {
            "validateUrl": reverse("api-validate"),
            "schemaUrl": reverse("playbook-schema"),
            "playbook": playbook.name if playbook else None,
            "filename": f"{playbook.name if playbook else 'new'}.yaml",
        },
    }
    return render(request, "drills/editor.html", context, status=status)


def submitted(request: HttpRequest) -> tuple[str, str]:
    # Browsers send textarea newlines as CRLF; store what the author sees.
    content = request.POST.get("content", "").replace("\r\n", "\n")
    message = request.POST.get("message", "").strip()[:MESSAGE_MAX]
    return content, message


@login_required
@require_http_methods(["GET", "POST"])
@requires(Action.EDIT)
def playbook_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        chosen = request.GET.get("template", "")
        template = next((t for t in templates() if t.slug == chosen), None)
        return _render(request, playbook=None, content=template.content if template else BLANK)

    content, message = submitted(request)
    filename = "new.yaml"
    check = check_playbook(content, filename, plan=False)
    if not check.ok:
        return _render(
            request,
            playbook=None,
            content=content,
            message=message,
            problems=check.issues,
            status=400,
        )
    name = metadata_name(check.playbook)
    refusal = name_refusal(name)
    if refusal is not None:
        issue = Issue(filename, name_line(content), 1, refusal, "choose another metadata.name")
        return _render(
            request, playbook=None, content=content, message=message, problems=[issue], status=400
        )
    try:
        team = _team_of(request, check.playbook)
    except NoTeam as refused:
        issue = Issue(filename, _owner_line(content), 1, str(refused))
        return _render(
            request, playbook=None, content=content, message=message, problems=[issue], status=400
        )
    try:
        with transaction.atomic():
            playbook = Playbook.objects.create(name=name, owner=request.user, team=team)
            version = playbook.save_version(
                content, request.user, message or "created", origin=Origin.of(request)
            )
    except IntegrityError:  # created by someone else between the check and the insert
        issue = Issue(filename, name_line(content), 1, f"a playbook named {name!r} already exists")
        return _render(
            request, playbook=None, content=content, message=message, problems=[issue], status=400
        )
    messages.success(request, f"Created {playbook.name} v{version.number}.")
    return redirect("playbook-edit", name=playbook.name)


def name_refusal(name: str) -> str | None:
    if not NAME_PATTERN.match(name):
        return f"metadata.name {name!r} must be lower-case letters, digits and hyphens"
    if name in RESERVED_NAMES:
        return f"{name!r} is reserved"
    if Playbook.objects.filter(name=name).exists():
        return f"a playbook named {name!r} already exists"
    return None


def _team_of(request: HttpRequest, parsed: object) -> Group | None:
    """metadata.owner names the team when the person is an author there; else the team they
    picked in the editor, or their only one (drills.web.access.home_team)."""
    owner = str(getattr(getattr(parsed, "metadata", None), "owner", "") or "")
    return home_team(request.user, owner, request.POST.get("team", ""))  # type: ignore[no-any-return]


def author_teams(request: HttpRequest) -> list[str]:
    teams = teams_where(request.user, Action.EDIT).exclude(name=ADMIN_GROUP)
    return list(teams.order_by("name").values_list("name", flat=True))


def _owner_line(content: str) -> int:
    try:
        from drills.playbook.loader import load_yaml

        return int(load_yaml(content).position(("metadata", "owner")).line)
    except Exception:  # no metadata.owner: point at the name instead
        return name_line(content)


@login_required
@require_http_methods(["GET", "POST"])
@requires(Action.EDIT)
def playbook_edit(request: HttpRequest, name: str) -> HttpResponse:
    playbook = accessible_playbook(request, name)
    if request.method == "GET":
        latest = playbook.latest_version()
        return _render(request, playbook=playbook, content=latest.content if latest else BLANK)

    content, message = submitted(request)
    check = check_playbook(
        content, f"{playbook.name}.yaml", expected_name=playbook.name, plan=False
    )
    if not check.ok:
        return _render(
            request,
            playbook=playbook,
            content=content,
            message=message,
            problems=check.issues,
            status=400,
        )
    before = playbook.latest_version()
    version = playbook.save_version(content, request.user, message, origin=Origin.of(request))
    say_saved(request, before, version)
    return redirect("playbook-edit", name=playbook.name)


def say_saved(request: HttpRequest, before: Any, version: Any) -> None:
    """Tell the author what a save did: a new version, or nothing (the text was the latest).
    The playbook and game-day editors both say it this way."""
    if before is not None and version.pk == before.pk:
        messages.info(request, f"No changes: v{version.number} is still the latest.")
    else:
        messages.success(request, f"Saved v{version.number}.")
