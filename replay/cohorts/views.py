"""The cohort pages: the list, the new-cohort form with its preview ("Replay these…" of the runs list), and a
cohort's page, live while it runs. Thin: the services and readers of replay.cohorts do the work."""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from runs.compare import Pair
from runs.http.errors import Rejected
from runs.http.web import workspace_view
from runs.models import Membership, ReplayMode, Role, Run, Workflow

from ..presenters import plan_rows
from .models import ACTIVE_STATUSES, Cohort, Lane, MemberStatus
from .reading import cohort_dict, page_of_cohorts
from .services import cancel_cohort, cohort_for_member, create_cohort, eta_seconds, preview_cohort
from .verdict import finished_pairs, verdict_of

MEMBER_FILTERS = ("changed", "regressed", "failed", "skipped")
MEMBERS_SHOWN = 500
CHANGE_FIELDS = ("mode", "prompt_artifact_id", "content_hash", "model_id", "model_ref", "target_version", "tools")


def _context(membership: Membership, **values) -> dict:
    return {"workspace": membership.workspace, "membership": membership, "section": "cohorts", **values}


@workspace_view()
def cohort_list(request, membership):
    rows, following = page_of_cohorts(membership.workspace, request.GET.get("cursor") or None, 50)
    return render(request, "replay/cohorts/list.html", _context(membership, cohorts=rows, next=following))


def form_body(post) -> dict:
    """The new-cohort form as the API's body: the same parser validates both. The runs ticked in the runs list
    (run_ids) are the selection when there are any; else the filter."""
    statuses = [s for s in post.getlist("status") if s]
    replay = {k: post.get(k, "") for k in CHANGE_FIELDS}
    ticked = [run_id for run_id in post.getlist("run_ids") if run_id]
    selection: dict = (
        {"run_ids": ticked}
        if ticked
        else {
            "filter": {
                "status": statuses or None,
                "from": post.get("from", ""),
                "to": post.get("to", ""),
                "lineage": None if post.get("lineage") == "all" else post.get("lineage") or "originals",
            }
        }
    )
    return {
        "name": post.get("name", ""),
        "workflow_id": post.get("workflow_id", ""),
        **selection,
        "replay": replay,
        "baseline_percent": post.get("baseline_percent", "10"),
        "canary": post.get("canary", "5"),
    }


DEFAULT_RANGE = timedelta(days=7)
LOCAL_INPUT = "%Y-%m-%dT%H:%M:%S"  # what <input type="datetime-local" step="1"> holds; the form's times are UTC


def _with_default_range(query):
    """A list opened without a time range proposes the last seven days: a cohort's filter names its range."""
    if query.get("from") and query.get("to"):
        return query
    values, now = query.copy(), timezone.now()
    values.setdefault("from", (now - DEFAULT_RANGE).strftime(LOCAL_INPUT))
    values.setdefault("to", (now + timedelta(minutes=1)).strftime(LOCAL_INPUT))
    return values


@workspace_view(methods=("GET", "POST"), role=Role.OPERATOR)
def cohort_new(request, membership):
    """The cohort dialog: GET is opened by "Replay these…" with the runs ticked in the list (run) or, none ticked,
    its filters; POST creates."""
    values = request.POST if request.method == "POST" else _with_default_range(request.GET)
    ticked = [run_id for run_id in values.getlist("run_ids" if request.method == "POST" else "run") if run_id]
    context = _context(
        membership,
        values=values,
        ticked=ticked,
        workflow_id=values.get("workflow_id") or values.get("workflow") or _workflow_of(membership, ticked),
        statuses=Run.Status.choices,
        chosen_statuses=values.getlist("status"),
        workflows=Workflow.objects.filter(workspace=membership.workspace).order_by("name"),
        modes=ReplayMode.choices,
    )
    if request.method == "POST":
        try:
            cohort, _ = create_cohort(membership=membership, data=form_body(request.POST))
        except Rejected as exc:
            return render(request, "replay/cohorts/new.html", {**context, "error": exc}, status=exc.status)
        return HttpResponseRedirect(reverse("cohort-detail", args=[membership.workspace.slug, cohort.pk]))
    return render(request, "replay/cohorts/new.html", context)


def _workflow_of(membership: Membership, ticked: list[str]) -> str:
    """The workflow of the first ticked run of this workspace, chosen in the form ("" when none is known)."""
    if not ticked:
        return ""
    found = Run.objects.filter(workspace=membership.workspace, pk=ticked[0]).values_list(
        "workflow__workflow_id", flat=True
    )
    return found.first() or ""


