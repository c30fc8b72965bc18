"""A cohort's create (and preview) body, declared once: the API validates with it, the OpenAPI document shows it.

The change is the single replay's fields (replay.rules.ReplayFields) less those that belong to one run; it is
validated by the single replay's own parser, so a cohort accepts what a single replay accepts and nothing else.
"""

from typing import Annotated, Any, Literal

from django.conf import settings
from pydantic import ConfigDict, Field, create_model

from runs.checks.declarations import KIND_NAMES, MAX_CHECKS, Check
from runs.http.errors import BadRequest
from runs.http.input import Input, invalid, parse
from runs.listing import RunFilters
from runs.models import RUN_ID_RE, WORKFLOW_ID_RE, RunStatus

from ..rules import ReplayFields, parse_fields

# The single replay's fields a cohort's change takes: a payload, a plan version or a confirmation is one run's.
CHANGE_FIELDS = (
    "mode",
    "prompt_artifact_id",
    "content_hash",
    "model_id",
    "model_ref",
    "target_version",
    "node_mapping",
    "from_nodes",
    "tools",
)


def _field(name: str) -> tuple:
    info = ReplayFields.model_fields[name]
    annotated = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return (annotated, info.default) if not info.is_required() else (annotated, ...)


# The same annotations (and so the same validators) as ReplayFields; the cross-field rules run in parse_change.
CohortChange = create_model(  # type: ignore[call-overload]
    "CohortReplayChange",
    __base__=Input,
    __module__=__name__,
    __doc__="The one change every member is replayed with: a single replay's fields, for every member.",
    **{name: _field(name) for name in CHANGE_FIELDS},
)


class CohortFilter(RunFilters):
    """The runs list's filters (one selector: runs.listing.runs_matching), with a list of statuses and an explicit
    time range; originals only unless `lineage` says otherwise (null: originals and replays)."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    status: list[RunStatus] | None = Field(default=None, description="Any of these statuses.")  # type: ignore[assignment]
    lineage: Literal["replays", "originals"] | None = Field(
        default="originals", description="originals (the default), replays, or null for both."
    )

    def run_filters(self, workflow_id: str) -> RunFilters:
        """The list's own filters (one status or none: the list is narrowed to `status` after)."""
        values = {name: getattr(self, name) for name in RunFilters.model_fields}
        return RunFilters.model_construct(**{**values, "status": None, "workflow": workflow_id})


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise invalid("{field} is required: a name for the cohort.")
    if len(value.strip()) > 200:
        raise invalid("{field} is at most 200 characters.")
    return value.strip()


class CohortBody(Input):
    """`POST /api/v1/<slug>/cohorts` and `…/cohorts/preview`: the selection, the change, the lanes and the checks."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    workflow_id: Annotated[str, Field(pattern=WORKFLOW_ID_RE)]
    filter: CohortFilter | None = Field(default=None, description="A selection by filter; or give run_ids.")
    run_ids: Annotated[list[Annotated[str, Field(pattern=RUN_ID_RE)]], Field(min_length=1)] | None = Field(
        default=None, description="A selection by run ids; or give filter."
    )
    replay: CohortChange  # type: ignore[valid-type]
    baseline_percent: Annotated[int, Field(ge=0, le=100)] = Field(
        default=10,
        description="The share of the members also replayed as-is (at least 5, at most 50 of them); 0 for no baseline.",
    )
    canary: Annotated[int, Field(ge=0)] = Field(
        default=5, description="The members replayed first; the rest start only if none of them regressed."
    )
    checks: Annotated[list[Check], Field(max_length=MAX_CHECKS)] = Field(
        default_factory=list, description="Checks evaluated on each member's original and replay."
    )


class CancelInput(Input):
    """`POST …/cohorts/<cohort_id>/cancel`: stop admitting; with cancel_running, cancel the running replays too."""

    cancel_running: bool = Field(default=False, description="Also cancel the members' replays still running.")


class CohortChecks(Input):
    """A cohort's stored checks, parsed again by the checks' own declarations when its verdict is computed."""

    checks: list[Check]


class Selection:
    """A parsed body: the declared values and the change as the single replay's parser made it."""

    def __init__(self, body: CohortBody, change: ReplayFields, change_data: dict):
        self.body = body
        self.change = change
        self.change_data = change_data  # the change as sent, less what was not given: each member's submit reads it


def change_of(data: Any) -> dict:
    """The body's change as given (`replay`), less anything a single replay does not take: what each member's
    submit reads."""
    return {k: v for k, v in dict(data.get("replay") or {}).items() if k in CHANGE_FIELDS}


def parse_body(data: Any) -> Selection:
    """The body, or a 400 naming the field: unknown fields, the selection, the change (the single replay's parser)."""
    body = parse(CohortBody, data, union_tags=KIND_NAMES)
    body = body.model_copy(update={"name": _name(body.name)})
    if (body.filter is None) == (body.run_ids is None):
        raise BadRequest("Give either filter or run_ids: the members are selected one way.", field="filter")
    if body.filter is not None:
        for bound in ("from_", "to"):
            if getattr(body.filter, bound) is None:
                field = "filter." + bound.rstrip("_")
                raise BadRequest(f"{field} is required: a cohort's filter names an explicit time range.", field=field)
    if body.run_ids is not None and len(body.run_ids) > settings.COHORT_MAX_MEMBERS:
        raise BadRequest(
            f"run_ids names {len(body.run_ids)} runs; a cohort has at most {settings.COHORT_MAX_MEMBERS} members.",
            field="run_ids",
        )
    change_data = change_of(data)
    change = parse_fields(change_data, prefix="replay")
    return Selection(body, change, change_data)
