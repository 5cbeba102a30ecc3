"""JSON for the editor: validate and plan a text, list versions, and the JSON Schemas; a game
day's text is validated by its own endpoint, which answers with its schedule's preview."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import wraps
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from drills.playbook.errors import Issue, PlaybookError
from drills.playbook.redaction import redact_data
from drills.web.access import PLAN_REFUSAL, may_plan
from drills.web.models import Playbook

log = logging.getLogger(__name__)

SCHEMA_FILE = Path(settings.BASE_DIR) / "schema" / "playbook.schema.json"
GAMEDAY_SCHEMA_FILE = Path(settings.BASE_DIR) / "schema" / "gameday.schema.json"
DEFAULT_FILENAME = "playbook.yaml"


@dataclass
class Check:
    """What the editor learns about a text: the parser's issues, then the plan or its problems."""

    issues: list[Issue] = field(default_factory=list)
    playbook: Any = None
    plan: dict[str, Any] | None = None
    plan_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def to_dict(self) -> dict[str, Any]:
        answer = {
            "ok": self.ok,
            "issues": [issue_dict(i) for i in self.issues],
            "plan": self.plan,
            "plan_problems": self.plan_problems,
        }
        return redact_data(answer)


def issue_dict(issue: Issue) -> dict[str, Any]:
    return {
        "line": issue.line,
        "column": issue.column,
        "message": issue.message,
        "hint": issue.hint,
    }


def check_playbook(
    content: str,
    filename: str = DEFAULT_FILENAME,
    *,
    expected_name: str | None = None,
    plan: bool = True,
) -> Check:
    """Parse, then (when it parses and plan is set) resolve against the current inventory.

    expected_name: the stored playbook this text is meant for; its metadata.name must match,
    since the name is the playbook's identity (URLs, runs, reports).
    """
    # Imported here, as in outline.py: the pages keep working while the parser is broken.
    from drills.playbook.parser import parse_playbook

    try:
        parsed = parse_playbook(content, filename)
    except PlaybookError as error:
        return Check(issues=error.issues)
    check = Check(playbook=parsed)
    name = metadata_name(parsed)
    if expected_name is not None and name != expected_name:
        check.issues.append(
            Issue(
                filename,
                name_line(content),
                1,
                f"metadata.name is {name!r} but this is playbook {expected_name!r}",
                f"keep 'name: {expected_name}'; to make another playbook use New playbook",
            )
        )
        return check
    if plan:
        check.plan, check.plan_problems = plan_of(parsed)
    return check


def metadata_name(parsed: Any) -> str:
    return str(getattr(getattr(parsed, "metadata", None), "name", "") or "")


def name_line(content: str) -> int:
    """Line of metadata.name (1 when it cannot be found), for errors about the name."""
    try:
        from drills.playbook.loader import load_yaml

        return int(load_yaml(content).position(("metadata", "name")).line)
    except Exception:  # positions are a nicety; the error itself must still be reported
        return 1


def plan_of(parsed: Any) -> tuple[dict[str, Any] | None, list[str]]:
    """(plan as a dict, []) or (None, problems): the planner's refusal is data, not an error."""
    from drills.engine.plan import PlanError, resolve_plan
    from drills.web.hosts import inventory_snapshot

    try:
        resolved = resolve_plan(parsed, inventory_snapshot())
    except PlanError as error:
        problems = getattr(error, "problems", None) or [str(error)]
        return None, [str(p) for p in problems]
    except Exception as error:  # the editor must keep working while the planner grows
        log.exception("planner failed")
        return None, [f"the planner failed: {error}"]
    if hasattr(resolved, "to_dict"):
        return resolved.to_dict(), []
    return _plan_dict_from_steps(resolved), []


def _plan_dict_from_steps(resolved: Any) -> dict[str, Any]:
    """The contract's plan shape, built from the older plan that only has describe()."""
    steps: list[dict[str, Any]] = []
    start = 0.0
    for step in resolved.steps:
        row = step.describe()
        duration = float(row.get("duration") or 0.0)
        faults = []
        if row.get("fault"):
            faults.append({"kind": row["fault"], "host": row.get("host"), "params": {}})
        steps.append(
            {
                "index": row.get("step"),
                "path": str(row.get("step")),
                "name": row.get("name", ""),
                "kind": row.get("kind", ""),
                "start": start,
                "duration": duration,
                "target": row.get("target"),
                "faults": faults,
                "children": [],
            }
        )
        start += duration
    hosts = list(getattr(resolved, "hosts", []))
    return {
        "steps": steps,
        "probes": [{"name": p.name, "url": getattr(p, "url", None)} for p in resolved.probes],
        "hosts": hosts,
        "blast_radius": {"hosts": hosts, "services": [], "groups": {}},
        "expected_seconds": float(getattr(resolved, "expected_seconds", start)),
        "warnings": [],
    }


def api_login_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A JSON 401 instead of a redirect to the login page, which a script cannot follow."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse({"error": "login required"}, status=401)
        return view(request, *args, **kwargs)

    return wrapped


def _content_from(request: HttpRequest) -> tuple[str, str, str | None] | JsonResponse:
    """(content, filename, the stored document's name or None) from the JSON body, or a 400
    answer. The editor sends that name as ``playbook`` for game days too."""
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"error": "the body must be JSON"}, status=400)
    if not isinstance(body, dict) or not isinstance(body.get("content"), str):
        return JsonResponse({"error": 'expected {"content": "<yaml>"}'}, status=400)
    filename = body.get("filename")
    if not isinstance(filename, str) or not filename:
        filename = DEFAULT_FILENAME
    expected = body.get("playbook")
    return body["content"], filename, expected if isinstance(expected, str) and expected else None


