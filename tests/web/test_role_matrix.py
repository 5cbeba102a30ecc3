"""The role matrix: every route of the site, every persona, the real request.

One row per route says who may use it. The routes come from walking the URL resolver (and the
websocket router), so a route added later fails ``test_every_route_has_exactly_one_row`` until
someone decides who may use it and adds its row. Each persona x route is one test that signs
in, fetches a CSRF token the way a browser does, and sends the real request through Django's
test client with CSRF checks on:

- allowed: the row's status (a redirect that is not to a login page), and for a request that
  changes something, the database (or the halt flag) did change;
- refused: 403 or 404 (401 for an anonymous API call, a redirect to a login page for pages
  and the admin site), and nothing changed: every row of runs, events, playbooks, versions,
  audit entries, memberships, hosts, users, groups and admin log entries, and the halt flag,
  is compared before and after.

The personas are tests/web/personas.py's six (viewer, author, operator, approver, admin,
outsider) plus an anonymous visitor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from ipaddress import ip_network
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, User
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from drills.web.audit import AuditAction, record
from drills.web.halt import current_halt, halt_all
from drills.web.hosts import register_host
from drills.web.models import (
    ActionItem,
    ApiToken,
    Approval,
    AuditEntry,
    DrillRun,
    FireRecord,
    GameDay,
    GameDayRun,
    GameDayVersion,
    Halt,
    Host,
    Membership,
    NotificationChannel,
    Observation,
    OutboxMessage,
    Playbook,
    PlaybookVersion,
    RunEvent,
)
from drills.web.models.inventory import Service
from drills.web.routing import websocket_urlpatterns
from tests.web.gameday_scene import TEAM_DAY, GameDayScene, build_gameday_scene
from tests.web.halt_state import forget_redis
from tests.web.personas import PERSONAS, World, build_world, make_run, person
from tests.websocket.conftest import redis_layer  # noqa: F401  (a fixture)

VIEWERS = frozenset({"viewer", "author", "operator", "approver", "admin"})  # any team role
SIGNED_IN = VIEWERS | {"outsider"}
EVERYONE = SIGNED_IN | {"anonymous"}
AUTHORS = frozenset({"author", "admin"})
OPERATORS = frozenset({"operator", "admin"})
ADMINS = frozenset({"admin"})
APPROVERS = frozenset({"approver", "admin"})
ALL_PERSONAS = (*PERSONAS, "anonymous")

# The mutating routes a viewer may use: the issue gives Halt all to every signed-in person
# ("anyone who sees a drill go wrong may stop every drill"); it only ever stops faults. And
# everyone makes their own API tokens (which act with their own roles, no more).
VIEWER_MAY_MUTATE = {
    "halt",
    "api/v1/halt/",
    "account/tokens/",
}
PLANNERS = frozenset({"author", "operator", "admin"})  # who sees plans, and so the inventory

EDITED_SUFFIX = "\n# edited by the role matrix\n"


@dataclass
class Scene:
    """The world of one test: the team's playbook (v1, v2), a pending run, and spare objects
    the admin site may delete."""

    world: World
    run: DrillRun
    spare: dict[str, Any]
    gd: GameDayScene

    @property
    def playbook(self) -> Playbook:
        return self.world.playbook

    def admin_object(self, model: str) -> str:
        return str(self.spare[model].pk)


@dataclass(frozen=True)
class Req:
    method: str
    path: Callable[[Scene], str]
    data: Callable[[Scene], Any] | None = None
    ok: int = 200  # what an allowed person gets
    ok_for: tuple[tuple[str, int], ...] = ()  # ... when it differs by persona
    changes: bool = False  # an allowed request must change the database or the halt flag
    mutating: bool = False  # meant to change something (a viewer must be refused)
    json: bool = False  # a JSON body (the API), not a form
    setup: Callable[[Scene], None] | None = None
    lands: str = ""  # where an allowed redirect goes, when that is a sign-in page
    # Who may send this request, when it differs from the row's (the API lists and creates
    # on one route: GET /api/v1/playbooks/ for anyone signed in, POST for authors).
    who: frozenset[str] | None = None


@dataclass(frozen=True)
class Row:
    route: str  # the pattern, as the resolver lists it
    allowed: frozenset[str]
    requests: tuple[Req, ...]
    # Who sees the object of the route: refused but seeing -> 403, not seeing -> 404.
    # None: a route without an object; every refusal is a 403 (or a login redirect).
    sees: frozenset[str] | None = None
    login: str = "page"  # how anonymous is refused: "page" (redirect), "api" (401), "admin"
    name: str = ""

    @property
    def mutating(self) -> bool:
        return any(r.mutating for r in self.requests)

    @property
    def key(self) -> str:
        return self.name or self.route


def _get(path: Callable[[Scene], str], ok: int = 200) -> Req:
    return Req("GET", path, ok=ok)


def _post(
    path: Callable[[Scene], str], data: Callable[[Scene], Any] | None = None, **kw: Any
) -> Req:
    kw.setdefault("ok", 302)
    kw.setdefault("mutating", True)
    return Req("POST", path, data, **kw)


def _pb(suffix: str = "") -> Callable[[Scene], str]:
    return lambda s: f"/playbooks/{s.playbook.name}/{suffix}"


def _run(suffix: str = "") -> Callable[[Scene], str]:
    return lambda s: f"/runs/{s.run.id}/{suffix}"


def _edited(s: Scene) -> dict[str, str]:
    latest = s.playbook.latest_version()
    assert latest is not None
    return {"content": latest.content + EDITED_SUFFIX, "message": "matrix"}


def _new_playbook(s: Scene) -> dict[str, str]:
    text = s.world.version.content.replace("name: checkout-partition", "name: matrix-new")
    return {"content": text, "message": "matrix"}


def _gd(suffix: str = "") -> Callable[[Scene], str]:
    return lambda s: f"/gamedays/{s.gd.gameday.name}/{suffix}"


def _gd_run(suffix: str = "") -> Callable[[Scene], str]:
    return lambda s: f"/gamedays/runs/{s.gd.run.id}/{suffix}"


def _gameday_edited(s: Scene) -> dict[str, str]:
    latest = s.gd.gameday.latest_version()
    assert latest is not None
    return {"content": latest.content + EDITED_SUFFIX, "message": "matrix"}


def _new_gameday(s: Scene) -> dict[str, str]:
    return {"content": TEAM_DAY.replace("name: team-day", "name: matrix-day"), "message": "m"}


def _observation(s: Scene) -> dict[str, str]:
    return {"drill": "1", "verdict": "passed", "detected": "yes", "detected_at": "2026-12-01T10:02"}


def _action_item(s: Scene) -> dict[str, str]:
    return {"text": "Page the database team sooner", "owner": str(s.world.member.id)}


def _paused(s: Scene) -> None:
    GameDay.objects.filter(id=s.gd.gameday.id).update(paused=True)


def _halted(s: Scene) -> None:
    halt_all("set by the role matrix", s.world.owner)


def _plan_body(s: Scene) -> dict[str, str]:
    return {"content": s.world.version.content}


def _api(suffix: str) -> Callable[[Scene], str]:
    """An /api/v1/ path; {pb}, {run}, {gd}, {idle} and {gdrun} name the scene's objects."""
    return lambda s: (
        "/api/v1/"
        + suffix.format(
            pb=s.playbook.name,
            run=s.run.id,
            gd=s.gd.gameday.name,
            idle=s.gd.idle.name,
            gdrun=s.gd.run.id,
        )
    )


