"""Submitting a replay: the rules, in order, on the source run as it is under lock; then the quota and the new run.

The dialog, the JSON API and the command all call submit_replay and only translate its result.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Literal

from django.conf import settings
from django.db import connection, transaction
from django_ratelimit.core import _split_rate, get_usage

from mappings.services import UnmappedNodes, save_mapping, validate_pairs
from runs.access import member_run, target_version_of
from runs.engine.dispatch import dispatch_on_commit
from runs.engine.plan import version_plan
from runs.engine.replay_plan import ReplayPlan, Tools, build_plan
from runs.http.errors import BadRequest, Conflict, Rejected
from runs.idempotency import checked_idempotency_key, created_once, insert_run, run_with_key
from runs.models import Membership, ReplayMode, Run, Step, Workflow, WorkflowVersion
from runs.prepared import columns, hot_cursor
from runs.run_detail import run_and_workflow, run_and_workflow_sql

from .plan import NodeMappingPlan, plan_mapping
from .reads import FRESH, Reads
from .rules import (
    CONFIRM_INVOKE,
    CROSS_BOUNDARY,
    PLAN_CHANGED,
    QUOTA_EXCEEDED,
    ReplayFields,
    ReplayRejected,
    check_kept_model,
    check_member_may_replay,
    check_model,
    check_prompt,
    check_replayable,
    check_start_nodes,
    inherited_model,
    parse_fields,
    payload_size_error,
    replay_overrides,
)

# What the rules, the plan and the new run read of the locked source (its overrides: a replay keeps them); its
# other columns (its own plan, mapping, bookkeeping) are neither decoded nor sent.
SOURCE_FIELDS = (
    "run_id",
    "workspace",
    "workflow__paused",
    "version",
    "version_number",
    "status",
    "trigger_payload",
    "replay_depth",
    "overrides",
)


@dataclass
class LockedSources:
    """Source runs a caller locked in its open transaction, with the runs their Idempotency-Keys already made: a
    batch of submits (a cohort's admission tick) reads them in two queries instead of two per submit."""

    sources: dict[str, Run]
    by_key: dict[str, Run]
    reads: Reads = field(default_factory=Reads)


def _source_rows():
    return Run.objects.select_for_update(of=("self",)).select_related("workflow").only(*SOURCE_FIELDS)


@cache
def _source_columns() -> tuple[tuple, tuple]:
    """SOURCE_FIELDS as _source_rows reads them: the run's (its workflow's key among them), its workflow's."""
    on_workflow = tuple(name.split("__", 1)[1] for name in SOURCE_FIELDS if name.startswith("workflow__"))
    on_run = tuple(name for name in SOURCE_FIELDS if "__" not in name)
    return columns(Run, "r", (*on_run, "workflow")), columns(Workflow, "w", ("id", *on_workflow))


@cache
def _source_statement(vendor: str) -> str:
    lock = " FOR UPDATE OF r" if connection.features.has_select_for_update_of else ""
    return run_and_workflow_sql(*_source_columns()) + lock


def _locked_source(run_id: str) -> Run | None:
    """A submit's source row, locked as _source_rows locks it: prepared, since every submit reads one (the ORM
    compiled its query anew each time)."""
    with hot_cursor() as cursor:
        cursor.execute(_source_statement(connection.vendor), [run_id])
        row = cursor.fetchone()
    return None if row is None else run_and_workflow(row, *_source_columns())


def lock_sources(membership: Membership, keys: Mapping[str, str]) -> LockedSources:
    """Lock the source runs `keys` names ({run id: Idempotency-Key}) as submit does, in one order (no deadlock
    between two batches), and read the runs those keys made; for submit_replay(locked=...) in the same transaction."""
    assert transaction.get_connection().in_atomic_block, "the locks must outlive this call"
    sources = {run.pk: run for run in _source_rows().filter(pk__in=list(keys)).order_by("pk")}
    made = Run.objects.filter(
        workspace_id=membership.workspace_id,
        requested_by_id=membership.user_id,
        idempotency_key__in=[key for key in keys.values() if key],
    )
    return LockedSources(sources, {run.idempotency_key: run for run in made})


@dataclass
class ReplayResult:
    run: Run
    created: bool
    quota: "Quota"


def _quota_key(group, request):
    return request


@dataclass(frozen=True)
class Quota:
    """The replay quota's window as a client should read it: IETF RateLimit-Policy / RateLimit, and Retry-After."""

    limit: int
    window: int  # seconds
    remaining: int
    reset: int  # seconds until the window ends and admits one more

    def headers(self) -> dict[str, str]:
        """RateLimit-Policy and RateLimit (draft-ietf-httpapi-ratelimit-headers), as every submit answers them."""
        return {
            "RateLimit-Policy": f'"replay";q={self.limit};w={self.window}',
            "RateLimit": f'"replay";r={self.remaining};t={self.reset}',
        }

    def refusal(self) -> "ReplayRejected":
        """The quota's 429, saying when to come back: Retry-After, the seconds until the window admits one more."""
        headers = {**self.headers(), "Retry-After": str(self.reset)}
        return ReplayRejected(429, QUOTA_EXCEEDED, code="quota_exceeded", headers=headers)


def _quota(workspace_id: int, *, increment: bool) -> tuple[Quota, bool]:
    """The workspace's quota window after counting this request (`increment`), and whether it is over the limit."""
    rate = settings.REPLAY_QUOTA_RATE
    usage = get_usage(f"workspace:{workspace_id}", group="replay", key=_quota_key, rate=rate, increment=increment)
    limit, window = _split_rate(rate)
    if usage is None:  # a rate of 0: nothing is ever admitted
        return Quota(limit, window, 0, window), True
    remaining = max(0, usage["limit"] - usage["count"])
    # django-ratelimit's window still counts during its last second (time_left 0): the next opens a second later.
    return Quota(usage["limit"], window, remaining, usage["time_left"] + 1), usage["should_limit"]


def quota_now(workspace_id: int) -> Quota:
    """The window as it is, nothing counted: what the dialog shows left this minute, an idempotent retry answers."""
    return _quota(workspace_id, increment=False)[0]


def take_quota(workspace_id: int) -> Quota:
    """Counts accepted replays only: called once every other rule has passed. Over the limit, a 429 whose headers
    say when the window admits one more."""
    quota, over = _quota(workspace_id, increment=True)
    if over:
        raise quota.refusal()
    return quota


def _same_request(existing: Run, fields: ReplayFields, source: Run) -> bool:
    """A retry repeats the request; the same key with another mode, override or version is a mistake, not a retry."""
    from_nodes = list(fields.from_nodes) if fields.from_nodes is not None else None
    payload = fields.trigger_payload if fields.trigger_payload is not None else source.trigger_payload
    return (
        existing.trigger_payload == payload
        and existing.mode == fields.mode
        # A replay made before replays kept their source's changes stored the request's alone: its retry repeats it.
        and (existing.overrides or {}) in (replay_overrides(source, fields), fields.overrides())
        and (fields.target_version or source.version_number) == existing.version_number
        and (existing.replay_plan or {}).get("from_nodes") == from_nodes
        and (existing.replay_plan or {}).get("tools", Tools.LIVE) == fields.tools
    )


def _earlier_replay(source: Run, existing: Run | None, fields: Mapping) -> Run | None:
    """The replay this Idempotency-Key already made, if the request repeats it; a misuse of the key is refused."""
    if existing is None:
        return None
    if existing.replay_of_id != source.pk:
        raise BadRequest("This Idempotency-Key was already used for a replay of another run.", field="Idempotency-Key")
    if not _same_request(existing, parse_fields(fields), source):
        raise Conflict(
            "This Idempotency-Key was already used for a different replay request of this run: "
            "use a new key for a new request."
        )
    return existing


def _own_version(source: Run) -> WorkflowVersion:
    """The locked row names its version, which exists: its deletion would have to wait for our lock."""
    return WorkflowVersion(pk=source.version_id, workflow_id=source.workflow_id, number=source.version_number)


def _target_of(source: Run, number: int | None, reads: Reads) -> WorkflowVersion:
    """The locked row's own version without a query; another one through the one lookup of target versions."""
    if number in (None, source.version_number):
        return _own_version(source)
    return reads.once(("target", source.workflow_id, number), lambda: target_version_of(source, number))


@dataclass
class Preview:
    """What a replay with these fields will do, and what submit would answer now: the one object every surface reads.

    The dialog (banner, Start from, mapping section, plan panel), both plan endpoints, the command and
    submit itself read it. Filled in rule order; a refusal leaves what was known before it.
    """

    source: Run
    fields: ReplayFields | None = None
    target: WorkflowVersion | None = None
    target_nodes: tuple = ()
    mapping: NodeMappingPlan | None = None
    plan: ReplayPlan | None = None
    refusal: Rejected | None = None
    quota_left: int = 0
    start_dropped: str = ""  # the Start from node a dialog asked for that the target version has no node for

    @property
    def start_nodes(self) -> list[str]:
        """The target version's nodes, in order: what Start from offers."""
        return [n.node_id for n in self.target_nodes]

    @property
    def start_from(self) -> str:
        from_nodes = self.fields.from_nodes if self.fields else None
        return from_nodes[0] if from_nodes else ""

    @property
    def invoking(self) -> list:
        """The mutating calls this replay really sends: what the red banner names and the confirmation covers."""
        return self.plan.invoking if self.plan else []

    @property
    def mutations(self) -> Literal["dry_run", "invoke", "recorded"]:
        """invoke when a mutating call is really sent; else recorded (nothing sent at all) or dry_run."""
        if self.invoking:
            return "invoke"
        return "recorded" if self.plan is not None and self.plan.tools == Tools.RECORDED else "dry_run"

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.invoking)