@api_login_required
@require_POST
def validate(request: HttpRequest) -> HttpResponse:
    """Any signed-in person may check a text (the parser knows nothing of this server); the
    plan that comes with it names hosts, so it is left out for those who may not plan."""
    received = _content_from(request)
    if isinstance(received, JsonResponse):
        return received
    content, filename, expected = received
    planning = may_plan(request.user)
    check = check_playbook(content, filename, expected_name=expected, plan=planning)
    if not planning and check.ok:
        check.plan_problems = [PLAN_REFUSAL]
    return JsonResponse(check.to_dict())


@api_login_required
@require_POST
def plan(request: HttpRequest) -> HttpResponse:
    """The dry run against the inventory: author or operator in some team, or an admin."""
    if not may_plan(request.user):
        return JsonResponse({"error": PLAN_REFUSAL}, status=403)
    received = _content_from(request)
    if isinstance(received, JsonResponse):
        return received
    content, filename, expected = received
    check = check_playbook(content, filename, expected_name=expected)
    status = 200 if check.plan is not None else 422
    return JsonResponse(check.to_dict(), status=status)


@api_login_required
@require_GET
def playbook_versions(request: HttpRequest, name: str) -> HttpResponse:
    playbook = Playbook.objects.filter(name=name).first()
    if playbook is None or not playbook.can_access(request.user):
        return JsonResponse({"error": "no such playbook"}, status=404)
    versions = playbook.versions.select_related("author").order_by("-number")
    return JsonResponse(
        {
            "playbook": playbook.name,
            "versions": [
                {
                    "number": v.number,
                    "author": v.author.get_username() if v.author else None,
                    "created_at": v.created_at.isoformat(),
                    "message": v.message,
                    "content_hash": v.content_hash,
                }
                for v in versions
            ],
        }
    )


@require_GET
def playbook_schema(request: HttpRequest) -> HttpResponse:
    """The committed schema when there is one (what yaml-language-server users pin), else live."""
    from drills.playbook.schema import json_schema

    return _schema(SCHEMA_FILE, json_schema)


@require_GET
def gameday_schema(request: HttpRequest) -> HttpResponse:
    """The game day format's schema, public like the playbook's: it is the language."""
    from drills.gameday.json_schema import json_schema

    return _schema(GAMEDAY_SCHEMA_FILE, json_schema)


def _schema(path: Path, build: Callable[[], dict[str, Any]]) -> HttpResponse:
    text = path.read_text(encoding="utf-8") if path.is_file() else json.dumps(build(), indent=2)
    response = HttpResponse(text, content_type="application/schema+json")
    response["Access-Control-Allow-Origin"] = "*"
    return response


@dataclass
class GameDayCheck:
    """What the editor learns about a game day's text: the parser's issues, or its schedule in
    sentences and the next fire times, and warnings about drills that could not start."""

    issues: list[Issue] = field(default_factory=list)
    document: Any = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.issues

    def to_dict(self) -> dict[str, Any]:
        from django.utils import timezone

        from drills.gameday.describe import fire_time_line, policy_sentences, schedule_sentences
        from drills.gameday.fire_times import next_fire_times

        schedule = self.document.schedule if self.document is not None else None
        preview = (
            [fire_time_line(d, schedule) for d in next_fire_times(schedule, timezone.now())]
            if schedule is not None
            else []
        )
        return {
            "ok": self.ok,
            "issues": [issue_dict(i) for i in self.issues],
            # The editor's side panel: what the page of this game day will say.
            "plan": None,
            "plan_problems": [],
            "schedule": schedule_sentences(schedule) if schedule is not None else [],
            "policy": policy_sentences(self.document.policy) if self.document else [],
            "fire_times": [
                {"local": f.local, "utc": f.utc, "runs": f.runs, "said": f.said} for f in preview
            ],
            "warnings": self.warnings,
        }


def check_gameday(
    content: str, filename: str = "gameday.yaml", *, expected_name: str | None = None
) -> GameDayCheck:
    """Parse a game day; expected_name: the stored game day this text is meant for."""
    from drills.gameday.load import parse_gameday

    try:
        document = parse_gameday(content, filename)
    except PlaybookError as error:
        return GameDayCheck(issues=error.issues)
    check = GameDayCheck(document=document)
    name = document.metadata.name
    if expected_name is not None and name != expected_name:
        check.issues.append(
            Issue(
                filename,
                name_line(content),
                1,
                f"metadata.name is {name!r} but this is game day {expected_name!r}",
                f"keep 'name: {expected_name}'; to make another game day use New game day",
            )
        )
    return check


@api_login_required
@require_POST
def validate_gameday(request: HttpRequest) -> HttpResponse:
    """Any signed-in person may check a game day's text, as any may check a playbook's; the
    warnings name only playbooks the person may see."""
    received = _content_from(request)
    if isinstance(received, JsonResponse):
        return received
    content, filename, expected = received
    check = check_gameday(content, filename, expected_name=expected)
    if check.ok:
        from drills.web.views.gameday_pages import drill_lines

        check.warnings = [d.warning for d in drill_lines(check.document, request.user) if d.warning]
    return JsonResponse(check.to_dict())
