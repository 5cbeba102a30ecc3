from drills.web.models.api_tokens import ApiToken
from drills.web.models.audit_entries import AuditEntry
from drills.web.models.gamedays import (
    ActionItem,
    FireRecord,
    GameDay,
    GameDayRun,
    GameDayVersion,
    Observation,
)
from drills.web.models.halts import Halt
from drills.web.models.inventory import Host
from drills.web.models.notifications import NotificationChannel, OutboxMessage
from drills.web.models.playbooks import Playbook, PlaybookVersion
from drills.web.models.run_approvals import Approval
from drills.web.models.runs import DrillRun, RunEvent
from drills.web.models.teams import Membership

__all__ = [
    "ActionItem",
    "ApiToken",
    "Approval",
    "AuditEntry",
    "DrillRun",
    "FireRecord",
    "GameDay",
    "GameDayRun",
    "GameDayVersion",
    "Halt",
    "Host",
    "Membership",
    "NotificationChannel",
    "Observation",
    "OutboxMessage",
    "Playbook",
    "PlaybookVersion",
    "RunEvent",
]
