from django.contrib import admin

from drills.models import DrillRun, Host, Playbook, PlaybookVersion


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
    list_display = ["name", "address", "agent_queue", "netns", "protected", "lab"]


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "team"]


@admin.register(PlaybookVersion)
class PlaybookVersionAdmin(admin.ModelAdmin):
    list_display = ["playbook", "number", "author", "created_at"]
    readonly_fields = ["content", "content_hash"]


@admin.register(DrillRun)
class DrillRunAdmin(admin.ModelAdmin):
    list_display = ["id", "version", "state", "started_by", "created_at"]
