"""The cohort pages: the list, the new-cohort form with its preview ("Replay these…" of the runs list), and a
cohort's page, live while it runs. Thin: the services and readers of replay.cohorts do the work."""

from datetime import UTC, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from django.http import HttpResponseRedirect, QueryDict
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django_htmx.http import reswap, retarget

from runs.checks.form import (
    FORM_FIELDS,
    KIND_CHOICES,
    FormError,
    box_of,
    box_text,
    form_of,
    key_of,
    label,
    with_added,
    without,
)
from runs.compare import Pair
from runs.http.errors import BadRequest, Rejected
from runs.http.input import parse_json
from runs.http.web import workspace_view
from runs.models import Membership, Role, Run, RunMode, Workflow

from ..messages import WILL_FAIL_REMEDY_COHORT
from ..presenters import plan_rows, submit_blocked
from ..views import change_fields, field_choices, preview_context, start_reset_by_version
from .models import ACTIVE_STATUSES, Cohort, Lane, MemberStatus
from .reading import cohort_dict, page_of_cohorts
from .services import (
    CohortForm,
    cancel_cohort,
    cohort_for_member,
    cohort_form,
    create_cohort,
    eta_seconds,
    failing_as_before,
)
from .verdict import finished_pairs, verdict_of

MEMBER_FILTERS = ("changed", "regressed", "failed", "skipped")
MEMBERS_SHOWN = 500
NEW = "replay/cohorts/new.html"
PREVIEW_NAME = "preview"  # the preview needs no name: it creates nothing


def _context(membership: Membership, **values) -> dict:
    return {"workspace": membership.workspace, "membership": membership, "section": "cohorts", **values}


@workspace_view()
def cohort_list(request, membership):
    rows, following = page_of_cohorts(membership.workspace, request.GET.get("cursor") or None, 50)
    return render(request, "replay/cohorts/list.html", _context(membership, cohorts=rows, next=following))


def _checks(raw: str):
    """The checks as JSON; text the one JSON parser refuses goes on as it is, for the body's parser to refuse by name."""
    if not raw.strip():
        return []
    try:
        return parse_json(raw, field="checks")
    except BadRequest:
        return raw


CHECK_PREFIX = "check_"  # the small form's fields beside the cohort form's own: create reads the box alone


def _checks_context(post: QueryDict, typed: dict | None = None, error: FormError | None = None, **extra) -> dict:
    """The checks fieldset: the box's checks listed one per line, the small form that adds one, and its refusal."""
    try:
        declared, unreadable = box_of(post.get("checks", "")), ""
    except FormError as exc:
        declared, unreadable = [], exc.message
    return {
        "checks_text": post.get("checks", ""),
        "checks_listed": [(label(c), c.get("node"), key_of(c)) for c in declared],
        "checks_unreadable": unreadable,
        "check_kinds": KIND_CHOICES,
        "check_fields": FORM_FIELDS,
        "check_form": typed or {},
        "check_error": error,
        **extra,
    }


@workspace_view(methods=("POST",), role=Role.OPERATOR)
def cohort_checks(request, membership):
    """The form's checks (htmx): the small form's check added to the box, or the box's check `remove` (its key)
    taken out; refused as create would refuse it, naming the field, and then nothing changes. The preview follows
    (cohortChanged). `read`: the box was edited by hand, and the list follows it as typed."""
    post, typed = request.POST.copy(), form_of(request.POST, CHECK_PREFIX)
    if "read" in post:
        return render(request, NEW + "#checks", _context(membership, **_checks_context(post, typed, checks_open=True)))
    try:
        declared = box_of(post.get("checks", ""))
        declared = (
            without(declared, post["remove"]) if "remove" in post else with_added(declared, typed, holder="A cohort")
        )
    except FormError as exc:
        return render(request, NEW + "#checks", _context(membership, **_checks_context(post, typed, exc)), status=400)
    post["checks"] = box_text(declared)
    kept = {"node": typed["node"], "kind": typed["kind"]}  # the next check is often on the same node, of the same kind
    response = render(request, NEW + "#checks", _context(membership, **_checks_context(post, kept)))
    response["HX-Trigger"] = "cohortChanged"
    return response


def form_body(post) -> dict:
    """The new-cohort form as the API's body: the same parser validates both, and the change is read as the replay
    dialog reads its fields. The runs ticked in the runs list (run_ids) are the selection when there are any; else
    the filter."""
    statuses = [s for s in post.getlist("status") if s]
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
        "replay": change_fields(post),
        "baseline_percent": post.get("baseline_percent", "10"),
        "canary": post.get("canary", "5"),
        "checks": _checks(post.get("checks", "")),
    }