def _api_get(suffix: str, ok: int = 200, who: frozenset[str] | None = None) -> Req:
    return Req("GET", _api(suffix), ok=ok, who=who)


def _api_post(
    suffix: str, data: Callable[[Scene], Any] | None = None, ok: int = 200, **kw: Any
) -> Req:
    kw.setdefault("mutating", True)
    return Req("POST", _api(suffix), data or (lambda s: {}), ok=ok, json=True, **kw)


def _api_new_playbook(s: Scene) -> dict[str, str]:
    text = s.world.version.content.replace("name: checkout-partition", "name: matrix-api")
    return {"content": text, "message": "matrix"}


def _outsider_token(s: Scene) -> None:
    from drills.web.audit import SYSTEM
    from drills.web.token_issuing import create_token

    s.spare["token"] = create_token(s.world.outsider, "matrix", SYSTEM).token


def api_rows() -> list[Row]:
    """The REST API (/api/v1/): the same roles as the pages; anonymous gets 401."""

    def row(route: str, allowed: frozenset[str], *requests: Req, sees: Any = None) -> Row:
        return Row("api/v1/" + route, allowed, requests, sees=sees, login="api")

    return [
        # The schema describes the API, not this server's data: public, as the playbook's is.
        Row("api/v1/schema/", EVERYONE, (_api_get("schema/"),)),
        row(
            "playbooks/",
            SIGNED_IN,
            _api_get("playbooks/"),
            _api_post("playbooks/", _api_new_playbook, ok=201, changes=True, who=AUTHORS),
        ),
        row("playbooks/<slug:name>/", VIEWERS, _api_get("playbooks/{pb}/"), sees=VIEWERS),
        row(
            "playbooks/<slug:name>/versions/",
            VIEWERS,
            _api_get("playbooks/{pb}/versions/"),
            _api_post("playbooks/{pb}/versions/", _edited, ok=201, changes=True, who=AUTHORS),
            sees=VIEWERS,
        ),
        row(
            "playbooks/<slug:name>/versions/<int:number>/",
            VIEWERS,
            _api_get("playbooks/{pb}/versions/1/"),
            sees=VIEWERS,
        ),
        row(
            "playbooks/<slug:name>/diff/<int:a>/<int:b>/",
            VIEWERS,
            _api_get("playbooks/{pb}/diff/1/2/"),
            sees=VIEWERS,
        ),
        row(
            "playbooks/<slug:name>/runs/",
            OPERATORS,
            _api_post("playbooks/{pb}/runs/", ok=201, changes=True),
            sees=VIEWERS,
        ),
        # Checking a text needs no role; the plan in the answer does, as on /api/validate.
        row("validate/", SIGNED_IN, _api_post("validate/", _plan_body, mutating=False)),
        row("plan/", PLANNERS, _api_post("plan/", _plan_body, mutating=False)),
        row("runs/", SIGNED_IN, _api_get("runs/")),
        row("runs/<int:run_id>/", VIEWERS, _api_get("runs/{run}/"), sees=VIEWERS),
        row(
            "runs/<int:run_id>/abort/",
            OPERATORS,
            _api_post("runs/{run}/abort/", changes=True),
            sees=VIEWERS,
        ),
        row(
            "runs/<int:run_id>/resume/",
            OPERATORS,
            _api_post("runs/{run}/resume/", changes=True),
            sees=VIEWERS,
        ),
        # The scene's run waits for nobody: an approver is told so (409), nothing changes.
        row(
            "runs/<int:run_id>/approve/",
            APPROVERS,
            _api_post(
                "runs/{run}/approve/", lambda s: {"version": 1, "content_hash": "0" * 64}, ok=409
            ),
            sees=VIEWERS,
        ),
        row(
            "runs/<int:run_id>/decline/",
            APPROVERS,
            _api_post("runs/{run}/decline/", lambda s: {"reason": "matrix"}, ok=409),
            sees=VIEWERS,
        ),
        row("runs/<int:run_id>/events/", VIEWERS, _api_get("runs/{run}/events/"), sees=VIEWERS),
        row(
            "runs/<int:run_id>/report/<str:fmt>/",
            VIEWERS,
            _api_get("runs/{run}/report/html/"),
            sees=VIEWERS,
        ),
        row("gamedays/", SIGNED_IN, _api_get("gamedays/")),
        row("gamedays/<slug:gameday>/", VIEWERS, _api_get("gamedays/{gd}/"), sees=VIEWERS),
        row(
            "gamedays/<slug:gameday>/runs/", VIEWERS, _api_get("gamedays/{gd}/runs/"), sees=VIEWERS
        ),
        row(
            "gamedays/<slug:gameday>/start/",
            OPERATORS,
            _api_post("gamedays/{idle}/start/", ok=201, changes=True),
            sees=VIEWERS,
        ),
        row(
            "gameday-runs/<int:gameday_run_id>/",
            VIEWERS,
            _api_get("gameday-runs/{gdrun}/"),
            sees=VIEWERS,
        ),
        row(
            "gameday-runs/<int:gameday_run_id>/stop/",
            OPERATORS,
            _api_post("gameday-runs/{gdrun}/stop/", changes=True),
            sees=VIEWERS,
        ),
        row(
            "gameday-runs/<int:gameday_run_id>/report/<str:fmt>/",
            VIEWERS,
            _api_get("gameday-runs/{gdrun}/report/json/"),
            sees=VIEWERS,
        ),
        # The inventory is what plans show: those who may plan read it.
        row("hosts/", PLANNERS, _api_get("hosts/")),
        row("hosts/<slug:host>/", PLANNERS, _api_get("hosts/web/")),
        row(
            "halt/",
            SIGNED_IN,
            _api_get("halt/"),
            _api_post("halt/", lambda s: {"reason": "matrix"}, ok=201, changes=True),
        ),
        row("halt/release/", ADMINS, _api_post("halt/release/", changes=True, setup=_halted)),
        # Any other /api/v1/ path: a JSON 404 for everyone signed in, 401 for anonymous.
        row(r"^(?P<rest>[\s\S]*)$", frozenset(), _api_get("no/such/thing"), sees=frozenset()),
    ]


