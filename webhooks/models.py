"""Webhook endpoints a workspace admin registers, the events delivered to them and each attempt."""

import base64
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from runs.models import Workspace

ENDPOINT_ID_RE = r"^whk_[0-9a-f]{12}$"


def new_endpoint_id() -> str:
    return f"whk_{secrets.token_hex(6)}"


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Event(models.TextChoices):
    RUN_COMPLETED = "run.completed"
    RUN_FAILED = "run.failed"
    RUN_CANCELLED = "run.cancelled"
    COHORT_FINISHED = "cohort.finished"


class Endpoint(models.Model):
    endpoint_id = models.CharField(max_length=16, unique=True, default=new_endpoint_id)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    events = models.JSONField(default=list, help_text="The events delivered here.")
    # Shown once, when the endpoint is registered; deliveries are signed with it.
    secret = models.CharField(max_length=80, default=new_secret)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The first failed attempt since the last success: failing for WEBHOOK_DISABLE_AFTER disables the endpoint.
    failing_since = models.DateTimeField(null=True, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(endpoint_id__regex=ENDPOINT_ID_RE), name="webhook_endpoint_id_format"),
        ]
        indexes = [
            # webhooks.services.emit: the workspace's endpoints still enabled.
            models.Index(fields=["workspace"], condition=Q(disabled_at=None), name="webhook_ws_enabled_idx"),
        ]

    def __str__(self):
        return f"{self.endpoint_id} {self.url}"

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None


class Delivery(models.Model):
    """One event for one endpoint: its webhook-id stays the same on every attempt, so receivers can de-duplicate."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"  # retried for WEBHOOK_RETRY_FOR, or its endpoint was disabled

    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    webhook_id = models.CharField(max_length=80)
    event = models.CharField(max_length=40, choices=Event.choices)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            # An event reaches an endpoint once, however often it is emitted (a redelivered task).
            models.UniqueConstraint(fields=["endpoint", "webhook_id"], name="webhook_delivery_unique_id"),
        ]
        indexes = [
            # webhooks.services.redispatch_overdue: the pending deliveries, oldest due first.
            models.Index(
                fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_pending_idx"
            ),
        ]

    def __str__(self):
        return f"{self.webhook_id} → {self.endpoint.endpoint_id}"


class Attempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempts")
    attempted_at = models.DateTimeField(default=timezone.now)
    status_code = models.PositiveIntegerField(null=True, blank=True, help_text="Null when no answer came.")
    duration_ms = models.PositiveIntegerField()
    response_excerpt = models.TextField(blank=True, help_text="The answer's first 1,000 characters.")
    error = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["attempted_at", "id"]

    def __str__(self):
        return f"{self.delivery.webhook_id} {self.status_code or self.error}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
