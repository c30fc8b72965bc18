"""The one place the replay rules live. The dialog, the JSON API and the command all call submit_replay."""

import re
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction
from django_ratelimit.core import is_ratelimited

from mappings.detection import renamed_nodes
from mappings.models import NodeMapping
from mappings.services import (
    find_saved_mapping,
    ran_node_ids,
    save_mapping,
    target_node_ids,
    validate_pairs,
)
from runs.access import CROSS_BOUNDARY, member_run
from runs.engine.dispatch import dispatch_on_commit
from runs.engine.plan import mutation_decisions, version_plan
from runs.http.errors import BadRequest, Conflict, Rejected
from runs.models import (
    CONTENT_HASH_RE,
    PROMPT_ID_RE,
    CatalogModel,
    Membership,
    Node,
    PromptArtifact,
    PromptRevision,
    Run,
    WorkflowVersion,
)

IN_FLIGHT = "Cannot replay an in-flight run"
VERSION_DELETED = "This run cannot be replayed because its source workflow version is no longer available."
WORKFLOW_PAUSED = "This workflow is paused for safety reasons. Unpause it before replaying its runs."
DEPTH_EXCEEDED = "Replay chain exceeded depth limit"
MODEL_NOT_AVAILABLE = (
    "This model is not available for this workspace. Pick an allowed model, or update the workspace policy."
)
PROVIDER_BLOCKED = "This model provider is blocked by the workspace policy. Pick a model from an allowed provider, or update the policy."
QUOTA_EXCEEDED = "Replay quota exceeded"
VIEWER_CANNOT_REPLAY = "Viewers cannot replay runs. Ask a workspace admin for the operator role."
MODES = ("as_is", "prompt", "model")
MODE_FIELDS = {"prompt": ("prompt_artifact_id", "content_hash"), "model": ("model_id", "model_ref")}
MODEL_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$"
PROVIDER_RE = r"^[a-z0-9][a-z0-9_\-]{0,49}$"


IDEMPOTENCY_KEY_RE = re.compile(r"[\x20-\x7e]*")


def unmapped_message(count: int) -> str:
    return f"{count} renamed node(s) need mapping before this cross-version replay can run."


class ReplayRejected(Rejected):
    code = "replay_rejected"


@dataclass
class ReplayRequest:
    mode: str
    prompt_artifact_id: str = ""
    content_hash: str = ""
    model_id: str = ""
    model_ref: str = ""
    target_version: int | None = None
    node_mapping: dict[str, str] = field(default_factory=dict)
    save_mapping: str = ""


def _string_field(data: dict, name: str, pattern: str, example: str) -> str:
    value = data.get(name)
    if value is None or value == "":
        raise BadRequest(f"{name} is required for this mode: expected {example}.", field=name)
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string like {example}.", field=name)
    value = value.strip()
    if not re.match(pattern, value):
        raise BadRequest(f"{name} is malformed: expected {example}.", field=name)
    return value


