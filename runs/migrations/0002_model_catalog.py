from django.db import migrations

from runs.catalog import DEFAULT_CATALOG, ensure_catalog


def add_catalog(apps, schema_editor):
    ensure_catalog(apps.get_model("runs", "CatalogModel"))


def remove_catalog(apps, schema_editor):
    CatalogModel = apps.get_model("runs", "CatalogModel")
    CatalogModel.objects.filter(model_ref__in=[f"{p}:{m}" for p, m, _ in DEFAULT_CATALOG]).delete()


class Migration(migrations.Migration):
    dependencies = [("runs", "0001_initial")]
    operations = [migrations.RunPython(add_catalog, remove_catalog)]
