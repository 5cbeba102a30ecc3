"""``{% report_links "run-report" run.id as links %}``: the download links of a report in every
format (drills/report/formats.py), for the run page and the game day run page."""

from __future__ import annotations

from django import template
from django.urls import reverse

from drills.report.formats import FORMATS

register = template.Library()

LABELS = {"html": "HTML", "pdf": "PDF", "json": "JSON", "junit": "JUnit XML", "md": "Markdown"}


@register.simple_tag
def report_links(route: str, object_id: int) -> list[tuple[str, str, str]]:
    """(format, label, url) for each format."""
    return [(fmt, LABELS[fmt], reverse(route, args=[object_id, fmt])) for fmt in FORMATS]