def confirmation_refusal(invoking: list) -> ReplayRejected:
    """409: a replay that really sends mutating calls is submitted only with confirm_invoke, whatever the client."""
    nodes = [n.node_id for n in invoking]
    return ReplayRejected(409, CONFIRM_INVOKE, code="confirm_invoke", field="confirm_invoke", nodes=nodes)


@dataclass(frozen=True)
class StartHint:
    """The Start from node a dialog asks for when its request names none.

    `node` is a node of the version the dialog showed before (the run's own when it opens), whose node mapping was
    `shown_pairs`; a dialog that opens (`opening`) falls back to a failed run's failed node, a version change does
    not: the operator's "the first node" stays theirs.
    """

    node: str
    shown_pairs: Mapping[str, str] = field(default_factory=dict)
    opening: bool = False


def start_in_target(node: str, *, shown_pairs: Mapping[str, str], pairs: Mapping[str, str], target_ids) -> str:
    """`node` of the version shown before, in the target version: itself, else what the node mapping maps it to.

    Across two versions the run's own nodes are the common ground: a renamed node shown before is first taken back
    to the run's node it was mapped from, then forward through the target's mapping. "" when neither is a node there.
    """
    if node in target_ids:
        return node
    source_id = next((old for old, new in shown_pairs.items() if new == node), node)
    carried = pairs.get(source_id, source_id)
    return carried if carried in target_ids else ""


