"""The description of the cohorts API, beside its URLs in config/urls.py."""

from runs.http.openapi import SAME_WORKSPACE, Link, Operation
from runs.idempotency import KEY_REUSED

from ..openapi import IDEMPOTENCY_KEY, REPLAY_CODES, _one_of
from ..rules import DEPTH_EXCEEDED, IN_FLIGHT, VERSION_DELETED, WORKFLOW_PAUSED
from . import api, shapes
from .inputs import CancelInput, CohortBody
from .reading import CSV_COLUMNS, CohortListQuery, MemberQuery
from .selection import NO_MATCH
from .services import ALREADY_FINISHED, COHORT_OF_ANOTHER_WORKSPACE, TOO_MANY_RUNNING

TAG = "Replay cohorts"
NOT_FOUND = {404: "No such cohort.", 403: COHORT_OF_ANOTHER_WORKSPACE}
REFUSALS = {
    400: f"A field is missing, malformed or unknown (`error.field` names it); “{NO_MATCH}”; more members than "
    "COHORT_MAX_MEMBERS (the message says how many matched); run_ids naming runs of another workflow or workspace.",
    403: "Viewers cannot create cohorts; or the single replay refuses the change for every member (its 403).",
    404: "The workflow, or what the change names (prompt, revision, model, version), is unknown.",
    409: "The single replay refuses every member: "
    + _one_of(IN_FLIGHT, VERSION_DELETED, WORKFLOW_PAUSED, "a replay that invokes mutating calls"),
    422: "The single replay refuses the change for every member (an unused prompt, unmapped renamed nodes…).",
}

# A cohort answers the refusal its every member gets from the single replay: never the quota's or a stale plan's,
# nor cross_boundary (members are the workspace's own runs: another's are a 400). Create also answers a reused key's.
REFUSAL_CODES = {
    403: tuple(c for c in REPLAY_CODES[403] if c != "cross_boundary"),
    409: tuple(c for c in REPLAY_CODES[409] if c not in ("plan_changed", "conflict")),
    422: REPLAY_CODES[422],
}
CREATE_REFUSALS = {**REFUSALS, 409: REFUSALS[409] + f"; or “{KEY_REUSED}”"}

OPERATIONS = [
    Operation(
        api.cohorts,
        "POST",
        "createCohort",
        "Replay a selection of runs with one change",
        TAG,
        status=201,
        body=CohortBody,
        headers=(IDEMPOTENCY_KEY,),
        response=shapes.CohortCreated,
        also={200: "A retry with the same Idempotency-Key: the cohort it made."},
        description="The members are frozen now; a tick admits them within the cohorts' share of the replay quota.",
        errors={**CREATE_REFUSALS, 429: _one_of(TOO_MANY_RUNNING, DEPTH_EXCEEDED)},
        codes={**REFUSAL_CODES, 409: (*REFUSAL_CODES[409], "conflict"), 429: ("cohorts_running", "depth_exceeded")},
    ),
    Operation(
        api.cohorts,
        "GET",
        "listCohorts",
        "The workspace's cohorts, newest first",
        TAG,
        query=CohortListQuery,
        response=shapes.CohortList,
        errors={400: "cursor or limit is malformed."},
    ),
    Operation(
        api.preview,
        "POST",
        "previewCohort",
        "What creating this cohort would do: members, ineligible ones, the plan, cost and ETA",
        TAG,
        body=CohortBody,
        response=shapes.CohortPreview,
        errors={**REFUSALS, 429: DEPTH_EXCEEDED},
        codes={**REFUSAL_CODES, 429: ("depth_exceeded",)},
    ),
    Operation(
        api.detail,
        "GET",
        "getCohort",
        "A cohort: status, counts and verdict",
        TAG,
        response=shapes.Cohort,
        errors=NOT_FOUND,
    ),
    Operation(
        api.members,
        "GET",
        "listCohortMembers",
        "A cohort's members, in order",
        TAG,
        query=MemberQuery,
        response=shapes.MemberPage,
        errors={**NOT_FOUND, 400: "cursor, limit, lane or status is malformed."},
    ),
    Operation(
        api.cancel,
        "POST",
        "cancelCohort",
        "Stop admitting members; optionally cancel the running replays",
        TAG,
        body=CancelInput,
        body_required=False,
        response=shapes.Cohort,
        errors={**NOT_FOUND, 409: ALREADY_FINISHED},
    ),
    Operation(
        api.export_jsonl,
        "GET",
        "exportCohortMembersJsonl",
        "Every member of a cohort as JSON Lines",
        TAG,
        response=shapes.Member,
        media_type=api.JSONL,
        errors=NOT_FOUND,
    ),
    Operation(
        api.export_csv,
        "GET",
        "exportCohortMembersCsv",
        f"Every member of a cohort as CSV ({', '.join(CSV_COLUMNS)})",
        TAG,
        media_type="text/csv",
        errors=NOT_FOUND,
    ),
]

COHORT = {**SAME_WORKSPACE, "path.cohort_id": "$response.body#/cohort_id"}
LINKS = [
    Link("createCohort", "getCohort", COHORT),
    Link("createCohort", "listCohortMembers", COHORT),
    Link("createCohort", "cancelCohort", COHORT),
]
