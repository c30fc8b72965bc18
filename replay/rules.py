"""The replay rules table: its messages, the declared replay fields, and each check, in the order they answer."""

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Self

from django.conf import settings
from pydantic import BeforeValidator, StringConstraints, model_validator

from mappings.models import NodeMapping
from mappings.services import check_pair_count
from runs.engine.plan import PlannedNode
from runs.engine.replay_plan import Tools
from runs.http.errors import Rejected
from runs.http.input import Input, VersionNumber, invalid, parse, parse_json
from runs.models import (
    CONTENT_HASH_RE,
    PROMPT_ID_RE,
    CatalogModel,
    Membership,
    Node,
    PromptArtifact,
    PromptRevision,
    ReplayMode,
    Run,
)

CROSS_BOUNDARY = "You can only replay runs that belong to your own workspace and account."
VIEWER_CANNOT_REPLAY = "Viewers cannot replay runs. Ask a workspace admin for the operator role."
IN_FLIGHT = "Cannot replay an in-flight run"
VERSION_DELETED = "This run cannot be replayed because its source workflow version is no longer available."
WORKFLOW_PAUSED = "This workflow is paused for safety reasons. Unpause it before replaying its runs."
DEPTH_EXCEEDED = "Replay chain exceeded depth limit"
MODEL_NOT_AVAILABLE = (
    "This model is not available for this workspace. Pick an allowed model, or update the workspace policy."
)
PROVIDER_BLOCKED = "This model provider is blocked by the workspace policy. Pick a model from an allowed provider, or update the policy."
QUOTA_EXCEEDED = "Replay quota exceeded"
PLAN_CHANGED = "The replay plan changed since it was shown; review it again."
CONFIRM_INVOKE = "This replay invokes mutating tool calls: confirm it to submit."
MAX_START_NODES = 1000

MODEL_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$"
PROVIDER_RE = r"^[a-z0-9][a-z0-9_\-]{0,49}$"
MODEL_REF_RE = r"^[^:\s]+:[^:\s]+$"
EXAMPLES = {
    "prompt_artifact_id": "prompt_ followed by 8 hex digits, like prompt_a1b2c3d4",
    "content_hash": "sha256: followed by 64 lowercase hex digits",
    "model_id": "a model id like claude-opus-4-7",
    "model_ref": "provider:model_id, like anthropic:claude-opus-4-7",
}
MODE_FIELDS = {
    ReplayMode.PROMPT: ("prompt_artifact_id", "content_hash"),
    ReplayMode.MODEL: ("model_id", "model_ref"),
}


class ReplayRejected(Rejected):
    code = "replay_rejected"


def _identifier(pattern: str, example: str) -> BeforeValidator:
    def check(value: Any) -> str | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise invalid(f"{{field}} must be a string like {example}.")
        value = value.strip()
        if not re.match(pattern, value):
            raise invalid(f"{{field}} is malformed: expected {example}.")
        return value

    return BeforeValidator(check, json_schema_input_type=Annotated[str, StringConstraints(pattern=pattern)] | None)


def _mode(value: Any) -> str:
    if value not in ReplayMode.values:
        raise invalid(f"{{field}} is required: one of {', '.join(ReplayMode.values)}.")
    return value


def _node_mapping(value: Any) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise invalid("{field} must be an object of {renamed node id: target node id} strings.")
    check_pair_count(len(value), field="node_mapping")
    return {k: v for k, v in value.items() if v}


def _from_nodes(value: Any) -> tuple[str, ...] | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise invalid("{field} must be a list of node ids of the target version.")
    if len(value) > MAX_START_NODES:
        raise invalid(f"{{field}} names at most {MAX_START_NODES} start nodes.")
    return tuple(dict.fromkeys(value))


def _plan_version(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"plan_[0-9a-f]{16}", value):
        raise invalid("{field} must be a plan_version as the replay plan answered it, like plan_0123456789abcdef.")
    return value


def _trigger_payload(value: Any) -> dict | None:
    """An edited payload: a JSON object, or (from the dialog's editor) the text of one."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = parse_json(value, field="trigger_payload")  # the guards of a JSON body, its 400 naming the field
    if not isinstance(value, dict):
        raise invalid("{field} must be a JSON object, as the trigger accepts.")
    return value


def _tools(value: Any) -> Tools:
    if value is None or value == "":
        return Tools.LIVE
    if value not in Tools:
        raise invalid(f"{{field}} must be one of {', '.join(Tools)}.")
    return Tools(value)


def _confirmation(value: Any) -> bool:
    """A JSON boolean, or the dialog's checkbox ("1", "on", "true" when ticked; absent or "" when not)."""
    if value in (None, "", False):
        return False
    if value is True or (isinstance(value, str) and value.lower() in ("1", "on", "true")):
        return True
    raise invalid("{field} must be true or false.")


