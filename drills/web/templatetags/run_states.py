"""`{{ state|state_label }}`: a run state as people read it ("awaiting approval")."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def state_label(value: object) -> str:
    return str(value or "").replace("_", " ")
