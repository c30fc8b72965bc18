"""The model catalog."""

from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Concat


class CatalogModel(models.Model):
    """An entry of the model catalog; model_ref is always provider:model_id."""

    model_id = models.CharField(max_length=100)
    provider = models.CharField(max_length=50)
    model_ref = models.CharField(max_length=160, unique=True)
    retired = models.BooleanField(default=False)

    class Meta:
        ordering = ["provider", "model_id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(model_ref=Concat(F("provider"), Value(":"), F("model_id"))),
                name="catalog_model_ref_is_provider_colon_id",
            ),
        ]

    def __str__(self):
        return self.model_ref