def payload_size_error(payload: dict | None) -> ReplayRejected | None:
    """413 when the edited payload is larger than REPLAY_PAYLOAD_MAX_BYTES."""
    if payload is None:
        return None
    size = len(json.dumps(payload, separators=(",", ":")).encode())
    if size <= settings.REPLAY_PAYLOAD_MAX_BYTES:
        return None
    return ReplayRejected(
        413,
        f"trigger_payload is at most {settings.REPLAY_PAYLOAD_MAX_BYTES} bytes of JSON; this one is {size}.",
        code="too_large",
        field="trigger_payload",
    )


def _save_mapping(value: Any) -> str | None:
    if value in (None, "", False):
        return None
    if value not in NodeMapping.Visibility.values:
        raise invalid("{field} must be 'operator' or 'workspace'.")
    return value


class ReplayFields(Input):
    """A replay request's fields, as the API body, the dialog form and the command send them."""

    mode: Annotated[str, BeforeValidator(_mode, json_schema_input_type=ReplayMode)]
    prompt_artifact_id: Annotated[str | None, _identifier(PROMPT_ID_RE, EXAMPLES["prompt_artifact_id"])] = None
    content_hash: Annotated[str | None, _identifier(CONTENT_HASH_RE, EXAMPLES["content_hash"])] = None
    model_id: Annotated[str | None, _identifier(MODEL_ID_RE, EXAMPLES["model_id"])] = None
    model_ref: Annotated[str | None, _identifier(MODEL_REF_RE, EXAMPLES["model_ref"])] = None
    target_version: VersionNumber = None
    node_mapping: Annotated[dict[str, str], BeforeValidator(_node_mapping)] = {}
    save_mapping: Annotated[
        str | None, BeforeValidator(_save_mapping, json_schema_input_type=NodeMapping.Visibility | None)
    ] = None
    from_nodes: Annotated[
        tuple[str, ...] | None, BeforeValidator(_from_nodes, json_schema_input_type=list[str] | None)
    ] = None
    plan_version: Annotated[str | None, BeforeValidator(_plan_version, json_schema_input_type=str | None)] = None
    trigger_payload: Annotated[dict | None, BeforeValidator(_trigger_payload, json_schema_input_type=dict | None)] = (
        None
    )
    # "recorded": every tool call that runs is answered from the source run's recording, and none is sent.
    tools: Annotated[Tools, BeforeValidator(_tools, json_schema_input_type=Tools)] = Tools.LIVE
    # Required (true) when the plan really invokes a mutating call: the red banner's checkbox, the API's field.
    confirm_invoke: Annotated[bool, BeforeValidator(_confirmation, json_schema_input_type=bool)] = False

    @model_validator(mode="after")
    def fields_of_the_mode(self) -> Self:
        for other_mode, names in MODE_FIELDS.items():
            for name in names:
                given = getattr(self, name) is not None
                if other_mode != self.mode and given:
                    raise invalid(f"{name} is only accepted with mode {other_mode}.", field=name)
                if other_mode == self.mode and not given:
                    raise invalid(f"{name} is required for this mode: expected {EXAMPLES[name]}.", field=name)
        if self.mode == ReplayMode.MODEL:
            provider, _, ref_model_id = (self.model_ref or "").partition(":")
            if not re.match(PROVIDER_RE, provider) or ref_model_id != self.model_id:
                raise invalid(
                    f"model_ref must be provider:model_id for model_id {self.model_id!r}, like anthropic:{self.model_id}.",
                    field="model_ref",
                )
        return self

    def overrides(self) -> dict:
        """What the replay changes, as recorded on the new run and read by the executor."""
        if self.mode == ReplayMode.PROMPT:
            return {"prompt": {"artifact_id": self.prompt_artifact_id, "content_hash": self.content_hash}}
        if self.mode == ReplayMode.MODEL:
            return {"model": {"model_id": self.model_id, "model_ref": self.model_ref}}
        return {}


def check_member_may_replay(membership: Membership) -> None:
    """Rule 1's second half: a member who is only a viewer may look, not replay."""
    if not membership.can_operate:
        raise ReplayRejected(403, VIEWER_CANNOT_REPLAY, code="forbidden")


