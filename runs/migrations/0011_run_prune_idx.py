from django.db import migrations, models

from runs.migration_operations import AddIndexConcurrentlyOnPostgres


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("runs", "0010_run_workflow_status_index"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="run",
            index=models.Index(
                condition=models.Q(("status__in", ("completed", "failed", "cancelled"))),
                fields=["finished_at"],
                name="run_prune_idx",
            ),
        ),
    ]
