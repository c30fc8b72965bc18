from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    """CREATE INDEX CONCURRENTLY on PostgreSQL: a plain build would block every write to runs while it scans them."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)


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