DEFAULT_RANGE = timedelta(days=7)
LOCAL_INPUT = "%Y-%m-%dT%H:%M:%S"  # what <input type="datetime-local" step="1"> holds; the form's times are UTC


def _opened_values(membership: Membership, query: QueryDict) -> QueryDict:
    """The form as "Replay these…" opens it: the runs ticked in the list (`run`) as run_ids, the list's workflow
    (else the first ticked run's, else the first workflow), as-is, and, without a time range, the last seven days."""
    values, now = query.copy(), timezone.now()
    ticked = [run_id for run_id in query.getlist("run") if run_id]
    values.setlist("run_ids", ticked)
    values.setdefault("mode", "as_is")
    if not values.get("workflow_id"):
        first = (
            Workflow.objects.filter(workspace=membership.workspace)
            .order_by("name")
            .values_list("workflow_id", flat=True)
        )
        values["workflow_id"] = values.get("workflow") or _workflow_of(membership, ticked) or first.first() or ""
    if not (query.get("from") and query.get("to")):
        values.setdefault("from", (now - DEFAULT_RANGE).strftime(LOCAL_INPUT))
        values.setdefault("to", (now + timedelta(minutes=1)).strftime(LOCAL_INPUT))
    return values


def _workflow_of(membership: Membership, ticked: list[str]) -> str:
    """The workflow of the first ticked run of this workspace ("" when none is known)."""
    if not ticked:
        return ""
    found = Run.objects.filter(workspace=membership.workspace, pk=ticked[0]).values_list(
        "workflow__workflow_id", flat=True
    )
    return found.first() or ""


def _state(membership: Membership, values: QueryDict) -> CohortForm:
    data = form_body(values)
    return cohort_form(membership=membership, data={**data, "name": data["name"] or PREVIEW_NAME})


def _preview_panel(state: CohortForm, values: QueryDict) -> dict:
    """The preview panel: the members, the skipped by refusal code, the cost range, the ETA and the first member's
    plan; or the refusal create would answer. Create waits, as the dialog's Submit does, when either says it fails."""
    found = state.found
    plan = found.preview.plan if found else None
    failed_before = failing_as_before(found.preview) if found else []
    return {
        "state": state,
        "found": found,
        "refusal": state.refusal,
        "refusal_below": state.refusal is not None,  # the preview's alert says it: Create's reason would repeat it
        "blocked": submit_blocked(state.refusal, plan, WILL_FAIL_REMEDY_COHORT, failed_before),
        "fails_as_before": [n for n in plan.failing if n.node_id in failed_before] if plan else [],
        "waiting": "",  # the dialog's hint for empty mode fields: the cohort form says its refusal instead
        "cost": found.estimated_cost_usd if found else None,
        "plan_rows": plan_rows(plan.nodes) if plan else "",
        "start_dropped": start_reset_by_version(values, state.anchor) if state.anchor else "",
        "start_target": state.anchor.target if state.anchor else None,
    }


def _form_context(membership: Membership, values: QueryDict, state: CohortForm) -> dict:
    """The whole form: the selection, the change fields as the replay dialog shows them for the anchor member, the
    lanes, the checks, the banner and the preview."""
    anchor = state.anchor
    plan = state.found.preview.plan if state.found else None
    context = _context(
        membership,
        values=values,
        ticked=values.getlist("run_ids"),
        workflow_id=values.get("workflow_id", ""),
        statuses=Run.Status.choices,
        chosen_statuses=values.getlist("status"),
        workflows=Workflow.objects.filter(workspace=membership.workspace).order_by("name"),
        cohort=True,
        **_preview_panel(state, values),
        **_checks_context(values, form_of(values, CHECK_PREFIX)),
        check_nodes=[node.node_id for node in plan.nodes] if plan else [],
    )
    if anchor is not None:
        context.update(run=anchor.source, **field_choices(membership, anchor.source), **preview_context(anchor))
    return context