def membership_for_replay(user, workspace_id: int) -> Membership:
    """Rule 1 for a caller who names a run, not a workspace (the command): their membership of its workspace."""
    membership = None
    if user is not None and user.is_authenticated:
        membership = (
            Membership.objects.select_related("workspace__account").filter(user=user, workspace_id=workspace_id).first()
        )
    if membership is None:
        raise ReplayRejected(403, CROSS_BOUNDARY, code="cross_boundary")
    membership.user = user
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


def check_prompt(run: Run, fields: ReplayFields, target_nodes: tuple[PlannedNode, ...]) -> None:
    artifact = PromptArtifact.objects.filter(
        workspace_id=run.workspace_id, artifact_id=fields.prompt_artifact_id
    ).first()
    if artifact is None:
        raise ReplayRejected(
            404,
            f"Prompt artifact {fields.prompt_artifact_id} was not found in this workspace.",
            code="not_found",
            field="prompt_artifact_id",
        )
    if not PromptRevision.objects.filter(artifact=artifact, content_hash=fields.content_hash).exists():
        raise ReplayRejected(
            404,
            f"Content hash {fields.content_hash} is not a revision of prompt artifact {artifact.artifact_id}.",
            code="not_found",
            field="content_hash",
        )
    if not any(
        n.type == Node.Type.LLM and n.config["prompt"]["artifact_id"] == artifact.artifact_id for n in target_nodes
    ):
        raise ReplayRejected(
            422,
            f"Prompt artifact {artifact.artifact_id} is not used by any llm node of the target workflow version.",
            code="artifact_unused",
            field="prompt_artifact_id",
        )


def replay_overrides(source: Run, fields: ReplayFields) -> dict:
    """What the new run changes against its version: the source run's own changes, then this request's, which
    replaces one of its kind. A replay re-executes the run as it ran: as-is of a prompt replay keeps that prompt."""
    return {**(source.overrides or {}), **fields.overrides()}


def model_change_of(overrides: dict | None) -> str:
    """The model a run's own changes name ("" for none): what a replay of it keeps."""
    return ((overrides or {}).get("model") or {}).get("model_ref", "")


def inherited_model(source: Run, fields: ReplayFields) -> str:
    """The model a replay keeps from its source run's own model change ("" when it has none or this request
    changes the model): checked against the allowlists as a model the request names."""
    return "" if fields.mode == ReplayMode.MODEL else model_change_of(source.overrides)


def kept_model_refusal(model_ref: str, refusal: ReplayRejected) -> ReplayRejected:
    """The refusal of a model the run keeps from its source (no field of this request names it): said so."""
    message = f"This run was replayed with {model_ref}, which this replay keeps: {refusal.message}"
    return ReplayRejected(refusal.status, message, code=refusal.code, field="mode")


def check_kept_model(run: Run, model_ref: str) -> None:
    """check_model for the model a replay keeps from its source's own change."""
    try:
        check_model(run, model_ref)
    except ReplayRejected as exc:
        raise kept_model_refusal(model_ref, exc) from None


def check_model(run: Run, model_ref: str) -> None:
    model = CatalogModel.objects.filter(model_ref=model_ref).first()
    if model is None:
        raise ReplayRejected(
            404, f"Model {model_ref} is not in the model catalog.", code="not_found", field="model_ref"
        )
    if not run.workspace.model_is_available(model):
        raise ReplayRejected(403, MODEL_NOT_AVAILABLE, code="model_not_available", field="model_ref")
    if not run.workspace.provider_is_allowed(model.provider):
        raise ReplayRejected(403, PROVIDER_BLOCKED, code="provider_blocked", field="model_ref")


def parse_fields(data: Mapping, *, prefix: str = "") -> ReplayFields:
    """Rule 6: the fields for the mode, each failure naming the field and the expected format.

    `prefix`: where the fields sit in a larger body (a cohort's `replay`), named in the error.
    """
    return parse(ReplayFields, data, prefix=prefix)


def check_start_nodes(fields: ReplayFields, target_nodes: tuple[PlannedNode, ...]) -> None:
    """Each start node must be a node of the target version: 422 naming the ones that are not."""
    known = {n.node_id for n in target_nodes}
    unknown = [n for n in fields.from_nodes or () if n not in known]
    if unknown:
        raise ReplayRejected(
            422,
            f"from_nodes: {', '.join(repr(n) for n in unknown)} is not a node of the target workflow version.",
            code="unknown_start_node",
            field="from_nodes",
        )
