from django.contrib import admin

from drills.web.models import DrillRun, Host, Membership, Playbook, PlaybookVersion
from drills.web.models.inventory import Service


class ServiceInline(admin.TabularInline):
    model = Service
    extra = 1
    fields = ["name", "port", "kind"]


@admin.register(Host)
class HostAdmin(admin.ModelAdmin):
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
class PlaybookVersionAdmin(admin.ModelAdmin):
    list_display = ["playbook", "number", "author", "created_at"]
    readonly_fields = ["content", "content_hash"]


@admin.register(DrillRun)
class DrillRunAdmin(admin.ModelAdmin):
    list_display = ["id", "version", "state", "started_by", "created_at"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Who holds which role in which team (a team is a Django group). The admin role is not
    a membership: it is the "drillhall admins" group, given on the user's page."""

    list_display = ["user", "team", "role"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__name"]
    autocomplete_fields = ["user", "team"]
