"""What mutating tools really did: the side effects a dry-run protects."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .accounts import Workspace
from .runs import Run


class OutboxMessage(models.Model):
    """What messages.send really sent: the observable side effect dry-run protects."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="outbox")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="outbox")
    node_id = models.CharField(max_length=100)
    to = models.CharField(max_length=300)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "node_id"], name="outbox_one_message_per_run_node"),
        ]

    def __str__(self):
        return f"to {self.to} ({self.run_id}/{self.node_id})"


class Record(models.Model):
    """A business record: records.create writes one, records.lookup reads them."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField(max_length=100)
    key = models.CharField(max_length=200)
    data = models.JSONField(default=dict)
    run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="records")
    node_id = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "kind", "key"], name="record_unique_key"),
            models.UniqueConstraint(
                fields=["run", "node_id"], condition=Q(run__isnull=False), name="record_one_per_run_node"
            ),
        ]

    def __str__(self):
        return f"{self.kind}:{self.key}"