def still_dropped(node: str, preview: "Preview") -> bool:
    """Whether the plan may still say Start from went back to the first node because `node` has no node in the target
    version: not once the mapping the form now shows leads it to one."""
    if not node or preview.mapping is None:
        return False
    return not start_in_target(node, shown_pairs={}, pairs=preview.mapping.pairs, target_ids=preview.start_nodes)


def _start_hint(
    source: Run, parsed: ReplayFields, target_nodes: tuple, mapping: NodeMappingPlan, hint: StartHint | None
) -> tuple[ReplayFields, str]:
    """Start from when the request names none: the hinted node in the target version, else (a dialog that opens) a
    failed run's failed node; and the hinted node when it had to be dropped, for the plan to say so.

    Only a dialog passes a hint; a submit runs what its fields say.
    """
    if hint is None or parsed.from_nodes is not None:
        return parsed, ""
    ids = [n.node_id for n in target_nodes]
    start = start_in_target(hint.node, shown_pairs=hint.shown_pairs, pairs=mapping.pairs, target_ids=ids)
    if not start and hint.opening and source.status == Run.Status.FAILED:
        failed = source.steps.filter(status=Step.Status.FAILED).values_list("node_id", flat=True).first()
        start = failed if failed is not None and failed in ids else ""
    dropped = hint.node if hint.node and not start else ""  # the plan says Start from is back at the first node
    return (parsed.model_copy(update={"from_nodes": (start,)}) if start else parsed), dropped


