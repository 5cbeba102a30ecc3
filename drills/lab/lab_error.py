"""The one error type of the lab: something a user can act on, with the reason in the message."""

from __future__ import annotations


class LabError(Exception):
    pass
