from django.apps import AppConfig


class DrillsConfig(AppConfig):
    name = "drills.web"
    label = "drills"  # kept: migrations, permissions and table names use it
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connects the receivers that log failed and refused logins.
        from drills.web import logins  # noqa: F401
