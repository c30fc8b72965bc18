"""Workflows, their immutable versions and the nodes of each version."""

from django.db import models
from django.db.models import Q
from django.utils import timezone

from runs.http.input import MAX_VERSION_NUMBER

from .accounts import Workspace
from .ids import WORKFLOW_ID_RE, new_workflow_id


class Workflow(models.Model):
    workflow_id = models.CharField(max_length=11, unique=True, default=new_workflow_id)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=200)
    paused = models.BooleanField(default=False, help_text="Paused for safety: rejects replays until unpaused.")
    paused_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(workflow_id__regex=WORKFLOW_ID_RE), name="workflow_id_format"),
        ]
        indexes = [
            # GET /api/v1/<slug>/workflows (runs.listing.keyset_range): a keyset range of (created_at, workflow_id).
            models.Index(fields=["workspace", "-created_at", "-workflow_id"], name="workflow_ws_recent_idx"),
        ]

    def __str__(self):
        return f"{self.name} ({self.workflow_id})"


class WorkflowVersion(models.Model):
    """An immutable graph of nodes. Deleting it leaves its runs with a null version."""

    # PositiveIntegerField's range on every database: a larger number names no version (and would not fit a query).
    MAX_NUMBER = MAX_VERSION_NUMBER

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["workflow", "number"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="workflow_version_unique_number"),
            models.CheckConstraint(condition=Q(number__gte=1), name="workflow_version_number_positive"),
        ]

    def __str__(self):
        return f"{self.workflow.name} v{self.number}"


class NodeType(models.TextChoices):
    LLM = "llm", "LLM call"
    TOOL = "tool", "Tool call"


class Node(models.Model):
    Type = NodeType

    version = models.ForeignKey(WorkflowVersion, on_delete=models.CASCADE, related_name="nodes")
    node_id = models.CharField(max_length=100)
    type = models.CharField(max_length=4, choices=Type.choices)
    position = models.PositiveIntegerField(default=0)
    # llm: {"prompt": {"artifact_id", "content_hash"}, "model": "provider:model_id"}
    # tool: {"tool": "messages.send", "args": {...}}
    config = models.JSONField(default=dict)
    after = models.JSONField(default=list)
    policies = models.JSONField(default=dict)

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "node_id"], name="node_unique_id_per_version"),
            models.CheckConstraint(condition=Q(type__in=NodeType.values), name="node_valid_type"),
        ]

    def __str__(self):
        return self.node_id

    @property
    def replay_allow_mutations(self) -> bool | None:
        """The node's own policies.replay.allowMutations, or None when it has none."""
        value = (self.policies or {}).get("replay", {}).get("allowMutations")
        return value if isinstance(value, bool) else None

    def as_spec(self) -> dict:
        spec = {"id": self.node_id, "type": self.type, "after": list(self.after)}
        if self.type == self.Type.LLM:
            spec["prompt"] = self.config.get("prompt")
            spec["model"] = self.config.get("model")
            spec.update(self.config.get("options", {}))  # system, temperature, top_p, stop, max_tokens as declared
        else:
            spec["tool"] = self.config.get("tool")
            spec["args"] = self.config.get("args", {})
        if self.policies:
            spec["policies"] = self.policies
        return spec
