"""Every run gets a globally unique key (existing rows included), then the key is made unique."""

from django.db import migrations, models

import injector.protocol


def fill_keys(apps, schema_editor):
    DrillRun = apps.get_model("drills", "DrillRun")
    for run in DrillRun.objects.filter(key="").only("id"):
        run.key = injector.protocol.new_run_key()
        run.save(update_fields=["key"])


class Migration(migrations.Migration):
    dependencies = [
        ("drills", "0004_run_approved_protected"),
    ]

    operations = [
        migrations.AddField(
            model_name="drillrun",
            name="key",
            field=models.CharField(default="", editable=False, max_length=32),
            preserve_default=False,
        ),
        migrations.RunPython(fill_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="drillrun",
            name="key",
            field=models.CharField(
                default=injector.protocol.new_run_key, editable=False, max_length=32, unique=True
            ),
        ),
    ]