@workspace_view(methods=("POST",), role=Role.OPERATOR)
def cohort_preview(request, membership):
    """The form's preview panel (htmx): what create would make now."""
    try:
        found = preview_cohort(membership=membership, data=form_body(request.POST))
    except Rejected as exc:
        return render(request, "replay/cohorts/_preview.html", {"error": exc})
    plan = found.preview.plan
    context = {"found": found, "cost": found.estimated_cost_usd, "plan_rows": plan_rows(plan.nodes) if plan else ""}
    return render(request, "replay/cohorts/_preview.html", context)


def _members(cohort: Cohort, show: str, pairs) -> list[dict]:
    """The member table: a finished cohort's flags were kept with its verdict; a running one's come from `pairs`."""
    rows = cohort.members.order_by("-lane", "position")  # candidates first
    if show == "failed":
        rows = rows.filter(status=MemberStatus.FAILED)
    elif show == "skipped":
        rows = rows.filter(status=MemberStatus.SKIPPED)
    elif show in ("changed", "regressed") and pairs is None:
        rows = rows.filter(lane=Lane.CANDIDATE, **({"changed": True} if show == "changed" else {"regression": True}))
    elif show in ("changed", "regressed"):
        flag = "changed" if show == "changed" else "regression"
        wanted = [p.source_run_id for p in pairs if p.lane == Lane.CANDIDATE and getattr(p, flag)]
        rows = rows.filter(lane=Lane.CANDIDATE, source_run_id__in=wanted)
    values = rows.values(
        "source_run_id", "child_run_id", "lane", "status", "reason_code", "reason_message", "changed", "regression"
    )[:MEMBERS_SHOWN]
    if pairs is None:
        return [dict(row) for row in values]
    by_source = {(p.source_run_id, p.lane): p for p in pairs}
    shown = []
    for row in values:
        pair = by_source.get((row["source_run_id"], row["lane"]))
        shown.append(
            {**row, "changed": pair.changed if pair else None, "regression": pair.regression if pair else False}
        )
    return shown


FIGURES = ("cost_usd", "latency_ms_p50", "latency_ms_p95", "input_tokens", "output_tokens")


def _deltas(verdict: dict) -> dict[str, str]:
    """Each run-level figure's change, replay against original, as the compare page words it (+12 %)."""
    found = {}
    for name in FIGURES:
        a, b = verdict[name]
        percent = Pair(Decimal(str(a)), Decimal(str(b))).percent if a is not None and b is not None else None
        found[name] = f"{percent:+.0f} %" if percent is not None else "—"
    return found


def _segments(counts: dict) -> list[tuple[str, float, float]]:
    """The progress bar's segments (status, x, width) in percent of the members: SVG, no inline style (CSP)."""
    total, x, found = counts["total"] or 1, 0.0, []
    for status in ("completed", "failed", "skipped", "cancelled"):  # the bar is what ended, as its label says
        width = counts[status] * 100 / total
        if width:
            found.append((status, round(x, 2), round(width, 2)))
        x += width
    return found


def _admission(cohort: Cohort, counts: dict, ended: int) -> str:
    """What the pending members wait for: the canary's runs, or the quota's windows."""
    if not counts["pending"] or cohort.status not in ACTIVE_STATUSES:
        return ""
    canary = min(cohort.canary, counts["total"])
    if ended < canary:
        return f"the rest wait for the canary ({ended} of {canary} ended)"
    return f"about {eta_seconds(cohort.workspace_id, counts['pending'], [])} s to admit the rest"


def _detail_context(membership: Membership, cohort: Cohort, show: str) -> dict:
    pairs = finished_pairs(cohort) if cohort.verdict is None else None
    values = cohort_dict(cohort, verdict=verdict_of(cohort, pairs) if pairs is not None else cohort.verdict)
    counts = values["counts"]
    ended = counts["completed"] + counts["failed"] + counts["skipped"] + counts["cancelled"]
    return _context(
        membership,
        cohort=cohort,
        values=values,
        live=cohort.status in ACTIVE_STATUSES,
        segments=_segments(counts),
        deltas=_deltas(values["verdict"]),
        ended=ended,
        admission=_admission(cohort, counts, ended),
        show=show if show in MEMBER_FILTERS else "",
        filters=MEMBER_FILTERS,
        members=_members(cohort, show, pairs),
        query=urlencode({"show": show}) if show in MEMBER_FILTERS else "",
    )


@workspace_view()
def cohort_detail(request, membership, cohort_id):
    cohort = cohort_for_member(membership, cohort_id)
    context = _detail_context(membership, cohort, request.GET.get("show", ""))
    template = "replay/cohorts/detail.html#live" if request.htmx else "replay/cohorts/detail.html"
    return render(request, template, context)


@workspace_view(methods=("POST",), role=Role.OPERATOR)
def cohort_cancel(request, membership, cohort_id):
    cancel_cohort(membership=membership, cohort_id=cohort_id, cancel_running=bool(request.POST.get("cancel_running")))
    url = reverse("cohort-detail", args=[membership.workspace.slug, cohort_id])
    return HttpResponseRedirect(url)