def parse_request(data) -> ReplayRequest:
    """Field validation: every failure names the field and the expected format."""
    if not isinstance(data, dict):
        raise BadRequest("The replay request must be a JSON object.")
    mode = data.get("mode")
    if mode not in MODES:
        raise BadRequest("mode is required: one of as_is, prompt, model.", field="mode")
    for other_mode, names in MODE_FIELDS.items():
        if other_mode != mode:
            for name in names:
                if data.get(name) not in (None, ""):
                    raise BadRequest(f"{name} is only accepted with mode {other_mode}.", field=name)
    request = ReplayRequest(mode=mode)
    if mode == "prompt":
        request.prompt_artifact_id = _string_field(
            data, "prompt_artifact_id", PROMPT_ID_RE, "prompt_ followed by 8 hex digits, like prompt_a1b2c3d4"
        )
        request.content_hash = _string_field(
            data, "content_hash", CONTENT_HASH_RE, "sha256: followed by 64 lowercase hex digits"
        )
    elif mode == "model":
        request.model_id = _string_field(data, "model_id", MODEL_ID_RE, "a model id like claude-opus-4-7")
        request.model_ref = _string_field(
            data, "model_ref", r"^[^:\s]+:[^:\s]+$", "provider:model_id, like anthropic:claude-opus-4-7"
        )
        provider, _, ref_model_id = request.model_ref.partition(":")
        if not re.match(PROVIDER_RE, provider) or ref_model_id != request.model_id:
            raise BadRequest(
                f"model_ref must be provider:model_id for model_id {request.model_id!r}, "
                f"like anthropic:{request.model_id}.",
                field="model_ref",
            )
    target = data.get("target_version")
    if target not in (None, ""):
        if isinstance(target, str) and target.isdigit():
            target = int(target)
        if not isinstance(target, int) or isinstance(target, bool) or target < 1:
            raise BadRequest(
                "target_version must be a workflow version number (a positive integer).", field="target_version"
            )
        request.target_version = target
    mapping = data.get("node_mapping")
    if mapping not in (None, ""):
        if not isinstance(mapping, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
        ):
            raise BadRequest(
                "node_mapping must be an object of {renamed node id: target node id} strings.", field="node_mapping"
            )
        if len(mapping) > settings.MAPPING_MAX_PAIRS:
            raise BadRequest(
                f"A saved mapping holds up to {settings.MAPPING_MAX_PAIRS} node pairs; node_mapping has {len(mapping)}.",
                field="node_mapping",
            )
        request.node_mapping = {k: v for k, v in mapping.items() if v}
    save = data.get("save_mapping")
    if save not in (None, "", False):
        if save not in NodeMapping.Visibility.values:
            raise BadRequest("save_mapping must be 'operator' or 'workspace'.", field="save_mapping")
        request.save_mapping = save
    return request


def replay_membership(user, run: Run, known: Membership | None = None) -> Membership:
    """Rule 1: only members of the run's own workspace (and account) who may operate.

    `known` is a membership the caller already holds (a view resolved it from the URL); it is
    used only if it is this user's membership of this run's workspace.
    """
    membership = None
    if user is not None and user.is_authenticated:
        if known is not None and known.user_id == user.pk and known.workspace_id == run.workspace_id:
            membership = known
        else:
            membership = Membership.objects.filter(user=user, workspace_id=run.workspace_id).first()
    if membership is None:
        raise ReplayRejected(403, CROSS_BOUNDARY, code="cross_boundary")
    if not membership.can_operate:
        raise ReplayRejected(403, VIEWER_CANNOT_REPLAY, code="forbidden")
    return membership


def check_replayable(run: Run) -> None:
    """Rules 2–5, on the run as it is now: in flight, deleted version, paused workflow, depth."""
    if run.status in Run.IN_FLIGHT_STATUSES:
        raise ReplayRejected(409, IN_FLIGHT, code="in_flight")
    if run.version_id is None:
        raise ReplayRejected(409, VERSION_DELETED, code="version_deleted")
    if run.workflow.paused:
        raise ReplayRejected(409, WORKFLOW_PAUSED, code="workflow_paused")
    if run.replay_depth + 1 > settings.REPLAY_MAX_DEPTH:
        raise ReplayRejected(429, DEPTH_EXCEEDED, code="depth_exceeded")


def resolve_target_version(run: Run, number: int | None) -> WorkflowVersion:
    if number is None or number == run.version_number:
        return run.version
    version = WorkflowVersion.objects.filter(workflow_id=run.workflow_id, number=number).first()
    if version is None:
        raise ReplayRejected(
            404, f"target_version {number} does not exist for this workflow.", code="not_found", field="target_version"
        )
    return version


def check_prompt(run: Run, request: ReplayRequest, target_nodes: list[Node]) -> None:
    artifact = PromptArtifact.objects.filter(
        workspace_id=run.workspace_id, artifact_id=request.prompt_artifact_id
    ).first()
    if artifact is None:
        raise ReplayRejected(
            404,
            f"Prompt artifact {request.prompt_artifact_id} was not found in this workspace.",
            code="not_found",
            field="prompt_artifact_id",
        )
    if not PromptRevision.objects.filter(artifact=artifact, content_hash=request.content_hash).exists():
        raise ReplayRejected(
            404,
            f"Content hash {request.content_hash} is not a revision of prompt artifact {artifact.artifact_id}.",
            code="not_found",
            field="content_hash",
        )
    if not any(n.type == "llm" and n.config["prompt"]["artifact_id"] == artifact.artifact_id for n in target_nodes):
        raise ReplayRejected(
            422,
            f"Prompt artifact {artifact.artifact_id} is not used by any llm node of the target workflow version.",
            code="artifact_unused",
            field="prompt_artifact_id",
        )


