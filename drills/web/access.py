"""The role checks as the server applies them: one answer per request, the same everywhere.

``drills.web.roles`` says who may do what; this module turns that into what a request gets:

- a playbook (or run) the person may not even see does not exist for them: 404, so a refusal
  never confirms that a name is taken;
- something they see but may not do is refused with a sentence that names the role it needs
  (403);
- the CLI gets the same sentence and its own exit code (drills/cli/acting_user.py).

Views declare what they need with one line, ``@requires(Action.RUN)``: the playbook comes
from the ``name`` argument of the URL, or from the run of ``run_id``; a game day from
``gameday``, or from the game-day run of ``gameday_run_id`` (a game day's access is its team's,
as a playbook's); a view with none of these needs the role in some team (creating a playbook
or a game day needs the author role somewhere).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from drills.web.models import DrillRun, GameDay, GameDayRun, Playbook
from drills.web.roles import ADMIN_GROUP, Action, Role, can, is_admin, roles_in, teams_where

# The team role that gives each action (the admin role gives every one).
NEEDED_ROLE: dict[Action, Role] = {
    Action.VIEW: Role.VIEWER,
    Action.EDIT: Role.AUTHOR,
    Action.RUN: Role.OPERATOR,
    Action.APPROVE: Role.APPROVER,
    Action.ADMINISTER: Role.ADMIN,
}
DOING: dict[Action, str] = {
    Action.VIEW: "see playbooks",
    Action.EDIT: "edit playbooks",
    Action.RUN: "run, abort or resume drills",
    Action.APPROVE: "approve runs on protected hosts",
    Action.ADMINISTER: "do this",
}
# The same, for game days (roles.py: author edits them, operator starts, stops and pauses).
DOING_GAMEDAYS: dict[Action, str] = {
    Action.VIEW: "see game days",
    Action.EDIT: "edit game days",
    Action.RUN: "start, stop or pause game days",
    Action.APPROVE: "approve runs on protected hosts",
    Action.ADMINISTER: "do this",
}
HOW_TO_GET_IT = "an admin can grant it (admin site, or `manage.py grant USER ROLE TEAM`)"


class NotAllowed(PermissionDenied):
    """Seen but not allowed: a 403 whose message is the sentence the person reads."""


def _person(user: Any, you: bool) -> tuple[str, str, str, str]:
    """(subject, need, are, hold) in the right person: the page says "you", the CLI a name."""
    if you:
        return "you", "need", "are", "hold"
    return str(user.get_username()), "needs", "is", "holds"


def refusal(
    user: Any,
    action: Action,
    playbook: Playbook | GameDay | None = None,
    you: bool = True,
    doing: str | None = None,
) -> str:
    """Why ``user`` may not do ``action`` (to ``playbook``, or a game day), as one sentence;
    ``doing`` says what was tried when the action's usual words do not."""
    who, need, are, hold = _person(user, you)
    is_gameday = isinstance(playbook, GameDay)
    doing = doing or (DOING_GAMEDAYS if is_gameday else DOING)[action]
    needed = NEEDED_ROLE[action]
    if action is Action.ADMINISTER:
        return f"Only an admin may {doing}; {HOW_TO_GET_IT}."
    if playbook is None:
        return (
            f"To {doing} {who} {need} the {needed} role in a team, and {who} {hold} it in "
            f"none; {HOW_TO_GET_IT}."
        )
    if playbook.team_id is None:
        kind = "Game day" if is_gameday else "Playbook"
        return (
            f"{kind} {playbook.name} belongs to no team, so only admins may {doing} "
            "with it; an admin can give it a team in the admin site."
        )
    held = sorted(r.value for r in roles_in(user, playbook.team_id))
    team = playbook.team.name if playbook.team else "its team"
    holding = f"{who} {are} {' and '.join(held)} there" if held else f"{who} {hold} no role there"
    return (
        f"To {doing} of team {team} {who} {need} the {needed} role in {team} ({holding}); "
        f"{HOW_TO_GET_IT}."
    )


def check(user: Any, action: Action, playbook: Playbook | GameDay) -> None:
    """Raise Http404 when ``user`` may not see ``playbook`` (or game day), NotAllowed when
    they may see it but not do ``action``."""
    if not can(user, Action.VIEW, playbook):
        raise Http404("No such game day" if isinstance(playbook, GameDay) else "No such playbook")
    if action is not Action.VIEW and not can(user, action, playbook):
        raise NotAllowed(refusal(user, action, playbook))


