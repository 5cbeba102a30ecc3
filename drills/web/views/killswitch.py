"""The global kill switch: any signed-in person halts every agent; only an admin releases."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from drills.web.audit import request_source
from drills.web.halt import ReleaseRefused, halt_all, may_release, release
from injector.protocol import MAX_HALT_REASON


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
    user = request.user
    reason = (request.POST.get("reason") or "").strip()[:MAX_HALT_REASON]
    reason = reason or f"kill switch by {user.get_username()}"
    result = halt_all(reason, user, request_source(request))
    if result.redis_error:
        messages.warning(
            request,
            "Halted: no drill may start, and runs in progress abort. Redis did not answer "
            f"({result.redis_error}), so agents hear of the halt when it is back; until then "
            "their faults end with their leases.",
        )
    elif not result.created:
        messages.warning(request, f"Already halted ({result.halt.reason}); every agent was "
                         "told again.")  # fmt: skip
    else:
        messages.warning(
            request,
            f"Halted: every fault is being reverted on {len(result.queues)} agent queue(s); "
            "new faults are refused until an admin releases.",
        )
    return _back(request)


@login_required
@require_POST
def release_view(request: HttpRequest) -> HttpResponse:
    if not may_release(request.user):
        raise PermissionDenied("only an admin can release a halt")
    try:
        result = release(request.user, request_source(request))
    except ReleaseRefused as exc:
        raise PermissionDenied(str(exc)) from None
    if result.redis_error and result.released:
        messages.warning(
            request,
            f"Released, but Redis did not answer ({result.redis_error}): agents stay halted "
            "until it is back, and hear of the release then.",
        )
    elif result.redis_error:
        messages.error(request, f"Could not release: Redis did not answer ({result.redis_error}).")
    elif result.released:
        messages.info(request, "Released: drills may inject faults again.")
    else:
        messages.info(request, "Nothing was halted.")
    return _back(request)