def check_model(run: Run, request: ReplayRequest) -> None:
    model = CatalogModel.objects.filter(model_ref=request.model_ref).first()
    if model is None:
        raise ReplayRejected(
            404, f"Model {request.model_ref} is not in the model catalog.", code="not_found", field="model_ref"
        )
    if not run.workspace.model_is_available(model):
        raise ReplayRejected(403, MODEL_NOT_AVAILABLE, code="model_not_available", field="model_ref")
    if not run.workspace.provider_is_allowed(model.provider):
        raise ReplayRejected(403, PROVIDER_BLOCKED, code="provider_blocked", field="model_ref")


@dataclass
class NodeMappingPlan:
    renamed: list[str]
    target_ids: list[str]
    saved: NodeMapping | None
    pairs: dict[str, str]

    @property
    def unmapped(self) -> list[str]:
        return [n for n in self.renamed if n not in self.pairs]


def plan_mapping(
    *, user, run: Run, target: WorkflowVersion, requested: dict[str, str] | None = None
) -> NodeMappingPlan:
    """Renamed nodes, the saved mapping that applies, and the pairs in effect (request over saved)."""
    if target.pk == run.version_id:
        return NodeMappingPlan([], [], None, {})
    target_ids = target_node_ids(target)
    renamed = renamed_nodes(ran_node_ids(run), set(target_ids))
    saved = (
        find_saved_mapping(user=user, source_version_id=run.version_id, target_version_id=target.pk)
        if renamed
        else None
    )
    pairs: dict[str, str] = {}
    if saved is not None:
        target_set = set(target_ids)
        pairs = {s: t for s, t in saved.pairs_dict().items() if s in renamed and t in target_set}
    pairs.update(requested or {})
    return NodeMappingPlan(renamed, target_ids, saved, pairs)


@dataclass
class MutationPlan:
    mutations: str  # "dry_run" | "invoke"
    invoking_nodes: list[dict]
    dry_run_nodes: list[str]

    @property
    def invokes(self) -> bool:
        return self.mutations == "invoke"


def mutation_plan(*, workspace, target: WorkflowVersion) -> MutationPlan:
    """Which mutating tool calls a replay on `target` will really invoke: the executor's own rule."""
    decisions = mutation_decisions(version_plan(target.pk), workspace_allows=workspace.replay_allow_mutations)
    invoking = [{"node_id": d.node_id, "tool": d.tool, "reason": d.reason} for d in decisions if d.invoke]
    dry = [d.node_id for d in decisions if not d.invoke]
    return MutationPlan("invoke" if invoking else "dry_run", invoking, dry)


def _quota_key(group, request):
    return request


def take_quota(workspace_id: int) -> None:
    """Counts accepted replays only: called once every other rule has passed."""
    if is_ratelimited(
        f"workspace:{workspace_id}", group="replay", key=_quota_key, rate=settings.REPLAY_QUOTA_RATE, increment=True
    ):
        raise ReplayRejected(429, QUOTA_EXCEEDED, code="quota_exceeded")


def _overrides_of(parsed: ReplayRequest) -> dict:
    if parsed.mode == "prompt":
        return {"prompt": {"artifact_id": parsed.prompt_artifact_id, "content_hash": parsed.content_hash}}
    if parsed.mode == "model":
        return {"model": {"model_id": parsed.model_id, "model_ref": parsed.model_ref}}
    return {}


def _same_request(existing: Run, parsed: ReplayRequest, source: Run) -> bool:
    """A retry repeats the request; the same key with another mode, override or version is a mistake, not a retry."""
    return (
        existing.mode == parsed.mode
        and (existing.overrides or {}) == _overrides_of(parsed)
        and (parsed.target_version or source.version_number) == existing.version_number
    )


@dataclass
class ReplayResult:
    run: Run
    created: bool