def admin_model_rows(app: str, model: str, read_only: bool = False) -> list[Row]:
    """The admin site's routes of one registered model; only the admin role reaches them.
    A read-only model (versions, the audit log) is shown to admins and changed by nobody:
    even an admin gets 403 from its add, change and delete."""
    base = f"admin/{app}/{model}/"

    def url(suffix: str) -> Callable[[Scene], str]:
        return lambda s: f"/{base}{suffix.replace('ID', s.admin_object(model))}"

    def row(route: str, *requests: Req) -> Row:
        return Row(base + route, ADMINS, requests, login="admin")

    if read_only:
        return [
            row("", _get(url(""))),
            row("add/", _get(url("add/"), ok=403), _post(url("add/"), lambda s: {}, ok=403)),
            row("<path:object_id>/history/", _get(url("ID/history/"))),
            row(
                "<path:object_id>/delete/",
                _get(url("ID/delete/"), ok=403),
                _post(url("ID/delete/"), lambda s: {"post": "yes"}, ok=403),
            ),
            row(
                "<path:object_id>/change/",
                _get(url("ID/change/")),  # the view-only page
                _post(url("ID/change/"), lambda s: {}, ok=403),
            ),
            row("<path:object_id>/", _get(url("ID/"), ok=302)),
        ]
    rows = [
        row("", _get(url(""))),
        # The form again, with its errors: the view was reached; nothing is stored.
        row("add/", _get(url("add/")), _post(url("add/"), lambda s: {}, ok=200)),
        row("<path:object_id>/history/", _get(url("ID/history/"))),
        row(
            "<path:object_id>/delete/",
            _get(url("ID/delete/")),
            _post(url("ID/delete/"), lambda s: {"post": "yes"}, changes=True),
        ),
        row(
            "<path:object_id>/change/",
            _get(url("ID/change/")),
            _post(url("ID/change/"), lambda s: {}, ok=200),
        ),
        row("<path:object_id>/", _get(url("ID/"), ok=302)),
    ]
    if (app, model) == ("auth", "user"):
        rows.append(
            row(
                "<id>/password/",
                _get(url("ID/password/")),
                _post(url("ID/password/"), lambda s: {}, ok=200),
            )
        )
    return rows


def _view_on_site(s: Scene) -> str:
    content_type = ContentType.objects.get_for_model(Playbook)
    return f"/admin/r/{content_type.pk}/{s.playbook.pk}/"


# The admin's app index: one route whose pattern lists the apps with registered models.
ADMIN_APPS = "^(?P<app_label>{})/$".format(
    "|".join(dict.fromkeys(m._meta.app_label for m in admin.site._registry))
)

