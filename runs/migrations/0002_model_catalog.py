from django.db import migrations

CATALOG = [
    ("anthropic", "claude-opus-4-7", False),
    ("anthropic", "claude-sonnet-4-5", False),
    ("anthropic", "claude-haiku-4-5", False),
    ("openai", "gpt-5", False),
    ("openai", "gpt-5-mini", False),
    ("anthropic", "claude-2-1", True),
]


def add_catalog(apps, schema_editor):
    CatalogModel = apps.get_model("runs", "CatalogModel")
    for provider, model_id, retired in CATALOG:
        CatalogModel.objects.update_or_create(
            model_ref=f"{provider}:{model_id}", defaults={"provider": provider, "model_id": model_id, "retired": retired}
        )


def remove_catalog(apps, schema_editor):
    CatalogModel = apps.get_model("runs", "CatalogModel")
    CatalogModel.objects.filter(model_ref__in=[f"{p}:{m}" for p, m, _ in CATALOG]).delete()


class Migration(migrations.Migration):
    dependencies = [("runs", "0001_initial")]
    operations = [migrations.RunPython(add_catalog, remove_catalog)]
