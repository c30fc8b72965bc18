"""Count the completed steps of the runs that existed before the step boundary kept steps_completed.

In batches of runs by primary key, each its own transaction, so a large table is never locked as a whole.
"""

from django.db import migrations, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

BATCH = 5000


def backfill(apps, schema_editor):
    Run = apps.get_model("runs", "Run")
    Step = apps.get_model("runs", "Step")
    completed = (
        Step.objects.filter(run=OuterRef("pk"), status="completed")
        .order_by()
        .values("run")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last = ""
    while ids := list(Run.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:BATCH]):
        with transaction.atomic():
            Run.objects.filter(pk__in=ids).update(steps_completed=Coalesce(Subquery(completed), 0))
        last = ids[-1]


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("runs", "0007_run_steps_completed")]
    operations = [migrations.RunPython(backfill, migrations.RunPython.noop, elidable=True)]
