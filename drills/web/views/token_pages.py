"""A signed-in person's API tokens: make one (shown once, on the answer to the form), list
them (prefix, name, made, last used) and revoke one. Tokens are their own: nobody sees or
revokes another person's here."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from drills.web.audit import Origin
from drills.web.models import ApiToken
from drills.web.token_issuing import create_token, revoke_token


def _page(request: HttpRequest, secret: str = "", new: ApiToken | None = None) -> HttpResponse:
    tokens = ApiToken.objects.filter(user=request.user).order_by("revoked_at", "-created_at")
    response = render(
        request,
        "drills/api_tokens.html",
        {"tokens": tokens, "secret": secret, "new": new},
    )
    # The page that shows a token must stay in no cache: it is shown this once.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return _page(request)
    try:
        made = create_token(request.user, request.POST.get("name", ""), Origin.of(request))
    except ValueError as exc:
        messages.error(request, f"Not made: {exc}.")
        return redirect("api-tokens")
    return _page(request, made.secret, made.token)


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    # Someone else's token does not exist for this person: 404, as for what they may not see.
    token = ApiToken.objects.filter(id=token_id, user=request.user).first()
    if token is None:
        raise Http404("No such token")
    if revoke_token(token, Origin.of(request)):
        messages.info(request, f"Revoked {token.prefix}… “{token.name}”: it signs nobody in now.")
    else:
        messages.info(request, f"{token.prefix}… was already revoked.")
    return redirect("api-tokens")
