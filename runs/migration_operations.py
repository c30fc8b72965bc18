"""Schema operations the migrations share: indexes on the runs table are built without blocking its writes."""

from django.db import migrations


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    """CREATE INDEX CONCURRENTLY on PostgreSQL: a plain build would block every write to runs while it scans them.

    Its migration needs `atomic = False` (CONCURRENTLY cannot run inside a transaction); other databases build
    the index as AddIndex does.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)
