"""What exists: accounts, workspaces, prompts, workflows and the runs they produce."""

import hashlib
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.functions import Concat
from django.utils import timezone

RUN_ID_RE = r"^run_[0-9a-f]{8,32}$"
PROMPT_ID_RE = r"^prompt_[0-9a-f]{8}$"
CONTENT_HASH_RE = r"^sha256:[0-9a-f]{64}$"
WORKFLOW_ID_RE = r"^wf_[0-9a-f]{8}$"


def new_run_id() -> str:
    return f"run_{secrets.token_hex(6)}"


def new_prompt_id() -> str:
    return f"prompt_{secrets.token_hex(4)}"


def new_workflow_id() -> str:
    return f"wf_{secrets.token_hex(4)}"


def content_hash_of(content: str) -> str:
    return "sha256:" + hashlib.sha256(content.encode("utf-8")).hexdigest()


class Account(models.Model):
    """An organisation. Its model allowlist bounds every workspace's."""

    name = models.CharField(max_length=200, unique=True)
    allowed_models = models.JSONField(null=True, blank=True, help_text="Model refs; empty = no restriction.")

    def __str__(self):
        return self.name


class Workspace(models.Model):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="workspaces")
    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=200)
    # Policy. null = no restriction.
    allowed_models = models.JSONField(null=True, blank=True, help_text="Model refs; empty = no restriction.")
    allowed_providers = models.JSONField(null=True, blank=True, help_text="Providers; empty = no restriction.")
    replay_allow_mutations = models.BooleanField(
        default=False, help_text="policies.replay.allowMutations for every node without its own policy."
    )

    def __str__(self):
        return self.slug

    def model_is_available(self, model: "CatalogModel") -> bool:
        if model.retired:
            return False
        for allowlist in (self.account.allowed_models, self.allowed_models):
            if allowlist is not None and model.model_ref not in allowlist:
                return False
        return True

    def provider_is_allowed(self, provider: str) -> bool:
        return self.allowed_providers is None or provider in self.allowed_providers

    def policy_dict(self) -> dict:
        return {
            "allowed_models": self.allowed_models,
            "allowed_providers": self.allowed_providers,
            "replay_allow_mutations": self.replay_allow_mutations,
        }


class Membership(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        OPERATOR = "operator", "Operator"
        ADMIN = "admin", "Admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.OPERATOR)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="membership_unique_user_workspace"),
            models.CheckConstraint(condition=Q(role__in=["viewer", "operator", "admin"]), name="membership_valid_role"),
        ]

    def __str__(self):
        return f"{self.user} @ {self.workspace} ({self.role})"

    @property
    def can_operate(self) -> bool:
        return self.role in (self.Role.OPERATOR, self.Role.ADMIN)

    @property
    def is_admin(self) -> bool:
        return self.role == self.Role.ADMIN


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8")).hexdigest()

    @classmethod
    def issue(cls, user, name: str = "") -> tuple["ApiToken", str]:
        token = "rp_" + secrets.token_urlsafe(32)
        row = cls.objects.create(user=user, name=name, prefix=token[:10], token_hash=cls.hash(token))
        return row, token


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


class PromptArtifact(models.Model):
    artifact_id = models.CharField(max_length=15, unique=True, default=new_prompt_id)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="prompt_artifacts")
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(artifact_id__regex=PROMPT_ID_RE), name="prompt_artifact_id_format"),
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
            models.CheckConstraint(condition=Q(content_hash__regex=CONTENT_HASH_RE), name="prompt_revision_hash_format"),
        ]

    def __str__(self):
        return self.content_hash

    def clean(self):
        if self.content_hash and self.content_hash != content_hash_of(self.content):
            raise ValidationError({"content_hash": "content_hash does not match the SHA-256 of the content."})

    def save(self, *args, **kwargs):
        if not self.content_hash:
            self.content_hash = content_hash_of(self.content)
        self.clean()
        super().save(*args, **kwargs)


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

    def __str__(self):
        return f"{self.name} ({self.workflow_id})"


class WorkflowVersion(models.Model):
    """An immutable graph of nodes. Deleting it leaves its runs with a null version."""

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


class Node(models.Model):
    class Type(models.TextChoices):
        LLM = "llm", "LLM call"
        TOOL = "tool", "Tool call"

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
            models.CheckConstraint(condition=Q(type__in=["llm", "tool"]), name="node_valid_type"),
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
        else:
            spec["tool"] = self.config.get("tool")
            spec["args"] = self.config.get("args", {})
        if self.policies:
            spec["policies"] = self.policies
        return spec


