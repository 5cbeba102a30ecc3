from drills.web.models.halts import Halt
from drills.web.models.inventory import Host
from drills.web.models.playbooks import Playbook, PlaybookVersion
from drills.web.models.runs import DrillRun, RunEvent

__all__ = ["DrillRun", "Halt", "Host", "Playbook", "PlaybookVersion", "RunEvent"]