ROWS: list[Row] = [
    # Signing in and out concern only the person's own session (tests/web/test_auth.py).
    Row("accounts/login/", EVERYONE, (_get(lambda s: "/accounts/login/"),)),
    Row(
        "accounts/logout/",
        EVERYONE,
        (_post(lambda s: "/accounts/logout/", mutating=False, lands="/accounts/login/"),),
    ),
    Row("", SIGNED_IN, (_get(lambda s: "/"),)),
    Row(
        "playbooks/new/",
        AUTHORS,
        (
            _get(lambda s: "/playbooks/new/"),
            _post(lambda s: "/playbooks/new/", _new_playbook, changes=True),
        ),
    ),
    Row("playbooks/<slug:name>/", VIEWERS, (_get(_pb()),), sees=VIEWERS),
    Row("playbooks/<slug:name>/run", OPERATORS, (_post(_pb("run"), changes=True),), sees=VIEWERS),
    Row(
        "playbooks/<slug:name>/edit/",
        AUTHORS,
        (_get(_pb("edit/")), _post(_pb("edit/"), _edited, changes=True)),
        sees=VIEWERS,
    ),
    Row("playbooks/<slug:name>/versions/", VIEWERS, (_get(_pb("versions/")),), sees=VIEWERS),
    Row(
        "playbooks/<slug:name>/versions/<int:number>/restore",
        AUTHORS,
        (_post(_pb("versions/1/restore"), changes=True),),
        sees=VIEWERS,
    ),
    Row(
        "playbooks/<slug:name>/diff/",
        VIEWERS,
        (Req("GET", lambda s: f"/playbooks/{s.playbook.name}/diff/?a=1&b=2", ok=302),),
        sees=VIEWERS,
    ),
    Row(
        "playbooks/<slug:name>/diff/<int:a>/<int:b>/",
        VIEWERS,
        (_get(_pb("diff/1/2/")),),
        sees=VIEWERS,
    ),
    Row("runs/<int:run_id>/", VIEWERS, (_get(_run()),), sees=VIEWERS),
    # Reports: whoever sees the run's page may download them, in every format.
    Row(
        "runs/<int:run_id>/report/<slug:fmt>",
        VIEWERS,
        tuple(_get(_run(f"report/{fmt}")) for fmt in ("html", "json", "junit", "md")),
        sees=VIEWERS,
    ),
    Row(
        "runs/<int:run_id>/abort",
        OPERATORS,
        (_post(lambda s: f"/runs/{s.run.id}/abort", changes=True),),
        sees=VIEWERS,
    ),
    Row(
        "runs/<int:run_id>/resume",
        OPERATORS,
        (_post(lambda s: f"/runs/{s.run.id}/resume", changes=True),),
        sees=VIEWERS,
    ),
    # Approving needs the approver role (and not being the one who started the run): on a
    # run that waits for nobody, an approver is told so and nothing changes.
    Row(
        "runs/<int:run_id>/approve",
        APPROVERS,
        (_post(_run("approve"), lambda s: {"version": "1", "content_hash": "0" * 64}),),
        sees=VIEWERS,
    ),
    Row(
        "runs/<int:run_id>/decline",
        APPROVERS,
        (_post(_run("decline"), lambda s: {"reason": "matrix"}),),
        sees=VIEWERS,
    ),
    # Game days: access is their team's, as for playbooks (docs/roles.md). Start, stop,
    # pause and resume are the operator's; observations and action items too (and the
    # participants the document names, tested in test_gameday_run_page.py).
    Row("gamedays/", SIGNED_IN, (_get(lambda s: "/gamedays/"),)),
    Row(
        "gamedays/new/",
        AUTHORS,
        (
            _get(lambda s: "/gamedays/new/"),
            _post(lambda s: "/gamedays/new/", _new_gameday, changes=True),
        ),
    ),
    Row("gamedays/<slug:gameday>/", VIEWERS, (_get(_gd()),), sees=VIEWERS),
    Row(
        "gamedays/<slug:gameday>/edit/",
        AUTHORS,
        (_get(_gd("edit/")), _post(_gd("edit/"), _gameday_edited, changes=True)),
        sees=VIEWERS,
    ),
    Row("gamedays/<slug:gameday>/versions/", VIEWERS, (_get(_gd("versions/")),), sees=VIEWERS),
    Row(
        "gamedays/<slug:gameday>/diff/",
        VIEWERS,
        (Req("GET", lambda s: f"/gamedays/{s.gd.gameday.name}/diff/?a=1&b=2", ok=302),),
        sees=VIEWERS,
    ),
    Row(
        "gamedays/<slug:gameday>/diff/<int:a>/<int:b>/",
        VIEWERS,
        (_get(_gd("diff/1/2/")),),
        sees=VIEWERS,
    ),
    Row(
        "gamedays/<slug:gameday>/start",
        OPERATORS,
        # A game day with no run open (Forbid refuses a second run of the scene's own).
        (_post(lambda s: f"/gamedays/{s.gd.idle.name}/start", changes=True),),
        sees=VIEWERS,
    ),
    Row(
        "gamedays/<slug:gameday>/pause",
        OPERATORS,
        (_post(_gd("pause"), changes=True),),
        sees=VIEWERS,
    ),
    Row(
        "gamedays/<slug:gameday>/resume",
        OPERATORS,
        (_post(_gd("resume"), changes=True, setup=_paused),),
        sees=VIEWERS,
    ),
    Row("gamedays/runs/<int:gameday_run_id>/", VIEWERS, (_get(_gd_run()),), sees=VIEWERS),
    Row(
        "gamedays/runs/<int:gameday_run_id>/report/<slug:fmt>",
        VIEWERS,
        (_get(_gd_run("report/md")), _get(_gd_run("report/json"))),
        sees=VIEWERS,
    ),
    Row(
        "gamedays/runs/<int:gameday_run_id>/state", VIEWERS, (_get(_gd_run("state")),), sees=VIEWERS
    ),
    Row(
        "gamedays/runs/<int:gameday_run_id>/stop",
        OPERATORS,
        (_post(lambda s: f"/gamedays/runs/{s.gd.run.id}/stop", changes=True),),
        sees=VIEWERS,
    ),
    Row(
        "gamedays/runs/<int:gameday_run_id>/observations",
        OPERATORS,
        (
            _post(
                lambda s: f"/gamedays/runs/{s.gd.run.id}/observations", _observation, changes=True
            ),
        ),
        sees=VIEWERS,
    ),
    Row(
        "gamedays/runs/<int:gameday_run_id>/action-items",
        OPERATORS,
        (
            _post(
                lambda s: f"/gamedays/runs/{s.gd.run.id}/action-items", _action_item, changes=True
            ),
        ),
        sees=VIEWERS,
    ),
    Row(
        "gamedays/runs/<int:gameday_run_id>/action-items/<int:item_id>/done",
        OPERATORS,
        (
            _post(
                lambda s: f"/gamedays/runs/{s.gd.run.id}/action-items/{s.gd.item.id}/done",
                lambda s: {"done": "yes"},
                changes=True,
            ),
        ),
        sees=VIEWERS,
    ),
    # Checking a game day's text needs no role, like a playbook's; its warnings name only
    # playbooks the person may see.
    Row(
        "api/gamedays/validate",
        SIGNED_IN,
        (
            Req(
                "POST",
                lambda s: "/api/gamedays/validate",
                lambda s: {"content": TEAM_DAY},
                json=True,
            ),
        ),
        login="api",
    ),
    Row("schema/gameday.json", EVERYONE, (_get(lambda s: "/schema/gameday.json"),)),
    # The audit log and its exports: admins only.
    Row("audit/", ADMINS, (_get(lambda s: "/audit/"),)),
    Row("audit/export.csv", ADMINS, (_get(lambda s: "/audit/export.csv"),)),
    Row("audit/export.json", ADMINS, (_get(lambda s: "/audit/export.json"),)),
    Row(
        "runs/<int:run_id>/events",
        VIEWERS,
        (_get(lambda s: f"/runs/{s.run.id}/events"),),
        sees=VIEWERS,
    ),
    Row(
        "halt", SIGNED_IN, (_post(lambda s: "/halt", lambda s: {"reason": "matrix"}, changes=True),)
    ),
    Row(
        "halt/release",
        ADMINS,
        (_post(lambda s: "/halt/release", changes=True, setup=_halted),),
    ),
    # Checking a text needs no role; the plan in the answer does (see test_validate_*).
    Row(
        "api/validate",
        SIGNED_IN,
        (Req("POST", lambda s: "/api/validate", _plan_body, json=True),),
        login="api",
    ),
    # The plan names hosts and which are protected: author or operator somewhere, or admin.
    Row(
        "api/plan",
        frozenset({"author", "operator", "admin"}),
        (Req("POST", lambda s: "/api/plan", _plan_body, json=True),),
        login="api",
    ),
    Row(
        "api/playbooks/<slug:name>/versions/",
        VIEWERS,
        (_get(lambda s: f"/api/playbooks/{s.playbook.name}/versions/"),),
        sees=VIEWERS,
        login="api",
    ),
    *api_rows(),
    # Everyone's own API tokens: made (shown once) and revoked on one page. The scene's token
    # is the outsider's: to everyone else it does not exist.
    Row(
        "account/tokens/",
        SIGNED_IN,
        (
            _get(lambda s: "/account/tokens/"),
            _post(lambda s: "/account/tokens/", lambda s: {"name": "matrix"}, ok=200, changes=True),
        ),
    ),
    Row(
        "account/tokens/<int:token_id>/revoke",
        frozenset({"outsider"}),
        (
            _post(
                lambda s: f"/account/tokens/{s.spare['token'].id}/revoke",
                changes=True,
                setup=_outsider_token,
            ),
        ),
        sees=frozenset({"outsider"}),
    ),
    # The language's JSON Schema is public (editors fetch it); it says nothing of this server.
    Row("schema/playbook.json", EVERYONE, (_get(lambda s: "/schema/playbook.json"),)),
    # The admin site: its sign-in page is public, everything else is the admin role's.
    Row(
        "admin/login/",
        EVERYONE,
        (Req("GET", lambda s: "/admin/login/", ok_for=(("admin", 302),)),),  # already in
    ),
    Row("admin/", ADMINS, (_get(lambda s: "/admin/"),), login="admin"),
    Row(
        "admin/logout/",
        ADMINS,
        (_post(lambda s: "/admin/logout/", mutating=False, lands="/accounts/login/"),),
        login="admin",
    ),
    Row(
        "admin/password_change/",
        ADMINS,
        (
            _get(lambda s: "/admin/password_change/"),
            _post(lambda s: "/admin/password_change/", lambda s: {}, ok=200),
        ),
        login="admin",
    ),
    Row(
        "admin/password_change/done/",
        ADMINS,
        (_get(lambda s: "/admin/password_change/done/"),),
        login="admin",
    ),
    Row(
        "admin/autocomplete/",
        ADMINS,
        (
            _get(
                lambda s: (
                    "/admin/autocomplete/?app_label=drills&model_name=membership"
                    "&field_name=user&term=o"
                )
            ),
        ),
        login="admin",
    ),
    Row("admin/jsi18n/", ADMINS, (_get(lambda s: "/admin/jsi18n/"),), login="admin"),
    Row(
        "admin/r/<path:content_type_id>/<path:object_id>/",
        ADMINS,
        (_get(_view_on_site, ok=302),),
        login="admin",
    ),
    Row(f"admin/{ADMIN_APPS}", ADMINS, (_get(lambda s: "/admin/drills/"),), login="admin"),
    # Unknown admin pages: 404 for an admin, the admin's sign-in page for everyone else.
    Row(
        "admin/(?P<url>.*)$",
        ADMINS,
        (_get(lambda s: "/admin/no-such-page/", ok=404),),
        login="admin",
    ),
    *admin_model_rows("auth", "group"),
    *admin_model_rows("auth", "user"),
    *admin_model_rows("drills", "host"),
    *admin_model_rows("drills", "playbook"),
    *admin_model_rows("drills", "playbookversion", read_only=True),
    *admin_model_rows("drills", "auditentry", read_only=True),
    *admin_model_rows("drills", "drillrun"),
    *admin_model_rows("drills", "membership"),
    *admin_model_rows("drills", "notificationchannel"),
    *admin_model_rows("drills", "outboxmessage", read_only=True),
    # Approvals (branch sec-approval) add their route here, one row, e.g.
    # Row("runs/<int:run_id>/approve", frozenset({"approver", "admin"}), (...), sees=VIEWERS),
]