def submit_replay(
    *, user, run: Run | str, request, idempotency_key: str = "", membership: Membership | None = None
) -> ReplayResult:
    """Create the replay run and dispatch it on commit, or raise ReplayRejected (first failing rule answers).

    Only `run`'s primary key and workspace are read: the rules are checked on the row as it is
    under lock. `run` may also be a run id with the caller's `membership` (the API): the run is
    then found under that lock, 404 when unknown and 403 when it belongs to another workspace.
    """
    by_id = isinstance(run, str)
    if by_id and membership is None:
        raise TypeError("submit_replay by run id needs the caller's membership")
    member = None if by_id else replay_membership(user, run, membership)
    workspace_known = by_id or member is membership  # the caller's membership, its workspace already loaded
    with transaction.atomic():
        # Lock the source run: a concurrent pause/cancel/resume or a same-key retry waits for us.
        locked = Run.objects.select_for_update(of=("self",)).select_related(
            "workflow", *(() if workspace_known else ("workspace__account",))
        )
        if by_id:
            source = member_run(membership, run, locked.filter(pk=run).first())
            member = replay_membership(user, source, membership)
        else:
            source = locked.get(pk=run.pk)
        if workspace_known:
            source.workspace = member.workspace
        idempotency_key = (idempotency_key or "").strip()
        if len(idempotency_key) > 200 or not IDEMPOTENCY_KEY_RE.fullmatch(idempotency_key):
            raise BadRequest("Idempotency-Key is at most 200 printable ASCII characters.", field="Idempotency-Key")
        if idempotency_key:
            existing = Run.objects.filter(
                workspace_id=source.workspace_id, requested_by=user, idempotency_key=idempotency_key
            ).first()
            if existing is not None:
                if existing.replay_of_id != source.pk:
                    raise BadRequest(
                        "This Idempotency-Key was already used for a replay of another run.", field="Idempotency-Key"
                    )
                if not _same_request(existing, parse_request(request), source):
                    raise Conflict(
                        "This Idempotency-Key was already used for a different replay request of this run: "
                        "use a new key for a new request."
                    )
                return ReplayResult(existing, created=False)
        check_replayable(source)
        parsed = parse_request(request)
        if parsed.target_version in (None, source.version_number):
            # The locked row names its version (which exists: its deletion would have to wait for our lock).
            target = WorkflowVersion(pk=source.version_id, workflow_id=source.workflow_id, number=source.version_number)
        else:
            target = resolve_target_version(source, parsed.target_version)
        target_nodes = version_plan(target.pk)
        if parsed.mode == "prompt":
            check_prompt(source, parsed, target_nodes)
        elif parsed.mode == "model":
            check_model(source, parsed)
        mapping = plan_mapping(user=user, run=source, target=target, requested=parsed.node_mapping)
        if mapping.renamed or parsed.node_mapping:
            validate_pairs(mapping.pairs, renamed=mapping.renamed, target_ids=set(mapping.target_ids))
            if mapping.unmapped:
                raise ReplayRejected(
                    422, unmapped_message(len(mapping.unmapped)), code="unmapped_nodes", field="node_mapping"
                )
        take_quota(source.workspace_id)

        replay = Run(
            workspace_id=source.workspace_id,
            workflow_id=source.workflow_id,
            version=target,
            version_number=target.number,
            trigger_payload=source.trigger_payload,
            steps_total=len(target_nodes),
            replay_of=source,
            replay_depth=source.replay_depth + 1,
            mode=parsed.mode,
            overrides=_overrides_of(parsed),
            node_mapping=mapping.pairs,
            requested_by=user,
            idempotency_key=idempotency_key,
        )
        try:
            if idempotency_key:  # only a key can collide: a savepoint to answer the race below
                with transaction.atomic():
                    replay.save(force_insert=True)
            else:
                replay.save(force_insert=True)
        except IntegrityError:
            # The same key won a race on a database without row locks (SQLite): answer with its run.
            existing = Run.objects.filter(
                workspace_id=source.workspace_id, requested_by=user, idempotency_key=idempotency_key
            ).first()
            if idempotency_key and existing is not None:
                return ReplayResult(existing, created=False)
            raise
        if parsed.save_mapping and mapping.renamed:
            save_mapping(
                user=user,
                workspace=source.workspace,
                source_version=source.version,
                target_version=target,
                visibility=parsed.save_mapping,
                pairs=mapping.pairs,
            )
        dispatch_on_commit(replay.pk)
    return ReplayResult(replay, created=True)
