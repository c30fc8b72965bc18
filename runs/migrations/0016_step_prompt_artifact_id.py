from django.db import migrations, models


def backfill(apps, schema_editor):
    """LLM steps recorded before the column: the artifact of their node in their run's version (when it still exists)."""
    Node = apps.get_model("runs", "Node")
    Step = apps.get_model("runs", "Step")
    for version_id, node_id, config in Node.objects.filter(type="llm").values_list("version_id", "node_id", "config"):
        artifact_id = ((config or {}).get("prompt") or {}).get("artifact_id")
        if artifact_id:
            Step.objects.filter(run__version_id=version_id, node_id=node_id, type="llm", prompt_artifact_id="").update(
                prompt_artifact_id=artifact_id
            )


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0015_step_finish_reason"),
    ]

    operations = [
        migrations.AddField(
            model_name="step",
            name="prompt_artifact_id",
            field=models.CharField(blank=True, db_default="", max_length=15),
        ),
        migrations.AddIndex(
            model_name="workflow",
            index=models.Index(fields=["workspace", "-created_at", "-workflow_id"], name="workflow_ws_recent_idx"),
        ),
        migrations.AddIndex(
            model_name="promptartifact",
            index=models.Index(fields=["workspace", "-created_at", "-artifact_id"], name="prompt_ws_recent_idx"),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
