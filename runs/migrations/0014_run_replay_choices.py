"""A replay's start nodes and tools choice on the run, beside its plan, so a list of runs shows them without the plan.

The replays made before are read from their plan, in batches of runs by primary key, each its own transaction.
"""

import runs.models.runs
from django.db import migrations, models, transaction

BATCH = 2000


def backfill(apps, schema_editor):
    Run = apps.get_model("runs", "Run")
    last = ""
    while rows := list(
        Run.objects.filter(pk__gt=last, replay_depth__gt=0).order_by("pk").only("pk", "replay_plan")[:BATCH]
    ):
        changed = []
        for run in rows:
            plan = run.replay_plan or {}
            if plan.get("from_nodes") is not None or plan.get("tools", "live") != "live":
                run.from_nodes, run.tools = plan.get("from_nodes"), plan.get("tools", "live")
                changed.append(run)
        with transaction.atomic():
            Run.objects.bulk_update(changed, ["from_nodes", "tools"])
        last = rows[-1].pk


class Migration(migrations.Migration):
    atomic = False
    dependencies = [
        ("runs", "0013_toolcall_source"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="from_nodes",
            field=models.JSONField(blank=True, help_text="The start nodes of a rerun from a step.", null=True),
        ),
        migrations.AddField(
            model_name="run",
            name="tools",
            field=models.CharField(
                choices=runs.models.runs.tools_choices, db_default="live", default="live", max_length=10
            ),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True),
    ]
