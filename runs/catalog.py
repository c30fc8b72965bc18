"""The model catalog every installation starts with (also loaded by migration 0002)."""

DEFAULT_CATALOG = [
    ("anthropic", "claude-opus-4-7", False),
    ("anthropic", "claude-sonnet-4-5", False),
    ("anthropic", "claude-haiku-4-5", False),
    ("openai", "gpt-5", False),
    ("openai", "gpt-5-mini", False),
    ("anthropic", "claude-2-1", True),
]


def ensure_catalog(model_cls=None) -> None:
    """Idempotent: adds any missing default entry (the migration, and tests after a flush, use it)."""
    if model_cls is None:
        from .models import CatalogModel as model_cls
    existing = set(model_cls.objects.values_list("model_ref", flat=True))
    model_cls.objects.bulk_create(
        [
            model_cls(provider=provider, model_id=model_id, model_ref=f"{provider}:{model_id}", retired=retired)
            for provider, model_id, retired in DEFAULT_CATALOG
            if f"{provider}:{model_id}" not in existing
        ]
    )
