from drills.models.inventory import Host
from drills.models.playbooks import Playbook, PlaybookVersion
from drills.models.runs import DrillRun, RunEvent

__all__ = ["DrillRun", "Host", "Playbook", "PlaybookVersion", "RunEvent"]
