from django.db import migrations, models
from django.db.models import Value


def backfill(apps, schema_editor):
    """Calls made before the column: copied with a step when reused, else dry-run or live as their flags say."""
    ToolCall = apps.get_model("runs", "ToolCall")
    ToolCall.objects.filter(reused=True).update(source=Value("reused"))
    ToolCall.objects.filter(reused=False, dry_run=True).update(source=Value("dry_run"))


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0012_run_trace_exported_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="toolcall",
            name="source",
            field=models.CharField(
                choices=[("live", "Live"), ("dry_run", "Dry Run"), ("recorded", "Recorded"), ("reused", "Reused")],
                db_default="live",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="toolcall",
            name="recorded_in_run_id",
            field=models.CharField(blank=True, db_default="", max_length=36),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
