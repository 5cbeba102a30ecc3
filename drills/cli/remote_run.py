"""`drillhall run FILE --server URL`: the CI gate against a shared server, through its API.

The playbook is checked here first (exit 2 with file:line:column, nothing sent), then uploaded
as a new version when its text changed (the server says whether it did), the run started,
its events printed as the server words them, and the command exits as a local run does: 0
passed, 1 an SLA failed, 2 invalid, 3 aborted or error, 4 not allowed. ``--junit`` (and the
other report options) fetch the report the server renders from the stored run.

The token comes from ``--token-file`` or DRILLHALL_TOKEN (``--token`` works too, but a token on
a command line is visible to everyone on the machine). Ctrl-C aborts the run on the server.
On a terminal a progress line for the running step is rewritten in place below the sentences;
in a pipe the output is the sentences alone.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from drills.cli.main import (
    EXIT_ABORTED,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_NOT_ALLOWED,
    EXIT_PASSED,
    say_err,
)
from drills.cli.step_progress import StepProgress

TOKEN_ENV = "DRILLHALL_TOKEN"
WAIT = 20  # seconds a long-poll for events may wait on the server
TTY_WAIT = 1  # on a terminal: the progress line moves at least this often
TIMEOUT = WAIT + 15.0


class ApiError(Exception):
    def __init__(self, status: int, detail: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.body = body or {}


class Server:
    """The server's /api/v1/, with a bearer token; JSON in, JSON (or bytes) out."""

    def __init__(self, url: str, token: str) -> None:
        self.base = url.rstrip("/") + "/api/v1/"
        self.token = token
        # No proxies from the environment: the gate talks to the server it was given.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, path: str, body: Any = None, raw: bool = False) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 (http(s) checked in run_remote)
            self.base + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json" if not raw else "*/*",
                **({"Content-Type": "application/json"} if data is not None else {}),
            },
        )
        try:
            with self.opener.open(request, timeout=TIMEOUT) as response:
                content = response.read()
        except urllib.error.HTTPError as exc:
            content = exc.read()
            try:
                answer = json.loads(content)
            except ValueError:
                answer = {}
            detail = str(answer.get("detail") or f"the server answered HTTP {exc.code}")
            raise ApiError(exc.code, detail, answer) from None
        except (OSError, ValueError) as exc:
            raise ApiError(0, f"the server could not be reached at {self.base}: {exc}") from None
        return content if raw else json.loads(content or b"{}")


def token_from(args: argparse.Namespace) -> str:
    if getattr(args, "token_file", None):
        return Path(args.token_file).read_text().strip()
    return (getattr(args, "token", None) or os.environ.get(TOKEN_ENV, "")).strip()


def run_remote(args: argparse.Namespace, say) -> int:  # type: ignore[no-untyped-def]
    from drills.playbook.errors import PlaybookError
    from drills.playbook.parser import parse_file

    path = Path(args.file)
    try:
        playbook = parse_file(path)
    except PlaybookError as exc:
        for issue in exc.issues:
            say_err(str(issue))
        return EXIT_INVALID
    except OSError as exc:
        say_err(f"{path}: cannot read: {exc.strerror}")
        return EXIT_INVALID
    if not args.server.startswith(("http://", "https://")):
        say_err(f"--server must be an http(s) URL, not {args.server[:80]}")
        return EXIT_INVALID
    try:
        token = token_from(args)
    except OSError as exc:
        say_err(f"{args.token_file}: cannot read the token: {exc.strerror}")
        return EXIT_NOT_ALLOWED
    if not token:
        say_err(
            f"--server needs an API token: --token-file FILE or {TOKEN_ENV} (make one on the "
            "server's API tokens page)"
        )
        return EXIT_NOT_ALLOWED
    server = Server(args.server, token)
    name = playbook.metadata.name
    text = path.read_text()
    state: dict[str, Any] = {"run": None, "signals": 0}
    progress = StepProgress(sys.stdout) if sys.stdout.isatty() and not args.quiet else None

    def on_signal(signum, frame):  # type: ignore[no-untyped-def]
        state["signals"] += 1
        if state["signals"] == 1 and state["run"] is not None:
            sig = signal.Signals(signum).name
            (progress.say if progress else say)(
                f"abort requested ({sig}); the server reverts the run's faults..."
            )
            try:
                server.call("POST", f"runs/{state['run']}/abort/", {"reason": f"CI gate {sig}"})
            except ApiError as exc:
                say_err(f"the abort was not taken: {exc}")
        else:
            raise KeyboardInterrupt

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        saved = upload(server, name, text, say)
        number = saved["version"]["number"]
        run = server.call("POST", f"playbooks/{name}/runs/", {"version": number})
        state["run"] = run["id"]
        say(f"run {run['id']}: {name} v{number} started on {args.server}")
        ended = follow(server, run["id"], say, quiet=args.quiet, progress=progress)
        write_reports(server, ended["id"], args, say)
        verdict = ended.get("state", "")
        reason = (ended.get("result") or {}).get("reason", "")
        say(f"verdict: {verdict} ({reason})")
        return {"passed": EXIT_PASSED, "failed": EXIT_FAILED}.get(verdict, EXIT_ABORTED)
    except ApiError as exc:
        for issue in exc.body.get("issues") or []:
            where = f"{path}:{issue.get('line', 0)}:{issue.get('column', 0)}"
            say_err(f"{where}: {issue.get('message', '')}")
        say_err(f"{path}: {exc}")
        if exc.status in (401, 403):
            return EXIT_NOT_ALLOWED
        if exc.status == 400 and exc.body.get("issues"):
            return EXIT_INVALID
        return EXIT_ABORTED
    finally:
        if progress:
            progress.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def upload(server: Server, name: str, text: str, say) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Save the text as the playbook's next version (or the playbook itself); the answer says
    whether anything was created."""
    body = {"content": text, "message": "drillhall run --server"}
    try:
        saved = server.call("POST", f"playbooks/{name}/versions/", body)
    except ApiError as exc:
        if exc.status != 404:
            raise
        saved = server.call("POST", "playbooks/", body)
        say(f"{name}: saved as a new playbook (v{saved['version']['number']})")
        return dict(saved)
    if saved.get("created"):
        say(f"{name}: saved as v{saved['version']['number']}")
    return dict(saved)


def follow(  # type: ignore[no-untyped-def]
    server: Server, run_id: int, say, quiet: bool = False, progress: StepProgress | None = None
) -> dict[str, Any]:
    """Print the run's events until it has ended; its status then. With ``progress`` (a
    terminal) the running step's line is kept below them."""
    after = 0
    t0: float | None = None
    wait = TTY_WAIT if progress else WAIT
    while True:
        query = urllib.parse.urlencode({"after": after, "limit": 500, "wait": wait})
        page = server.call("GET", f"runs/{run_id}/events/?{query}")
        for event in page.get("events", []):
            t0 = t0 if t0 is not None else event["t"]
            text = event.get("text") or ""
            if progress:
                progress.event(event["type"], event.get("data") or {}, event["t"])
            if text and (not quiet or event["type"] in ("state", "result", "error", "abort")):
                (progress.say if progress else say)(f"  +{event['t'] - t0:6.2f}s {text}")
        if progress:
            progress.draw()
        after = page.get("last_seq", after)
        if page.get("finished") and not page.get("more"):
            if progress:
                progress.close()
            return dict(server.call("GET", f"runs/{run_id}/"))
        if not page.get("events"):
            time.sleep(0.2)


def write_reports(server: Server, run_id: int, args: argparse.Namespace, say) -> None:  # type: ignore[no-untyped-def]
    for fmt, target in (
        ("junit", args.junit),
        ("html", args.report),
        ("json", getattr(args, "json", None)),
        ("md", getattr(args, "md", None)),
        ("pdf", getattr(args, "pdf", None)),
    ):
        if not target:
            continue
        content = server.call("GET", f"runs/{run_id}/report/{fmt}/", raw=True)
        Path(target).write_bytes(content)
        say(f"report: {target}")
