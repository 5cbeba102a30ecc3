from __future__ import annotations

import json

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User

from drills.playbook.redaction import redact, redact_data
from drills.web.audit_admin import AuditedAdmin, ReadOnlyAdmin
from drills.web.models import (
    DrillRun,
    Host,
    Membership,
    NotificationChannel,
    OutboxMessage,
    Playbook,
    PlaybookVersion,
)
from drills.web.models.inventory import Service


class ServiceInline(admin.TabularInline):
    model = Service
    extra = 1
    fields = ["name", "port", "kind"]


@admin.register(Host)
class HostAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ["name", "address", "agent_queue", "netns", "labels", "protected", "lab"]
    list_filter = ["protected", "lab"]
    search_fields = ["name", "address"]
    # Labels are a JSON object ({"role": "db"}); protected keeps drills off the host.
    fields = ["name", "address", "agent_queue", "netns", "labels", "protected", "lab", "updated_at"]
    readonly_fields = ["updated_at"]
    inlines = [ServiceInline]


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "team"]


@admin.register(PlaybookVersion)
class PlaybookVersionAdmin(ReadOnlyAdmin):
    # Versions are immutable and saved by the editor (numbered, hashed, audited); runs pin
    # them and the audit log hashes them: none is added, changed or removed here.

    list_display = ["playbook", "number", "author", "created_at"]
    exclude = ["content"]
    readonly_fields = ["shown_content", "content_hash"]

    @admin.display(description="content")
    def shown_content(self, version: PlaybookVersion) -> str:
        # Versions saved before secrets were named may hold a password.
        return redact(version.content)


@admin.register(DrillRun)
class DrillRunAdmin(admin.ModelAdmin):
    list_display = ["id", "version", "state", "started_by", "created_at"]
    exclude = ["plan"]
    readonly_fields = ["shown_plan"]

    @admin.display(description="plan")
    def shown_plan(self, run: DrillRun) -> str:
        # Plans stored before secrets were named may hold a DSN's password.
        return json.dumps(redact_data(run.plan), indent=2)


# Users, groups (teams) and memberships (roles) changed in the admin are audited too.
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class AuditedUserAdmin(AuditedAdmin, UserAdmin):
    pass


@admin.register(Group)
class AuditedGroupAdmin(AuditedAdmin, GroupAdmin):
    pass


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin, admin.ModelAdmin):
    """Who holds which role in which team (a team is a Django group). The admin role is not
    a membership: it is the "drillhall admins" group, given on the user's page."""

    list_display = ["user", "team", "role"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__name"]
    autocomplete_fields = ["user", "team"]


def _hide_beat_models() -> None:
    """Beat's tables hold one row of ours (the game-day clock, made at migrate); schedules are
    game-day documents, edited on their pages. An edit here would only break the clock."""
    from django_celery_beat import models as beat

    for model in (
        beat.PeriodicTask,
        beat.IntervalSchedule,
        beat.CrontabSchedule,
        beat.SolarSchedule,
        beat.ClockedSchedule,
    ):
        if admin.site.is_registered(model):
            admin.site.unregister(model)


_hide_beat_models()


@admin.register(NotificationChannel)
class NotificationChannelAdmin(AuditedAdmin, admin.ModelAdmin):
    # Game-day documents name a channel; its address and signing secret live only here. The
    # secret is shown to admins to hand to the receiver, who checks every message with it.
    list_display = ["name", "kind", "url"]
    fields = ["name", "kind", "url", "recipients", "secret"]
    readonly_fields = ["secret"]


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    # What was told, to whom, and whether it arrived: written by state changes, never here.
    list_display = ["id", "channel", "event", "state", "attempts", "created_at", "sent_at"]
    list_filter = ["state", "channel"]
