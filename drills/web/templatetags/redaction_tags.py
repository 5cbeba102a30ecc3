"""`{{ text|redact }}`: a playbook's text or a message shown with every credential masked
(drills/playbook/redaction.py); versions saved before secrets were named may hold one."""

from __future__ import annotations

from django import template

from drills.playbook.redaction import redact as redact_text

register = template.Library()


@register.filter
def redact(value: object) -> str:
    return redact_text("" if value is None else str(value))
