"""Drop the indexes Django gave two foreign keys, which wider indexes led by the same column already serve.

Every run inserted and every status it takes wrote an entry in runs_run_replay_of_id (and its LIKE twin on
PostgreSQL) beside run_replays_of_idx (replay_of, -created_at); every step inserted wrote two in runs_step_run_id
beside step_run_position_idx (run, position) and step_unique_node_per_run (run, node_id). Only the indexes go: the
state's AlterField would rebuild the whole runs table on SQLite to drop one, so the database side is plain SQL
(CONCURRENTLY on PostgreSQL, so runs are written meanwhile).
"""

from django.db import migrations, models

DROPPED = {
    "runs_run": ("runs_run_replay_of_id_7b879e88", "replay_of_id"),
    "runs_step": ("runs_step_run_id_2764751d", "run_id"),
}


def drop(apps, schema_editor):
    concurrently = "CONCURRENTLY " if schema_editor.connection.vendor == "postgresql" else ""
    for name, _ in DROPPED.values():
        for index in (name, f"{name}_like"):  # the LIKE twin exists on PostgreSQL only
            schema_editor.execute(f"DROP INDEX {concurrently}IF EXISTS {schema_editor.quote_name(index)}")


def create(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    concurrently = "CONCURRENTLY " if postgres else ""
    q = schema_editor.quote_name
    for table, (name, column) in DROPPED.items():
        schema_editor.execute(f"CREATE INDEX {concurrently}IF NOT EXISTS {q(name)} ON {q(table)} ({q(column)})")
        if postgres:
            schema_editor.execute(
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {q(name + '_like')} ON {q(table)} ({q(column)} varchar_pattern_ops)"
            )


class Migration(migrations.Migration):
    atomic = False  # CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("runs", "0016_step_prompt_artifact_id"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="run",
                    name="replay_of",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.SET_NULL,
                        related_name="replays",
                        to="runs.run",
                    ),
                ),
                migrations.AlterField(
                    model_name="step",
                    name="run",
                    field=models.ForeignKey(
                        db_index=False, on_delete=models.deletion.CASCADE, related_name="steps", to="runs.run"
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop, create, elidable=False)],
        ),
    ]