@dataclass(frozen=True)
class MachineRow:
    """A route for machines, not persons: who may use it is the caller's address and bearer
    token, and a session changes nothing. Every persona, signed in or not, gets the same
    answers: refused without the token, served with it, refused from an address outside the
    allowed networks even with it (test_the_machine_matrix)."""

    route: str
    path: str


# Prometheus' scrape target (DRILLHALL_METRICS_ALLOW and DRILLHALL_METRICS_TOKEN).
MACHINE_ROWS: list[MachineRow] = [MachineRow("metrics", "/metrics")]
MACHINE_TOKEN = "role-matrix-metrics-token-0123456789"

WS_ROWS: dict[str, frozenset[str]] = {
    # The live run page: anyone who may see the run's playbook.
    "ws/runs/<int:run_id>/": VIEWERS,
    # A game-day run's live page: anyone who may see the game day.
    "ws/gamedays/runs/<int:gameday_run_id>/": VIEWERS,
}


def walk(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


# --- the world --------------------------------------------------------------------------------


def build_scene() -> Scene:
    world = build_world()
    register_host("web", "10.77.0.2", "dh-web")
    register_host("db1", "10.77.0.3", "dh-db1")
    world.playbook.save_version(world.version.content + "\n# v2\n", author=world.owner)
    run = make_run(world.version, world.operator, state="observing")
    spare_team = Group.objects.create(name="spare-team")
    spare_user = person("spare", spare_team)
    spare_playbook = Playbook.objects.create(name="spare", team=spare_team)
    spare_version = spare_playbook.save_version("# spare\n")
    spare_channel = NotificationChannel.objects.create(
        name="spare-hook", kind="webhook", url="http://127.0.0.1:9/hook"
    )
    spare = {
        "group": spare_team,
        "user": spare_user,
        "host": register_host("spare-host", "10.77.9.9", "dh-spare"),
        # Without runs: a run protects its version (and so its playbook) from deletion.
        "playbook": Playbook.objects.create(name="spare-unrun", team=spare_team),
        "playbookversion": spare_playbook.save_version("# spare v2\n"),
        "drillrun": make_run(spare_version, None, state="passed"),
        "membership": Membership.objects.create(user=spare_user, team=spare_team, role="viewer"),
        "auditentry": record(AuditAction.HALT, actor="spare", summary="a spare entry"),
        "notificationchannel": spare_channel,
        "outboxmessage": OutboxMessage.objects.create(
            # Another channel: one that has told something keeps its history (no delete).
            channel=NotificationChannel.objects.create(name="told", kind="slack"),
            gameday=GameDay.objects.create(name="spare-day", team=spare_team),
            dedupe_key="spare",
            event="gameday_started",
            text="a spare message",
            next_attempt_at=timezone.now(),
        ),
    }
    return Scene(world, run, spare, build_gameday_scene(world))


WATCHED = (
    ApiToken,
    DrillRun,
    RunEvent,
    Approval,
    Halt,
    Playbook,
    PlaybookVersion,
    AuditEntry,
    Membership,
    Host,
    Service,
    NotificationChannel,
    OutboxMessage,
    GameDay,
    GameDayVersion,
    GameDayRun,
    FireRecord,
    Observation,
    ActionItem,
    Group,
    Group.permissions.through,
    User.groups.through,
    LogEntry,
)


def snapshot() -> dict[str, Any]:
    """Every row that a request could change, and the halt flag."""
    rows: dict[str, Any] = {
        model._meta.label: list(model.objects.order_by("pk").values()) for model in WATCHED
    }
    rows["users"] = list(User.objects.order_by("pk").values())
    halt = current_halt()
    rows["halt"] = None if halt is None else (halt.reason, halt.by)
    return rows


@pytest.fixture
def halt_redis(needs_redis: str, settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = needs_redis
    forget_redis(needs_redis)
    try:
        yield needs_redis
    finally:
        forget_redis(needs_redis)
        from drillhall.celery import app

        # Halt all tells every agent queue of the inventory: leave no message behind.
        with app.connection_for_write() as conn:
            conn.default_channel.client.delete("agent.web", "agent.db1", "agent.spare-host")


@pytest.fixture
def scene(db, halt_redis: str) -> Iterator[Scene]:  # type: ignore[no-untyped-def]
    # Starting a run goes through the real start_run; only the hand-off to the broker is
    # replaced, so no task is left in a queue that no test worker drains.
    with (
        mock.patch("drills.web.tasks.run_drill.apply_async"),
        mock.patch("drills.web.tasks.advance_gameday.apply_async"),
    ):
        yield build_scene()


def signed_in(scene: Scene, persona: str) -> tuple[Client, str]:
    """A client with CSRF checks on, signed in as ``persona``, and its CSRF token as a browser
    gets it (the sign-in page sets the cookie)."""
    client = Client(enforce_csrf_checks=True)
    if persona != "anonymous":
        client.force_login(scene.world.persona(persona))
    assert client.get("/accounts/login/").status_code == 200
    return client, client.cookies[settings.CSRF_COOKIE_NAME].value


def send(client: Client, token: str, scene: Scene, req: Req) -> Any:
    path = req.path(scene)
    if req.method == "GET":
        return client.get(path)
    data = req.data(scene) if req.data else {}
    if req.json:
        return client.post(path, data, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    return client.post(path, data, HTTP_X_CSRFTOKEN=token)


LOGIN_PAGES = ("/accounts/login/", "/admin/login/")


def is_login_redirect(response: Any) -> bool:
    return response.status_code == 302 and response["Location"].startswith(LOGIN_PAGES)


def assert_refused(row: Row, persona: str, response: Any, req: Req) -> None:
    status = response.status_code
    where = f"{req.method} {row.route} as {persona}"
    if persona == "anonymous" and row.login != "admin":
        if row.login == "api":
            assert status == 401, where
        else:
            assert is_login_redirect(response), f"{where}: {status} {response.get('Location')}"
        return
    if row.login == "admin":
        # The admin site sends everyone without the admin role to its sign-in page (Django's
        # AdminSite.admin_view); admin/logout/ sends them to the admin index, which does.
        target = response.get("Location", "")
        if row.route == "admin/logout/":
            assert status == 302 and target == "/admin/", where
        else:
            assert status == 302 and target.startswith("/admin/login/"), f"{where}: {status}"
        return
    if row.sees is not None and persona not in row.sees:
        assert status == 404, f"{where}: {status} (must not tell that it exists)"
        return
    assert status == 403, f"{where}: {status}"
    if not req.json and "text/html" in response.get("Content-Type", ""):
        # A sentence saying why (templates/403.html), not Django's bare "403 Forbidden".
        page = response.content.decode()
        assert 'id="refusal"' in page and "You may not do this." not in page, where


def assert_allowed(row: Row, persona: str, response: Any, req: Req) -> None:
    where = f"{req.method} {row.route} as {persona}"
    ok = dict(req.ok_for).get(persona, req.ok)
    assert response.status_code == ok, f"{where}: {response.status_code}, not {ok}"
    if req.lands:
        assert response["Location"] == req.lands, where
    elif response.status_code == 302:
        assert not is_login_redirect(response), f"{where}: sent to log in"


# --- the tests --------------------------------------------------------------------------------


def test_every_route_has_exactly_one_row() -> None:
    walked = list(walk(get_resolver().url_patterns))
    rows = [row.route for row in ROWS] + [row.route for row in MACHINE_ROWS]
    assert len(rows) == len(set(rows)), "a route has two rows"
    unclassified = sorted(set(walked) - set(rows))
    assert unclassified == [], f"routes nobody said who may use: {unclassified}"
    assert sorted(set(rows) - set(walked)) == [], "rows for routes that do not exist"


def test_every_websocket_route_has_exactly_one_row() -> None:
    assert sorted(walk(websocket_urlpatterns)) == sorted(WS_ROWS)


def test_every_registered_admin_model_is_in_the_matrix() -> None:
    registered = {f"admin/{m._meta.app_label}/{m._meta.model_name}/" for m in admin.site._registry}
    assert registered <= {row.route for row in ROWS}


def test_a_viewer_is_refused_on_every_mutating_route() -> None:
    mutating = [row for row in ROWS if row.mutating]
    assert len(mutating) >= 10
    allowed = {
        row.route
        for row in mutating
        if any("viewer" in (r.who or row.allowed) for r in row.requests if r.mutating)
    }
    assert allowed == VIEWER_MAY_MUTATE, allowed
    # test_the_matrix sends each of these requests as the viewer and sees it refused.


def test_each_role_may_do_what_it_is_for() -> None:
    by_route = {row.route: row.allowed for row in ROWS}
    assert "author" in by_route["playbooks/<slug:name>/edit/"]
    assert "author" not in by_route["playbooks/<slug:name>/run"]
    assert "operator" in by_route["runs/<int:run_id>/abort"]
    assert "operator" not in by_route["playbooks/<slug:name>/edit/"]
    assert by_route["halt/release"] == ADMINS
    assert by_route["admin/drills/host/"] == ADMINS
    assert by_route["admin/drills/membership/"] == ADMINS
    assert "outsider" in by_route["halt"]


@pytest.mark.parametrize("persona", ALL_PERSONAS)
@pytest.mark.parametrize("row", ROWS, ids=[row.key for row in ROWS])
def test_the_matrix(scene: Scene, row: Row, persona: str) -> None:
    for req in row.requests:
        allowed = persona in (req.who or row.allowed)
        if req.setup is not None:
            req.setup(scene)
        client, token = signed_in(scene, persona)
        before = snapshot()
        response = send(client, token, scene, req)
        after = snapshot()
        if allowed:
            assert_allowed(row, persona, response, req)
            if req.changes:
                assert after != before, f"{req.method} {row.route} as {persona} changed nothing"
        else:
            assert_refused(row, persona, response, req)
            changed = [k for k in before if before[k] != after[k]]
            assert changed == [], f"{req.method} {row.route} as {persona} changed {changed}"


@pytest.mark.parametrize("persona", ALL_PERSONAS)
@pytest.mark.parametrize("row", MACHINE_ROWS, ids=[row.route for row in MACHINE_ROWS])
def test_the_machine_matrix(scene: Scene, settings, row: MachineRow, persona: str) -> None:  # type: ignore[no-untyped-def]
    settings.DRILLHALL_METRICS_ALLOW = (ip_network("127.0.0.0/8"),)
    settings.DRILLHALL_METRICS_TOKEN = MACHINE_TOKEN
    bearer = f"Bearer {MACHINE_TOKEN}"
    client, _ = signed_in(scene, persona)  # from 127.0.0.1, as the test client is
    before = snapshot()
    where = f"{row.route} as {persona}"
    assert client.get(row.path).status_code == 401, where
    assert client.get(row.path, HTTP_AUTHORIZATION="Bearer not-the-token").status_code == 401
    assert client.get(row.path, HTTP_AUTHORIZATION=bearer).status_code == 200, where
    far = client.get(row.path, HTTP_AUTHORIZATION=bearer, REMOTE_ADDR="192.0.2.7")
    assert far.status_code == 403, where
    assert snapshot() == before, f"{where} changed something"


# --- websocket ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(60)
@pytest.mark.parametrize("persona", ALL_PERSONAS)
@pytest.mark.parametrize("route", sorted(WS_ROWS))
def test_the_websocket_matrix(redis_layer, route: str, persona: str) -> None:  # noqa: F811
    from drillhall.asgi import application

    world = build_world()
    run = make_run(world.version, world.operator, state="observing")
    gameday_run = build_gameday_scene(world).run
    headers = [(b"origin", b"http://localhost")]
    if persona != "anonymous":
        client = Client()
        client.force_login(world.persona(persona))
        key = client.cookies[settings.SESSION_COOKIE_NAME].value
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={key}".encode()))
    path = "/" + route.replace("<int:run_id>", str(run.id)).replace(
        "<int:gameday_run_id>", str(gameday_run.id)
    )

    async def connect() -> bool:
        ws = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await ws.connect()
        await ws.disconnect()
        return bool(connected)

    assert async_to_sync(connect)() == (persona in WS_ROWS[route])


# --- what the matrix cannot say with a status ---------------------------------------------------


def test_the_list_shows_a_playbook_only_to_those_with_a_role_in_its_team(scene: Scene) -> None:
    for persona in ALL_PERSONAS[:-1]:
        client, _ = signed_in(scene, persona)
        page = client.get("/").content.decode()
        assert ("checkout-partition" in page) == (persona in VIEWERS), persona


def test_being_in_the_teams_group_without_a_role_gives_nothing(scene: Scene) -> None:
    grouped = person("gus")
    grouped.groups.add(scene.world.team)
    client = Client()
    client.force_login(grouped)
    assert client.get(f"/playbooks/{scene.playbook.name}/").status_code == 404
    assert "checkout-partition" not in client.get("/").content.decode()


@pytest.mark.parametrize("persona", ALL_PERSONAS[:-1])
def test_validate_leaves_the_plan_out_for_those_who_may_not_plan(
    scene: Scene, persona: str
) -> None:
    client, token = signed_in(scene, persona)
    body = {"content": scene.world.version.content}
    answer = client.post(
        "/api/validate", body, content_type="application/json", HTTP_X_CSRFTOKEN=token
    ).json()
    assert answer["ok"] is True
    may_plan = persona in {"author", "operator", "admin"}
    assert (answer["plan"] is not None) == may_plan, persona
    if not may_plan:
        assert "10.77.0.3" not in str(answer) and "db1" not in str(answer["plan_problems"])


@pytest.mark.parametrize(
    "persona,shown",
    [
        ("viewer", set()),
        ("author", {"edit"}),
        ("operator", {"run", "abort"}),
        ("approver", set()),
        ("admin", {"edit", "run", "abort"}),
    ],
)
def test_pages_show_only_the_buttons_a_person_may_use(
    scene: Scene, persona: str, shown: set[str]
) -> None:
    client, _ = signed_in(scene, persona)
    detail = client.get(f"/playbooks/{scene.playbook.name}/").content.decode()
    versions = client.get(f"/playbooks/{scene.playbook.name}/versions/").content.decode()
    run_page = client.get(f"/runs/{scene.run.id}/").content.decode()
    listed = client.get("/").content.decode()
    buttons = {
        "edit": 'id="edit-link"' in detail
        and 'id="restore-1-button"' in versions
        and 'id="new-playbook-link"' in listed,
        "run": 'id="run-button"' in detail,
        "abort": 'id="abort-button"' in run_page and 'id="resume-button"' in run_page,
    }
    assert {name for name, present in buttons.items() if present} == shown
    for name in {"edit", "run", "abort"} - shown:
        marker = {"edit": 'id="edit-link"', "run": 'id="run-button"', "abort": 'id="abort-button"'}
        page = {"edit": detail, "run": detail, "abort": run_page}[name]
        assert marker[name] not in page, (persona, name)


def test_a_refusal_names_the_role_it_needs(scene: Scene) -> None:
    client, token = signed_in(scene, "viewer")
    response = client.post(f"/playbooks/{scene.playbook.name}/run", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 403
    page = response.content.decode()
    assert "needs the operator role" in page or "need the operator role in platform-team" in page
    assert "you are viewer there" in page
