from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from drills.web.models.runs import DrillRun


class Approval(models.Model):
    """Another person's yes to one run that faults protected hosts, pinned to what they saw.

    One per run (the unique run is the compare-and-set two approvers race on). It names the
    playbook, version number and content hash the approver was shown, and the hash of the run's
    stored plan; a run starts only when these are its own (drills.web.approvals.approval_problem),
    so an approval of v3 never starts a v4 run, which needs an approval of its own.
    """

    run = models.OneToOneField(DrillRun, related_name="approval", on_delete=models.CASCADE)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, related_name="+", on_delete=models.SET_NULL
    )
    # Kept as text: deleting the user must not erase who approved.
    approver_name = models.CharField(max_length=150)
    approved_at = models.DateTimeField(default=timezone.now)
    playbook_name = models.CharField(max_length=63)
    version_number = models.PositiveIntegerField()
    content_hash = models.CharField(max_length=64)
    # sha256 of the run's stored plan (drills.web.approvals.plan_hash): the hosts and blast
    # radius the approver saw.
    plan_hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-approved_at"]

    def __str__(self) -> str:
        return (
            f"{self.approver_name} approved run {self.run_id} of {self.playbook_name} "
            f"v{self.version_number}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for the run document and for whoever signs the run's fault specs."""
        return {
            "approver": self.approver_name,
            "approved_at": self.approved_at.isoformat(),
            "playbook": self.playbook_name,
            "version": self.version_number,
            "content_hash": self.content_hash,
            "plan_hash": self.plan_hash,
        }
