"""Who a playbook belongs to and what it is about."""

from __future__ import annotations

from pydantic import BaseModel

from drills.playbook.model.values import Line, Slug, Text, strict_config


class Metadata(BaseModel):
    model_config = strict_config()

    name: Slug
    description: Text = ""
    owner: Line = ""
    tags: list[Line] = []