def _check(
    source: Run,
    membership: Membership,
    fields: Mapping,
    into: Preview,
    start_hint: StartHint | None = None,
    explain: bool = True,
    reads: Reads = FRESH,
) -> None:
    """Rules 2 to 10 on the source as it is now, then the plan (and its version, when the request names one).

    Fills `into` as each part becomes known, so a refusal still leaves the target, the mapping and the plan
    it reached. An unmapped renamed node still gets a plan (what would run once mapped), beside its refusal.
    """
    check_replayable(source)
    parsed = into.fields = parse_fields(fields)
    if (too_large := payload_size_error(parsed.trigger_payload)) is not None:
        raise too_large
    into.target = target = _target_of(source, parsed.target_version, reads)
    into.target_nodes = target_nodes = version_plan(target.pk)
    into.mapping = mapping = plan_mapping(
        user=membership.user, run=source, target=target, requested=parsed.node_mapping, reads=reads
    )
    # Start from is known before any mode's refusal: the dialog shows it whatever the plan answers.
    parsed, into.start_dropped = _start_hint(source, parsed, target_nodes, mapping, start_hint)
    into.fields = parsed
    # Neither check reads the source run beyond its workspace, the same for every member of a batch.
    if parsed.mode == ReplayMode.PROMPT:
        prompt = ("prompt", target.pk, parsed.prompt_artifact_id, parsed.content_hash)
        reads.once(prompt, lambda: check_prompt(source, parsed, target_nodes))
    elif parsed.mode == ReplayMode.MODEL:
        reads.once(("model", parsed.model_ref), lambda: check_model(source, parsed.model_ref or ""))
    if kept_model := inherited_model(source, parsed):
        reads.once(("kept model", kept_model), lambda: check_kept_model(source, kept_model))
    unmapped = None
    if mapping.renamed or parsed.node_mapping:
        validate_pairs(mapping.pairs, renamed=mapping.renamed, target_ids=set(mapping.target_ids))
        if mapping.unmapped:
            unmapped = UnmappedNodes(
                source_id=source.version_id, target_id=target.pk, unmapped=mapping.unmapped, mapped=mapping.pairs
            )
    check_start_nodes(parsed, target_nodes)
    into.plan = plan = build_plan(
        source=source,
        target_version_id=target.pk,
        overrides=replay_overrides(source, parsed),
        node_mapping=mapping.pairs,
        from_nodes=parsed.from_nodes,
        workspace_allows=membership.workspace.replay_allow_mutations,
        trigger_payload=parsed.trigger_payload,
        tools=parsed.tools,
        explain=explain,
    )
    if unmapped is not None:
        raise unmapped
    if parsed.plan_version and parsed.plan_version != plan.version:
        raise ReplayRejected(409, PLAN_CHANGED, code="plan_changed", field="plan_version")


def submit_replay(
    *,
    membership: Membership,
    run_id: str,
    fields: Mapping,
    idempotency_key: str = "",
    locked: LockedSources | None = None,
) -> ReplayResult:
    """Create the replay of `run_id` and dispatch it on commit, or raise ReplayRejected (the first failing rule).

    `membership` is the caller's membership of the workspace the request names; `fields` the replay
    fields as sent (a JSON body, a form, the command's options), validated after rules 1–5. `locked`: what
    lock_sources read ahead in the caller's transaction, so the source's lock and its key's run are not read again.
    """
    # The same key may win a race the lock does not cover (SQLite has no row locks; on PostgreSQL, a replay
    # of another run): this request's transaction is rolled back and answers with the key's run.
    taken: list[Quota] = []  # the window as take_quota counted this replay: what a created replay answers
    submit = partial(_submit, membership=membership, run_id=run_id, fields=fields, locked=locked, taken=taken)
    replay, created = created_once(membership, lambda: submit(idempotency_key=idempotency_key))
    quota = taken[-1] if created and taken else quota_now(replay.workspace_id)
    return ReplayResult(replay, created=created, quota=quota)


