"""The description of the replay API: its operations, beside the URLs in config/urls.py, and what they answer.

The statuses and their descriptions come from the rules table (replay.rules), in the order the rules answer.
"""

from mappings.services import unmapped_message
from runs.http.input import QueryInput, VersionNumber
from runs.http.openapi import SAME_WORKSPACE, Link, Operation
from runs.idempotency import IDEMPOTENCY_KEY

from . import api
from .policy import PolicyInput
from .rules import (
    CROSS_BOUNDARY,
    DEPTH_EXCEEDED,
    IN_FLIGHT,
    MODEL_NOT_AVAILABLE,
    PROVIDER_BLOCKED,
    QUOTA_EXCEEDED,
    VERSION_DELETED,
    VIEWER_CANNOT_REPLAY,
    WORKFLOW_PAUSED,
    ReplayFields,
)
from .shapes import Policy, PreflightPlan, ReplayCreated, ReplayPlan

TAG = "Replay"


def _one_of(*messages: str) -> str:
    return "One of: " + "; ".join(f"“{m}”" for m in messages)


# The `error.code`s a replay's refusals answer, by status: submit's, and a cohort's (it answers its members' refusal).
REPLAY_CODES = {
    403: ("forbidden", "cross_boundary", "model_not_available", "provider_blocked"),
    409: ("in_flight", "version_deleted", "workflow_paused", "plan_changed", "confirm_invoke", "conflict"),
    422: (
        "artifact_unused",
        "unmapped_nodes",
        "not_renamed",
        "unknown_target",
        "duplicate_target",
        "unknown_start_node",
    ),
    429: ("depth_exceeded", "quota_exceeded"),
}


class PlanQuery(QueryInput):
    target_version: VersionNumber = None


OPERATIONS = [
    Operation(
        api.submit,
        "POST",
        "submitReplay",
        "Replay a finished run",
        TAG,
        status=201,
        body=ReplayFields,
        headers=(IDEMPOTENCY_KEY,),
        response=ReplayCreated,
        also={200: "A retry with the same Idempotency-Key: the run it made."},
        codes=REPLAY_CODES,
        description="The rules answer in the order of the rules table; the first that fails answers. Every 200 and "
        '201 carries the replay quota as `RateLimit-Policy: "replay";q=<limit>;w=<seconds>` and '
        '`RateLimit: "replay";r=<left>;t=<seconds until the window resets>`.',
        errors={
            400: "A field is missing or malformed for the mode: `error.field` names it and the message the expected format; or the Idempotency-Key is malformed or was used for another run.",
            403: _one_of(CROSS_BOUNDARY, VIEWER_CANNOT_REPLAY, MODEL_NOT_AVAILABLE, PROVIDER_BLOCKED),
            404: "The run, the prompt artifact or revision, the target version or the model is unknown: the message names it.",
            409: _one_of(
                IN_FLIGHT, VERSION_DELETED, WORKFLOW_PAUSED, "the Idempotency-Key was used for a different request"
            ),
            422: "The prompt artifact is unused by the target version, or a node mapping pair is invalid, or "
            f"renamed nodes are not all mapped: “{unmapped_message(0).replace('0', 'N', 1)}” with "
            "`error.nodes` and `error.suggestions`: each unmapped node with its suggested targets.",
            429: _one_of(DEPTH_EXCEEDED, QUOTA_EXCEEDED)
            + f". “{QUOTA_EXCEEDED}” carries `Retry-After` (seconds until the window admits one more) and the IETF "
            "`RateLimit-Policy` / `RateLimit` fields; "
            f"“{DEPTH_EXCEEDED}” carries none: waiting does not help, replay the original run instead.",
        },
    ),
    Operation(
        api.replay_plan,
        "GET",
        "getReplayPlan",
        "What a replay on a target version will do",
        TAG,
        query=PlanQuery,
        response=ReplayPlan,
        errors={
            400: "target_version is not a version number, or the run's version was deleted.",
            404: "No such run, or no such target version.",
        },
    ),
    Operation(
        api.replay_plan,
        "POST",
        "previewReplayPlan",
        "The plan a replay with this body would follow, and what submit would answer",
        TAG,
        body=ReplayFields,
        response=PreflightPlan,
        description="Send the plan_version it answers with the submit: a plan that changed meanwhile is refused 409.",
        errors={404: "No such run.", 403: CROSS_BOUNDARY},
    ),
    Operation(api.policy, "GET", "getPolicy", "The workspace's replay policy", TAG, response=Policy),
    Operation(
        api.policy,
        "PUT",
        "updatePolicy",
        "Change the workspace's replay policy (admins)",
        TAG,
        body=PolicyInput,
        response=Policy,
        description="Only the fields the body names change.",
    ),
]

RUN = {**SAME_WORKSPACE, "path.run_id": "$response.body#/run_id"}
AS_IS = {"mode": "as_is"}

LINKS = [
    # A triggered run is in flight (409) until it finishes; a cancelled one can be replayed.
    Link("triggerRun", "submitReplay", RUN, body=AS_IS),
    Link("cancelRun", "submitReplay", RUN, body=AS_IS),
    Link("getRun", "submitReplay", RUN, body=AS_IS),
    Link("getRun", "getReplayPlan", RUN),
    Link("submitReplay", "getRun", RUN),
    Link("submitReplay", "getReplayPlan", RUN),
    Link("submitReplay", "cancelRun", RUN),
]
