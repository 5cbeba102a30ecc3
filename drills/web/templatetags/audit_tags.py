"""`{{ user|reads_audit_log }}`: whether the header links to the audit log (admins only)."""

from __future__ import annotations

from typing import Any

from django import template

from drills.web.roles import Action, can

register = template.Library()


@register.filter
def reads_audit_log(user: Any) -> bool:
    return can(user, Action.ADMINISTER)
