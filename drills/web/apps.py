from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate

ALL = ("add", "change", "delete", "view")
# What the admin role may do in the admin site: inventory, users, teams and their
# memberships, playbooks and runs. The audit log is read only, for everyone.
ADMIN_MODEL_PERMISSIONS: dict[tuple[str, str], tuple[str, ...]] = {
    ("drills", "host"): ALL,
    ("drills", "service"): ALL,
    ("drills", "membership"): ALL,
    ("drills", "playbook"): ALL,
    ("drills", "playbookversion"): ALL,
    ("drills", "drillrun"): ALL,
    ("drills", "runevent"): ("view",),
    ("drills", "auditentry"): ("view",),
    ("drills", "notificationchannel"): ALL,
    ("drills", "outboxmessage"): ("view",),
    ("auth", "user"): ALL,
    ("auth", "group"): ALL,
}


def ensure_admin_group(sender, **kwargs):  # type: ignore[no-untyped-def]
    """The global admin role is a Django group carrying the `administer` permission; made
    after every migrate because permissions only exist once post_migrate has run."""
    from django.contrib.auth.models import Group, Permission

    from drills.web.roles import ADMIN_GROUP

    permission = Permission.objects.filter(
        content_type__app_label="drills", codename="administer"
    ).first()
    if permission is None:
        return
    group, _ = Group.objects.get_or_create(name=ADMIN_GROUP)
    group.permissions.add(permission)
    for (app_label, model), actions in ADMIN_MODEL_PERMISSIONS.items():
        codenames = [f"{action}_{model}" for action in actions]
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        )


def ensure_gameday_clock(sender, **kwargs):  # type: ignore[no-untyped-def]
    """Beat's one task of ours, the game-day clock, at the configured interval; made (or its
    interval set again) after every migrate, so a new database has it before beat starts."""
    from drills.web.clock_task import ensure_clock_task

    ensure_clock_task()


class DrillsConfig(AppConfig):
    name = "drills.web"
    label = "drills"  # kept: migrations, permissions and table names use it
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the receivers that log failed and refused logins.
        from drills.web import logins  # noqa: F401

        # After auth's own handler (which creates the permissions): this app is listed later.
        post_migrate.connect(ensure_admin_group, sender=self)
        post_migrate.connect(ensure_gameday_clock, sender=self)


class DrillhallAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the site that only the admin role may enter."""

    default = False  # "drills.web" itself still means DrillsConfig
    default_site = "drills.web.admin_site.DrillhallAdminSite"
