"""The game day editor: the playbook editor's page and script, with the game day's parser,
schema and schedule preview. Saving re-validates on the server, as for playbooks: an invalid
text is never stored. A drill naming a playbook that does not exist is not an error (the
document is valid on its own); its page warns."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from drills.playbook.errors import Issue
from drills.web.access import NoTeam, home_team, requires, visible_gameday
from drills.web.audit import Origin
from drills.web.models import GameDay
from drills.web.roles import Action
from drills.web.views.editor import NAME_PATTERN, author_teams, say_saved, submitted, templates
from drills.web.views.editor_api import check_gameday, issue_dict, name_line

# Paths under /gamedays/ that a game day's name would shadow.
RESERVED_NAMES = {"new", "runs"}

BLANK = """apiVersion: drillhall/v1
kind: GameDay
metadata:
  name: my-game-day
  goal: What the team wants to learn.
participants: []
drills:
  - {playbook: my-drill, version: latest}
policy: {on_failure: stop, pause: 0s}
"""


def _render(
    request: HttpRequest,
    *,
    gameday: GameDay | None,
    content: str,
    message: str = "",
    problems: list[Issue] | None = None,
    status: int = 200,
) -> HttpResponse:
    filename = f"{gameday.name if gameday else 'new'}.yaml"
    context = {
        "doc": gameday,
        "kind_label": "game day",
        "new_title": "New game day",
        "form_action": reverse("gameday-edit", args=[gameday.name])
        if gameday
        else reverse("gameday-new"),
        "detail_url": gameday.get_absolute_url() if gameday else "",
        "versions_url": reverse("gameday-versions", args=[gameday.name]) if gameday else "",
        "side_title": "Schedule",
        "side_empty": "The schedule and its next fire times appear here once the game day is "
        "valid.",
        "version": gameday.latest_version() if gameday else None,
        "content": content,
        "message": message,
        "problems": [issue_dict(i) for i in problems or []],
        "templates": templates("GameDay") if gameday is None else [],
        "teams": [] if gameday else author_teams(request),
        "team": request.POST.get("team", ""),
        "filename": filename,
        "editor_config": {
            "kind": "gameday",
            "validateUrl": reverse("api-gameday-validate"),
            "schemaUrl": reverse("gameday-schema"),
            "playbook": gameday.name if gameday else None,
            "filename": filename,
        },
    }
    return render(request, "drills/editor.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@requires(Action.EDIT, doing="edit game days")
def gameday_new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        chosen = request.GET.get("template", "")
        template = next((t for t in templates("GameDay") if t.slug == chosen), None)
        return _render(request, gameday=None, content=template.content if template else BLANK)

    content, message = submitted(request)
    filename = "new.yaml"

    def refuse(issue: Issue) -> HttpResponse:
        return _render(
            request, gameday=None, content=content, message=message, problems=[issue], status=400
        )

    check = check_gameday(content, filename)
    if not check.ok:
        return _render(
            request,
            gameday=None,
            content=content,
            message=message,
            problems=check.issues,
            status=400,
        )
    name = check.document.metadata.name
    refusal = _name_refusal(name)
    if refusal is not None:
        return refuse(Issue(filename, name_line(content), 1, refusal, "choose another name"))
    try:
        team = home_team(
            request.user,
            check.document.metadata.owner,
            request.POST.get("team", ""),
            things="game days",
        )
    except NoTeam as refused:
        return refuse(Issue(filename, name_line(content), 1, str(refused)))
    try:
        with transaction.atomic():
            gameday = GameDay.objects.create(name=name, owner=request.user, team=team)
            version = gameday.save_version(
                content, request.user, message or "created", origin=Origin.of(request)
            )
    except IntegrityError:  # created by someone else between the check and the insert
        return refuse(
            Issue(filename, name_line(content), 1, f"a game day named {name!r} already exists")
        )
    messages.success(request, f"Created game day {gameday.name} v{version.number}.")
    return redirect("gameday-detail", gameday=gameday.name)


def _name_refusal(name: str) -> str | None:
    if not NAME_PATTERN.match(name):
        return f"metadata.name {name!r} must be lower-case letters, digits and hyphens"
    if name in RESERVED_NAMES:
        return f"{name!r} is reserved"
    if GameDay.objects.filter(name=name).exists():
        return f"a game day named {name!r} already exists"
    return None


@login_required
@require_http_methods(["GET", "POST"])
@requires(Action.EDIT)
def gameday_edit(request: HttpRequest, gameday: str) -> HttpResponse:
    day = visible_gameday(request, gameday, Action.EDIT)
    if request.method == "GET":
        latest = day.latest_version()
        return _render(request, gameday=day, content=latest.content if latest else BLANK)

    content, message = submitted(request)
    check = check_gameday(content, f"{day.name}.yaml", expected_name=day.name)
    if not check.ok:
        return _render(
            request,
            gameday=day,
            content=content,
            message=message,
            problems=check.issues,
            status=400,
        )
    before = day.latest_version()
    version = day.save_version(content, request.user, message, origin=Origin.of(request))
    say_saved(request, before, version)
    return redirect("gameday-edit", gameday=day.name)