def _submit(
    *,
    membership: Membership,
    run_id: str,
    fields: Mapping,
    idempotency_key: str,
    locked: LockedSources | None,
    taken: list["Quota"],
) -> tuple[Run, bool]:
    with transaction.atomic():
        # Lock the source run: a concurrent pause/cancel/resume or a same-key retry waits for us.
        if locked is None:
            row = _locked_source(run_id)
        else:
            row = locked.sources.get(run_id)
        source = member_run(membership, run_id, row, foreign_message=CROSS_BOUNDARY)
        check_member_may_replay(membership)
        key = checked_idempotency_key(idempotency_key)
        if key:
            existing = run_with_key(membership, key) if locked is None else locked.by_key.get(key)
            if (earlier := _earlier_replay(source, existing, fields)) is not None:
                return earlier, False
        checked = Preview(source)
        reads = FRESH if locked is None else locked.reads
        _check(source, membership, fields, checked, explain=False, reads=reads)  # the plan's contract, not its reasons
        parsed, target, mapping, plan = checked.fields, checked.target, checked.mapping, checked.plan
        assert parsed is not None and target is not None and mapping is not None and plan is not None
        if checked.needs_confirmation and not parsed.confirm_invoke:
            raise confirmation_refusal(checked.invoking)
        payload = parsed.trigger_payload if parsed.trigger_payload is not None else source.trigger_payload
        taken.append(take_quota(source.workspace_id))

        replay = Run(
            workspace_id=source.workspace_id,
            workflow_id=source.workflow_id,
            version=target,
            version_number=target.number,
            trigger_payload=payload,
            payload_edited=payload != source.trigger_payload,
            steps_total=len(checked.target_nodes),
            replay_of=source,
            replay_depth=source.replay_depth + 1,
            mode=parsed.mode,
            overrides=replay_overrides(source, parsed),
            node_mapping=mapping.pairs,
            requested_by_id=membership.user_id,
            idempotency_key=key,
            replay_plan=plan.persisted(),
            from_nodes=list(plan.from_nodes) if plan.from_nodes is not None else None,
            tools=plan.tools,
        )
        insert_run(replay)
        if parsed.save_mapping and mapping.renamed:
            save_mapping(
                user=membership.user,
                workspace=source.workspace,
                source_version=_own_version(source),
                target_version=target,
                visibility=parsed.save_mapping,
                pairs=mapping.pairs,
            )
        dispatch_on_commit(replay.pk)
    return replay, True


def preview_replay(
    *,
    membership: Membership,
    run_id: str,
    fields: Mapping,
    start_hint: StartHint | None = None,
    run: Run | None = None,
) -> Preview:
    """What submit would do now, and what it would answer, with no side effect and no quota taken.

    A missing confirmation is not a refusal here: the preview is what shows the calls to confirm. `run` is the run
    a page already looked up through the member's workspace in this request (runs.access.get_run_for_member, with
    its workflow): a dialog's change of a select is one query less.
    """
    source = (
        run
        if run is not None
        else member_run(
            membership,
            run_id,
            Run.objects.select_related("workflow").filter(pk=run_id).first(),
            foreign_message=CROSS_BOUNDARY,
        )
    )
    quota = quota_now(source.workspace_id)
    preview = Preview(source, quota_left=quota.remaining)
    try:
        check_member_may_replay(membership)
        _check(source, membership, fields, preview, start_hint)
        if preview.quota_left == 0:
            raise quota.refusal()
    except Rejected as exc:
        preview.refusal = exc
    return preview
