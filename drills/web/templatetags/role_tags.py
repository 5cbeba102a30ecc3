"""`{% may "run" playbook as may_run %}` (load role_tags): whether the page shows a button.

Hiding a button is a courtesy; the view's own check (drills.web.access) is what counts.
"""

from __future__ import annotations

from typing import Any

from django import template

from drills.web.roles import Action, can

register = template.Library()


@register.simple_tag(takes_context=True)
def may(context: template.Context, action: str, playbook: Any = None) -> bool:
    """May the signed-in person do ``action`` (view, edit, run, approve, administer) to
    ``playbook``; without one, in some team (or globally, for administer)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    return can(user, Action(action), playbook)