def visible_playbook(request: HttpRequest, name: str, action: Action = Action.VIEW) -> Playbook:
    playbook = Playbook.objects.select_related("team").filter(name=name).first()
    if playbook is None:
        raise Http404("No such playbook")
    check(request.user, action, playbook)
    return playbook


def visible_run(request: HttpRequest, run_id: int, action: Action = Action.VIEW) -> DrillRun:
    run = DrillRun.objects.select_related("version__playbook__team").filter(id=run_id).first()
    if run is None:
        raise Http404("No such run")
    try:
        check(request.user, action, run.playbook)
    except Http404:
        raise Http404("No such run") from None
    return run


def visible_gameday(request: HttpRequest, name: str, action: Action = Action.VIEW) -> GameDay:
    gameday = GameDay.objects.select_related("team").filter(name=name).first()
    if gameday is None:
        raise Http404("No such game day")
    check(request.user, action, gameday)
    return gameday


def visible_gameday_run(
    request: HttpRequest, run_id: int, action: Action = Action.VIEW
) -> GameDayRun:
    run = (
        GameDayRun.objects.select_related("gameday__team", "version", "started_by")
        .filter(id=run_id)
        .first()
    )
    if run is None:
        raise Http404("No such game-day run")
    try:
        check(request.user, action, run.gameday)
    except Http404:
        raise Http404("No such game-day run") from None
    return run


def requires(action: Action, *, api: bool = False, doing: str | None = None) -> Callable[..., Any]:
    """The view needs ``action`` on the playbook of its URL (``name`` or ``run_id``), on the
    game day of ``gameday`` or ``gameday_run_id``, or in some team when the URL names none.
    ``api`` answers in JSON instead of a page; ``doing`` words the refusal without an object.

    Put it below ``login_required``: it decides for signed-in people only.
    """

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if "name" in kwargs:
                    visible_playbook(request, kwargs["name"], action)
                elif "run_id" in kwargs:
                    visible_run(request, kwargs["run_id"], action)
                elif "gameday" in kwargs:
                    visible_gameday(request, kwargs["gameday"], action)
                elif "gameday_run_id" in kwargs:
                    visible_gameday_run(request, kwargs["gameday_run_id"], action)
                elif not can(request.user, action):
                    raise NotAllowed(refusal(request.user, action, doing=doing))
            except Http404 as exc:
                if not api:
                    raise
                return JsonResponse({"error": str(exc).lower()}, status=404)
            except NotAllowed as exc:
                if not api:
                    raise
                return JsonResponse({"error": str(exc)}, status=403)
            return view(request, *args, **kwargs)

        wrapped.required_action = action  # type: ignore[attr-defined]
        return wrapped

    return decorate


def may_plan(user: Any) -> bool:
    """A plan names hosts, their addresses and which are protected: the inventory. Only those
    who write or run drills see it (author or operator in some team, or an admin); a viewer
    or an approver reads plans stored with the runs they may see."""
    return can(user, Action.EDIT) or can(user, Action.RUN)


PLAN_REFUSAL = (
    "Plans show the inventory, so they need the author or operator role in a team; "
    f"{HOW_TO_GET_IT}."
)


class NoTeam(Exception):
    """A new playbook has no team its author may put it in; the message says what to do."""


def home_team(
    user: Any, owner: str, chosen: str = "", you: bool = True, things: str = "playbooks"
) -> Any:
    """The team (a Django group) a new playbook (or game day: ``things``) of ``user`` goes to.

    ``metadata.owner`` decides when the person is an author there; otherwise the team they
    ``chosen`` (the editor's team field), or their only team. Admins may also leave a playbook
    without a team (only admins see it then). Raises NoTeam with a sentence.
    """
    who = _person(user, you)[0]
    teams = teams_where(user, Action.EDIT).exclude(name=ADMIN_GROUP).order_by("name")
    names = [t.name for t in teams]
    for wanted in (owner, chosen):
        if wanted and wanted in names:
            return teams.get(name=wanted)
    if is_admin(user) and not chosen:
        return None
    if len(names) == 1 and not chosen:
        return teams.first()
    if not names:
        raise NoTeam(refusal(user, Action.EDIT, None, you=you, doing=f"edit {things}"))
    listed = ", ".join(names)
    if chosen:
        return _no_team(f"{who} may not add {things} to team {chosen}", listed)
    if owner:
        return _no_team(f"metadata.owner is {owner}, where {who} may not add {things}", listed)
    return _no_team(f"{who} may add {things} to several teams", listed)


def _no_team(why: str, listed: str) -> Any:
    raise NoTeam(f"{why[0].upper()}{why[1:]}; set metadata.owner to one of your teams ({listed}).")
