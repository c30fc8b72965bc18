"""The cohorts API's answers, declared once: the views build them, the OpenAPI document is generated from them."""

from datetime import datetime

from pydantic import Field

from runs.checks.declarations import Check
from runs.http.openapi import Closed

from ..shapes import PreflightPlan
from .models import CohortStatus, Lane, MemberStatus


class CohortCreated(Closed):
    cohort_id: str


class CohortPreview(Closed):
    """What create would make now; nothing is created and no quota is taken."""

    members: int = Field(description="Source runs selected: one candidate member each.")
    baseline: int = Field(description="Members also replayed as-is in the baseline lane.")
    ineligible: dict[str, int] = Field(
        description="Members a single replay would refuse now, by refusal code: they will be skipped with it."
    )
    plan: PreflightPlan = Field(description="The first eligible member's plan, as a single replay's preview.")
    estimated_cost_usd: list[str] | None = Field(
        description="[low, high]: the plan's own per-run estimate for each replay; null when a cost is unknown."
    )
    eta_seconds: int = Field(
        description="Admission at the cohorts' share of the replay quota (what this window has left, then a window's"
        " share at a time), then a typical run."
    )


class Counts(Closed):
    """Members by status; the values add up to `total` and only move forward."""

    total: int
    pending: int
    admitted: int
    completed: int
    failed: int
    skipped: int
    cancelled: int


class ChangedOutputs(Closed):
    candidate: list[int] = Field(description="[members whose output changed, members with a finished replay]")
    baseline: list[int] = Field(description="The same for the as-is baseline lane: the noise floor.")


class NodeVerdict(Closed):
    node_id: str
    changed: int
    of: int
    new_errors: int


class CheckVerdict(Closed):
    check: Check
    passed: list[int] = Field(description="[originals that pass, replays that pass]")
    of: int = Field(description="Candidates judged: both runs finished.")
    judged: list[int] | None = Field(
        None,
        description="[originals, replays] where the check gave pass or fail: n/a (a check against the original, on"
        " the original; a node the run did not run) is no failure and is in neither. Null in a verdict kept before it"
        " was counted (its rates are over `of`).",
    )
    interval: list[list[float]] = Field(
        description="The 95 % Wilson interval of each pass rate (passed over judged): [[low, high], [low, high]]."
    )
    regressed: list[str] = Field(description="Source runs whose replay fails the check where the original passed.")


class CaseToInspect(Closed):
    source_run_id: str
    run_id: str
    why: str


class Verdict(Closed):
    """Members whose replay is missing or unfinished are in no n: never counted as same or passed."""

    changed_outputs: ChangedOutputs
    regressions: int = Field(
        description="Candidates worse than their original: the replay failed where the original completed, or fails"
        " a check the original passed (as the compare page counts a regression)."
    )
    fixes: int = Field(description="Candidates whose original failed and whose replay completed.")
    compared_nodes: bool = Field(
        False,
        description="True: cost, tokens and latency count the nodes both runs of each pair ran (reused nodes left"
        " out on both sides); false for a verdict kept before they did, which counted whole runs.",
    )
    cost_usd: list[str | None] = Field(description="[originals, replays]")
    latency_ms_p50: list[int | None]
    latency_ms_p95: list[int | None]
    input_tokens: list[int | None]
    output_tokens: list[int | None]
    nodes: list[NodeVerdict]
    checks: list[CheckVerdict]
    inspect: list[CaseToInspect] = Field(description="Regressions first, then the largest cost or latency change.")


class CohortSummary(Closed):
    cohort_id: str
    name: str
    status: CohortStatus
    workflow_id: str
    created_by: str | None
    created_at: datetime
    finished_at: datetime | None
    counts: Counts


class Cohort(CohortSummary):
    stop_reason: str
    selection: dict = Field(
        description='How create selected the members: {"filter": {...}} (its `filter`, without the workflow) or'
        ' {"run_ids": [...]} (its `run_ids`). The members are frozen at create: `…/members` lists them.'
    )
    change: dict = Field(description="Create's `replay` as it was sent: the one change every member is replayed with.")
    baseline_percent: int
    canary: int
    checks: list[Check] = Field(description="The checks its verdict evaluates, as they were declared at create.")
    baseline_counts: Counts
    verdict: Verdict


class CohortList(Closed):
    """A page of cohorts, newest first; pass `next` as `cursor` for the older page (null: there is none)."""

    cohorts: list[CohortSummary]
    next: str | None


class Reason(Closed):
    code: str
    message: str


class Member(Closed):
    source_run_id: str
    run_id: str | None = Field(description="The member's replay; null until it is admitted.")
    lane: Lane
    status: MemberStatus
    reason: Reason | None = Field(description="Why it was skipped, cancelled or stopped.")
    changed: bool | None = Field(
        description="Its replay's outputs differ from its original's, as the compare page says; null until the"
        " cohort's verdict is kept, and for a member whose replay did not finish."
    )
    regression: bool | None = Field(
        description="Its replay failed where its original completed, or fails a check its original passed; null as"
        " `changed` is."
    )


class MemberPage(Closed):
    members: list[Member]
    next: str | None
