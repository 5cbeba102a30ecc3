from django.apps import AppConfig
from django.db.models.signals import post_migrate


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


class DrillsConfig(AppConfig):
    name = "drills.web"
    label = "drills"  # kept: migrations, permissions and table names use it
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the receivers that log failed and refused logins.
        from drills.web import logins  # noqa: F401

        # After auth's own handler (which creates the permissions): this app is listed later.
        post_migrate.connect(ensure_admin_group, sender=self)
