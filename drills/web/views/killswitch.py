"""The global kill switch: any signed-in person halts every agent; only an admin releases."""

from __future__ import annotations

import redis
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from drills.web.halt import halt_all, release
from drills.web.roles import is_admin

MAX_REASON = 200


def _admin_only(request: HttpRequest) -> None:
    if not is_admin(request.user):
        raise PermissionDenied("Only an admin may release a halt; anyone may halt.")


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next") or request.headers.get("referer") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect("playbook-list")


@login_required
@require_POST
def halt_view(request: HttpRequest) -> HttpResponse:
    user = request.user.get_username()
    reason = (request.POST.get("reason") or "").strip()[:MAX_REASON] or f"kill switch by {user}"
    try:
        result = halt_all(reason, by=user)
    except redis.RedisError as exc:
        messages.error(request, f"Could not halt: Redis did not answer ({exc}).")
        return _back(request)
    messages.warning(
        request,
        f"Halted: every fault is being reverted on {len(result.queues)} agent queue(s); "
        "new faults are refused until release.",
    )
    return _back(request)


@login_required
@require_POST
def release_view(request: HttpRequest) -> HttpResponse:
    _admin_only(request)
    try:
        released = release(by=request.user.get_username())
    except redis.RedisError as exc:
        messages.error(request, f"Could not release: Redis did not answer ({exc}).")
        return _back(request)
    messages.info(request, "Released: drills may inject faults again." if released
                  else "Nothing was halted.")  # fmt: skip
    return _back(request)
