"""Runs, the steps they record and the tool calls of those steps."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .accounts import Workspace
from .ids import RUN_ID_RE, new_run_id
from .workflows import NodeType, Workflow, WorkflowVersion


class RunStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class RunMode(models.TextChoices):
    """How a run came to be; the labels are the Replay dialog's, from the product page."""

    ORIGINAL = "", "Original"
    AS_IS = "as_is", "Replay as-is"
    PROMPT = "prompt", "Replay with new prompt"
    MODEL = "model", "Replay with new model"


class ReplayMode(models.TextChoices):
    """The modes a replay request may ask for: RunMode without ORIGINAL."""

    AS_IS = RunMode.AS_IS.value, RunMode.AS_IS.label
    PROMPT = RunMode.PROMPT.value, RunMode.PROMPT.label
    MODEL = RunMode.MODEL.value, RunMode.MODEL.label


class StepStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"


def tools_choices() -> list[tuple[str, str]]:
    """A replay's tool calls (runs.engine.replay_plan.Tools owns the values): read when Django needs the choices."""
    from runs.engine.replay_plan import Tools

    return [(tools.value, tools.value) for tools in Tools]


# Beside Run as well as on it: Run.Meta's index condition cannot see Run's own attributes.
FINAL_RUN_STATUSES = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class Run(models.Model):
    Status = RunStatus
    Mode = RunMode

    FINAL_STATUSES = FINAL_RUN_STATUSES
    IN_FLIGHT_STATUSES = (Status.PENDING, Status.RUNNING, Status.PAUSED)
    # The lineage of a replay whose source was deleted (retention): the trace, compare and the API all say this.
    SOURCE_GONE = "Replay of a run that no longer exists"

    run_id = models.CharField(primary_key=True, max_length=36, default=new_run_id)
    # No index of its own: every index of Meta.indexes but one leads with it.
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="runs", db_index=False)
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    version = models.ForeignKey(WorkflowVersion, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs")
    version_number = models.PositiveIntegerField(help_text="Kept when the version itself is deleted.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    trigger_payload = models.JSONField(default=dict, blank=True)
    payload_edited = models.BooleanField(default=False, help_text="A replay whose trigger payload was edited.")
    steps_total = models.PositiveIntegerField(default=0)
    # Kept by the step boundary (and the copy of reused steps) in the commit that records each completed step,
    # so a list shows progress without counting a run's steps.
    steps_completed = models.PositiveIntegerField(default=0)
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
    # Indexed by run_replays_of_idx (replay_of, -created_at), which serves every lookup of a run's replays.
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays", db_index=False
    )
    replay_depth = models.PositiveSmallIntegerField(default=0)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.ORIGINAL, blank=True)
    overrides = models.JSONField(default=dict, blank=True)
    node_mapping = models.JSONField(default=dict, blank=True, help_text="{source node id: target node id}")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True)
    # The OTLP push (runs.tasks.export_run_trace) claims a finished run here before sending its trace, so a second
    # message for the run sends nothing; set back to null only when every attempt failed.
    trace_exported_at = models.DateTimeField(null=True, blank=True)
    # The replay plan the executor follows: {"version", "from_nodes", "nodes": {node id: {action, disposition, reused_from}}}.
    replay_plan = models.JSONField(default=dict, blank=True)
    # The replay's choices the pages and the API show, beside the plan: a list of runs never reads the plan (an entry
    # per node), and these are what it shows. Written with the plan by submit.
    from_nodes = models.JSONField(null=True, blank=True, help_text="The start nodes of a rerun from a step.")
    tools = models.CharField(max_length=10, choices=tools_choices, default="live", db_default="live")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(run_id__regex=RUN_ID_RE), name="run_id_format"),
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values),
                name="run_valid_status",
            ),
            models.CheckConstraint(condition=Q(replay_depth__gte=0), name="run_replay_depth_non_negative"),
            models.CheckConstraint(condition=Q(mode__in=RunMode.values), name="run_valid_mode"),
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
            # runs.listing.page_query, unfiltered or by time range or originals only (the runs list, the
            # monitoring list, GET /api/v1/<slug>/runs): a keyset range of (created_at, run_id) per workspace.
            models.Index(fields=["workspace", "-created_at", "-run_id"], name="run_ws_recent_idx"),
            # runs.listing.page_query with a status filter (alone or with time, lineage, prefix).
            models.Index(fields=["workspace", "status", "-created_at", "-run_id"], name="run_ws_status_recent_idx"),
            # runs.listing.page_query with a workflow filter (alone or with lineage, time, prefix).
            models.Index(fields=["workspace", "workflow", "-created_at", "-run_id"], name="run_ws_workflow_recent_idx"),
            # runs.listing.page_query with a workflow and a status, the triage question ("failed runs of this
            # workflow"): without it the planner intersects both indexes' ranges, which grow with the history.
            models.Index(
                fields=["workspace", "workflow", "status", "-created_at", "-run_id"],
                name="run_ws_workflow_status_idx",
            ),
            # runs.listing.page_query, replays only: the replays alone, however few among the originals.
            models.Index(
                fields=["workspace", "-created_at", "-run_id"],
                condition=Q(replay_depth__gt=0),
                name="run_ws_replays_recent_idx",
            ),
            # A run id prefix (LIKE 'run_8f%') needs no index here: the primary key's varchar_pattern_ops index,
            # which Django creates on PostgreSQL for a CharField key, serves a long one, run_ws_recent_idx a short one.
            # Lineage on the trace viewer: replays of a run.
            models.Index(fields=["replay_of", "-created_at"], name="run_replays_of_idx"),
            # The sweep: stale pending/running runs.
            models.Index(fields=["status", "heartbeat_at"], name="run_status_heartbeat_idx"),
            # Retention (runs/retention.py, prune_runs): the oldest finished runs, by finished_at.
            models.Index(fields=["finished_at"], condition=Q(status__in=FINAL_RUN_STATUSES), name="run_prune_idx"),
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
    def is_moving(self) -> bool:
        """Pending or running: it changes without anyone acting (a paused run waits for a person)."""
        return self.status in (Run.Status.PENDING, Run.Status.RUNNING)

    @property
    def changes(self) -> dict[str, str]:
        """The run's own changes against its version, by kind, as pages name them: what a replay of it keeps."""
        overrides = self.overrides or {}
        found = {}
        if prompt := overrides.get("prompt"):
            digest = prompt.get("content_hash", "")
            found["prompt"] = f"{prompt.get('artifact_id', '')} @ {digest[:18]}{'…' if len(digest) > 18 else ''}"
        if model := overrides.get("model"):
            found["model"] = model.get("model_ref", "")
        return found

    @property
    def replay_choices(self) -> list[str]:
        """What a replay chose beyond its mode, as every page words it: start nodes, an edited payload, a change
        kept from its source (a model replay of a prompt replay runs that prompt), tool calls."""
        if not self.is_replay:
            return []
        choices = [f"from {', '.join(self.from_nodes)}"] if self.from_nodes else []
        if self.payload_edited:
            choices.append("payload edited")
        choices += [f"kept {kind} {name}" for kind, name in self.changes.items() if kind != self.mode]
        return [*choices, f"{self.tools} tool calls"]

    @property
    def source_is_gone(self) -> bool:
        """A replay whose source run was deleted (pruned): `replay_of` was set to null."""
        return self.replay_depth > 0 and self.replay_of_id is None

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    @property
    def duration_ms(self) -> int | None:
        d = self.duration
        return int(d.total_seconds() * 1000) if d is not None else None


