"""`{% halt_banner %}`: the kill switch for every signed-in person, a banner for everyone while
halted, and the release button for admins."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import template

from drills.web.halt import halt_for_page, may_release

register = template.Library()


@register.inclusion_tag("drills/_halt.html", takes_context=True)
def halt_banner(context: template.Context) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"show": False}
    state, unknown = halt_for_page()
    since = dt.datetime.fromtimestamp(state.since, tz=dt.UTC) if state and state.since else None
    return {
        "show": True,
        "halt": state,
        "since": since,
        "unknown": unknown,
        "may_release": may_release(user),
        "csrf_token": context.get("csrf_token"),
        "next": request.get_full_path() if request else "",
    }
