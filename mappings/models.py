"""Saved node mappings: how a renamed node of one workflow version maps to another's."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from runs.models import WorkflowVersion, Workspace


class NodeMapping(models.Model):
    class Visibility(models.TextChoices):
        OPERATOR = "operator", "Operator (private)"
        WORKSPACE = "workspace", "Workspace (shared)"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="node_mappings")
    source_version = models.ForeignKey(WorkflowVersion, on_delete=models.CASCADE, related_name="+")
    target_version = models.ForeignKey(WorkflowVersion, on_delete=models.CASCADE, related_name="+")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.OPERATOR)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="node_mappings")
    pair_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # One shared mapping per version pair; one private mapping per owner and pair.
            models.UniqueConstraint(
                fields=["source_version", "target_version"],
                condition=Q(visibility="workspace"),
                name="mapping_one_shared_per_pair",
            ),
            models.UniqueConstraint(
                fields=["source_version", "target_version", "owner"],
                condition=Q(visibility="operator"),
                name="mapping_one_private_per_owner_pair",
            ),
            models.CheckConstraint(
                condition=Q(visibility__in=["operator", "workspace"]), name="mapping_valid_visibility"
            ),
            models.CheckConstraint(condition=~Q(source_version=F("target_version")), name="mapping_distinct_versions"),
        ]
        indexes = [
            # Lookup when the replay dialog opens for a version pair.
            models.Index(fields=["source_version", "target_version", "visibility"], name="mapping_pair_lookup_idx"),
        ]

    def __str__(self):
        return f"{self.source_version} → v{self.target_version.number} ({self.get_visibility_display()})"

    def pairs_dict(self) -> dict[str, str]:
        return {p.source_node_id: p.target_node_id for p in self.pairs.all()}


class NodeMappingPair(models.Model):
    mapping = models.ForeignKey(NodeMapping, on_delete=models.CASCADE, related_name="pairs")
    source_node_id = models.CharField(max_length=100)
    target_node_id = models.CharField(max_length=100)

    class Meta:
        ordering = ["mapping", "source_node_id"]
        constraints = [
            models.UniqueConstraint(fields=["mapping", "source_node_id"], name="mapping_pair_unique_source"),
        ]
        indexes = [
            # Admin search by node id.
            models.Index(fields=["source_node_id"], name="mapping_pair_source_idx"),
            models.Index(fields=["target_node_id"], name="mapping_pair_target_idx"),
        ]

    def __str__(self):
        return f"{self.source_node_id} → {self.target_node_id}"


class SuggestionTally(models.Model):
    """How often operators saved a mapping pair equal to the preselected suggestion, or another (issue 32)."""

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="suggestion_tally")
    accepted = models.PositiveIntegerField(default=0)
    overridden = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "suggestion tallies"

    def __str__(self):
        return f"{self.workspace}: {self.accepted} accepted, {self.overridden} overridden"

    @property
    def precision(self) -> float | None:
        """The share of preselected targets the operators kept: the suggestions' real-world precision."""
        total = self.accepted + self.overridden
        return self.accepted / total if total else None