FINISH_REASON_MAX = 40  # longer than any stop or finish reason a provider documents


class Step(models.Model):
    Status = StepStatus

    # Indexed by step_run_position_idx and step_unique_node_per_run, both led by the run.
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps", db_index=False)
    node_id = models.CharField(max_length=100)
    type = models.CharField(max_length=4, choices=NodeType.choices)
    position = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    input = models.JSONField(default=dict, blank=True)
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    model_ref = models.CharField(max_length=160, blank=True)
    prompt_hash = models.CharField(max_length=71, blank=True)
    # The prompt artifact the LLM step ran a revision of: what a replay with a new revision names.
    prompt_artifact_id = models.CharField(max_length=15, blank=True, db_default="")
    simulated = models.BooleanField(default=False)
    mapped_from = models.CharField(max_length=100, blank=True, help_text="The original run's node id, when renamed.")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Usage of an LLM step, from the provider's answer; null where the provider did not say.
    input_tokens = models.PositiveIntegerField(
        null=True, blank=True, help_text="Total, cache reads and writes included."
    )
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cache_read_tokens = models.PositiveIntegerField(null=True, blank=True)
    cache_write_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    raw_usage = models.JSONField(null=True, blank=True, help_text="The usage object as the provider sent it.")
    cost_usd = models.DecimalField(
        max_digits=20, decimal_places=12, null=True, blank=True, help_text="Null when the price is unknown, never 0."
    )
    price_version = models.CharField(max_length=40, blank=True, help_text="The price data the cost was computed with.")
    latency_ms = models.PositiveIntegerField(null=True, blank=True, help_text="The provider call, retries included.")
    # Why the model stopped, in the provider's own word (Anthropic's stop_reason, OpenAI's finish_reason); empty
    # when unknown (the simulator, a reused step). A database default: the step boundary's insert does not name it.
    finish_reason = models.CharField(max_length=FINISH_REASON_MAX, blank=True, db_default="")
    # A reused step copies the output of the step that first produced it, in the run and node named here.
    # Database defaults: the step boundary's plain SQL inserts steps without naming these columns.
    reused_from_run_id = models.CharField(max_length=36, blank=True, db_default="")
    reused_from_node_id = models.CharField(max_length=100, blank=True, db_default="")

    USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            # No node is ever recorded twice in one run, whatever redelivery happens.
            models.UniqueConstraint(fields=["run", "node_id"], name="step_unique_node_per_run"),
            models.CheckConstraint(condition=Q(status__in=StepStatus.values), name="step_valid_status"),
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
    class Source(models.TextChoices):
        """Where the call's result came from: sent, dry-run, answered from a recording, or copied with its step."""

        LIVE = "live"
        DRY_RUN = "dry_run"
        RECORDED = "recorded"
        REUSED = "reused"

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="tool_calls")
    tool = models.CharField(max_length=100)
    mutating = models.BooleanField()
    dry_run = models.BooleanField(default=False)
    reused = models.BooleanField(db_default=False, help_text="Copied from the step it was reused from; not sent again.")
    source = models.CharField(max_length=10, choices=Source, db_default=Source.LIVE)
    # The run whose call was recorded live (or dry-run), for a recorded call: what the trace names.
    recorded_in_run_id = models.CharField(max_length=36, blank=True, db_default="")
    arguments = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(dry_run=False) | Q(mutating=True), name="toolcall_only_mutating_dry_run"
            ),
        ]

    def __str__(self):
        return f"{self.tool}{' (dry run)' if self.dry_run else ''}"