@workspace_view(methods=("GET", "POST"), role=Role.OPERATOR)
def cohort_new(request, membership):
    """The cohort form: GET is opened by "Replay these…" with the runs ticked in the list (run) or, none ticked,
    its filters, and previews at once; POST creates."""
    if request.method == "GET":
        values = _opened_values(membership, request.GET)
        return render(request, NEW, _form_context(membership, values, _state(membership, values)))
    try:
        cohort, _ = create_cohort(membership=membership, data=form_body(request.POST))
    except Rejected as exc:
        context = _form_context(membership, request.POST, _state(membership, request.POST))
        return render(request, NEW, {**context, "error": exc}, status=exc.status)
    return HttpResponseRedirect(reverse("cohort-detail", args=[membership.workspace.slug, cohort.pk]))


@workspace_view(methods=("POST",), role=Role.OPERATOR)
def cohort_preview(request, membership):
    """The form's preview and banner (htmx), as its fields change: what create would make now. When the change moves
    the anchor to another member, the whole form follows it."""
    state = _state(membership, request.POST)
    anchor = state.anchor.source.run_id if state.anchor else ""
    if anchor != request.POST.get("anchor", ""):
        context = _form_context(membership, request.POST, state)
        return retarget(reswap(render(request, NEW + "#form", context), "outerHTML"), "#cohort-form")
    context = {"cohort": True, "oob": True, "preview": state.anchor, **_preview_panel(state, request.POST)}
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
        flag = "changed" if show == "changed" else "regressed"
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
            {**row, "changed": pair.changed if pair else None, "regression": pair.regressed if pair else False}
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
    if ended < canary < counts["total"]:  # when every member is in the canary, none waits for it
        return f"the rest wait for the canary ({ended} of {canary} ended)"
    return f"about {eta_seconds(cohort.workspace_id, counts['pending'], [])} s to admit the rest"


def _utc(stored: str | None) -> str:
    moment = parse_datetime(stored or "")
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC" if moment else "—"


def definition(cohort: Cohort, baseline: int) -> list[tuple[str, str]]:
    """The cohort's selection and change as the page's definition list: what was frozen at creation, in the form's
    terms, so an operator reading the verdict knows what it judged. `baseline`: the members of its baseline lane (the
    percent asks for at least five, never more than there are)."""
    change, selection = cohort.change, cohort.selection
    terms = [("Workflow", f"{cohort.workflow.name} ({cohort.workflow.workflow_id})")]
    if "run_ids" in selection:
        terms.append(("Selection", f"{len(selection['run_ids'])} runs ticked in the runs list"))
    else:
        found = selection.get("filter", {})
        statuses = ", ".join(found.get("status") or []) or "any status"
        lineage = {"replays": "replays only", "all": "originals and replays"}.get(found.get("lineage"), "originals")
        start, end = (_utc(found.get(bound)) for bound in ("from", "to"))
        terms.append(("Selection", f"{statuses}; {lineage}; created from {start} before {end}"))
    terms.append(("Mode", RunMode(change.get("mode", RunMode.AS_IS)).label))
    if change.get("content_hash"):
        terms.append(("Prompt revision", f"{change.get('prompt_artifact_id', '')} {change['content_hash']}".strip()))
    if change.get("model_ref") or change.get("model_id"):
        terms.append(("Model", change.get("model_ref") or change["model_id"]))
    if change.get("target_version"):
        mapped = len(change.get("node_mapping") or {})
        terms.append(("Workflow version", f"v{change['target_version']}, {mapped} renamed node(s) mapped"))
    else:
        terms.append(("Workflow version", "each member's own"))
    if change.get("from_nodes"):
        terms.append(("Start from", ", ".join(change["from_nodes"])))
    tools = "recorded: answered from each member's own recording" if change.get("tools") == "recorded" else "live"
    terms.append(("Tool calls", tools))
    lane = (
        f"baseline {cohort.baseline_percent} % as-is, {baseline} member{pluralize(baseline)}"
        if baseline
        else "no baseline"
    )
    terms.append(("Lanes", f"{lane}; canary {cohort.canary}"))
    if cohort.checks:
        terms.append(
            ("Checks", ", ".join(f"{c.get('kind')} on {c.get('node') or 'the whole run'}" for c in cohort.checks))
        )
    return terms


def _detail_context(membership: Membership, cohort: Cohort, show: str) -> dict:
    pairs = finished_pairs(cohort) if cohort.verdict is None else None
    values = cohort_dict(cohort, verdict=verdict_of(cohort, pairs) if pairs is not None else cohort.verdict)
    counts = values["counts"]
    ended = counts["completed"] + counts["failed"] + counts["skipped"] + counts["cancelled"]
    return _context(
        membership,
        cohort=cohort,
        values=values,
        definition=definition(cohort, values["baseline_counts"]["total"]),
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