class Run(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Mode(models.TextChoices):
        ORIGINAL = "", "Original"
        AS_IS = "as_is", "Replay as-is"
        PROMPT = "prompt", "Replay with new prompt"
        MODEL = "model", "Replay with new model"

    FINAL_STATUSES = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)
    IN_FLIGHT_STATUSES = (Status.PENDING, Status.RUNNING, Status.PAUSED)

    run_id = models.CharField(primary_key=True, max_length=36, default=new_run_id)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="runs")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(WorkflowVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs")
    version_number = models.PositiveIntegerField(help_text="Kept when the version itself is deleted.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    trigger_payload = models.JSONField(default=dict, blank=True)
    steps_total = models.PositiveIntegerField(default=0)
    simulated = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    # Execution bookkeeping: who holds the run, and whether they are alive.
    lease = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    # Lineage (replays only).
    replay_of = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays")
    replay_depth = models.PositiveSmallIntegerField(default=0)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.ORIGINAL, blank=True)
    overrides = models.JSONField(default=dict, blank=True)
    node_mapping = models.JSONField(default=dict, blank=True, help_text="{source node id: target node id}")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(run_id__regex=RUN_ID_RE), name="run_id_format"),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "running", "paused", "completed", "failed", "cancelled"]),
                name="run_valid_status",
            ),
            models.CheckConstraint(condition=Q(replay_depth__gte=0), name="run_replay_depth_non_negative"),
            models.CheckConstraint(
                condition=Q(mode__in=["", "as_is", "prompt", "model"]), name="run_valid_mode"
            ),
            models.CheckConstraint(
                condition=Q(mode="", replay_depth=0) | (~Q(mode="") & Q(replay_depth__gte=1)),
                name="run_replay_mode_matches_depth",
            ),
            # A retried submit with the same Idempotency-Key finds the run it created.
            models.UniqueConstraint(
                fields=["workspace", "requested_by", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="run_unique_idempotency_key",
            ),
        ]
        indexes = [
            # Runs list and monitoring: runs of a workspace by recency.
            models.Index(fields=["workspace", "-created_at"], name="run_workspace_recent_idx"),
            # Lineage on the trace viewer: replays of a run.
            models.Index(fields=["replay_of", "-created_at"], name="run_replays_of_idx"),
            # The sweep: stale pending/running runs.
            models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat_idx"),
        ]

    def __str__(self):
        return self.run_id

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINAL_STATUSES

    @property
    def is_replay(self) -> bool:
        return self.replay_depth > 0

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def duration_ms(self) -> int | None:
        d = self.duration
        return int(d.total_seconds() * 1000) if d is not None else None


class Step(models.Model):
    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    node_id = models.CharField(max_length=100)
    type = models.CharField(max_length=4, choices=Node.Type.choices)
    position = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    input = models.JSONField(default=dict, blank=True)
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    model_ref = models.CharField(max_length=160, blank=True)
    prompt_hash = models.CharField(max_length=71, blank=True)
    simulated = models.BooleanField(default=False)
    mapped_from = models.CharField(max_length=100, blank=True, help_text="The original run's node id, when renamed.")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            # No node is ever recorded twice in one run, whatever redelivery happens.
            models.UniqueConstraint(fields=["run", "node_id"], name="step_unique_node_per_run"),
            models.CheckConstraint(condition=Q(status__in=["running", "completed", "failed"]), name="step_valid_status"),
        ]
        indexes = [
            # The trace viewer pages through a run's steps by position: an index range scan, not a sort of them all.
            models.Index(fields=["run", "position"], name="step_run_position_idx"),
        ]

    def __str__(self):
        return f"{self.run_id}/{self.node_id}"

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at:
            return int((self.finished_at - self.started_at).total_seconds() * 1000)
        return None


class ToolCall(models.Model):
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="tool_calls")
    tool = models.CharField(max_length=100)
    mutating = models.BooleanField()
    dry_run = models.BooleanField(default=False)
    arguments = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(dry_run=False) | Q(mutating=True), name="toolcall_only_mutating_dry_run"),
        ]

    def __str__(self):
        return f"{self.tool}{' (dry run)' if self.dry_run else ''}"


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
