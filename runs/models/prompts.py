"""Prompt artifacts and their content-addressed revisions."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .accounts import Workspace
from .ids import CONTENT_HASH_RE, PROMPT_ID_RE, content_hash_of, new_prompt_id


class PromptArtifact(models.Model):
    artifact_id = models.CharField(max_length=15, unique=True, default=new_prompt_id)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="prompt_artifacts")
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(artifact_id__regex=PROMPT_ID_RE), name="prompt_artifact_id_format"),
        ]
        indexes = [
            # GET /api/v1/<slug>/prompts (runs.listing.keyset_range): a keyset range of (created_at, artifact_id).
            models.Index(fields=["workspace", "-created_at", "-artifact_id"], name="prompt_ws_recent_idx"),
        ]

    def __str__(self):
        return f"{self.artifact_id} ({self.name})"


class PromptRevision(models.Model):
    artifact = models.ForeignKey(PromptArtifact, on_delete=models.CASCADE, related_name="revisions")
    content = models.TextField()
    content_hash = models.CharField(max_length=71)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["artifact", "content_hash"], name="prompt_revision_unique_hash"),
            models.CheckConstraint(
                condition=Q(content_hash__regex=CONTENT_HASH_RE), name="prompt_revision_hash_format"
            ),
        ]

    def __str__(self):
        return self.content_hash

    def save(self, *args, **kwargs):
        if not self.content_hash:
            self.content_hash = content_hash_of(self.content)
        self.clean()
        super().save(*args, **kwargs)

    def clean(self):
        if self.content_hash and self.content_hash != content_hash_of(self.content):
            raise ValidationError({"content_hash": "content_hash does not match the SHA-256 of the content."})
