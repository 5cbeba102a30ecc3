"""The names of the report formats, apart from their renderers (``drills.report.formats``):
the command line builds its parser from them, and importing the renderers imports the whole
playbook model, which a command that writes no report should not wait for."""

from __future__ import annotations

FORMATS = ("html", "pdf", "json", "junit", "md")
