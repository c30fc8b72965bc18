"""The compare page: two runs side by side, rows node by node, each row's diff loaded when it is opened."""

from django.http import Http404
from django.shortcuts import render
from django_htmx.http import HttpResponseStopPolling

from runs.access import get_run_for_member
from runs.compare import SORTS, Comparison, compare, compared_runs, output_diff
from runs.http.web import workspace_view

PAGE = "runs/compare.html"


def _context(membership, comparison: Comparison, request) -> dict:
    changed_only = request.GET.get("changed") == "1"
    sort = request.GET.get("sort", "")
    return {
        "workspace": membership.workspace,
        "membership": membership,
        "cmp": comparison,
        "base": comparison.base,
        "other": comparison.other,
        "rows": comparison.shown_rows(changed_only=changed_only, sort=sort),
        "changed_only": changed_only,
        "sort": sort if sort in SORTS else "",
        "with_id": request.GET.get("with", ""),
        "section": "runs",
    }


@workspace_view()
def compare_page(request, membership, run_id):
    with_id = request.GET.get("with") or None
    run = get_run_for_member(membership, run_id)
    if with_id is None and run.replay_of_id is None:
        replays = list(run.replays.order_by("-created_at").only("run_id", "status", "mode", "created_at")[:50])
        context = {"workspace": membership.workspace, "run": run, "replays": replays, "section": "runs"}
        return render(request, "runs/compare_pick.html", context)
    base, other = compared_runs(membership, run_id, with_id)
    comparison = compare(base, other)
    context = _context(membership, comparison, request)
    if request.htmx and request.GET.get("fragment") == "live":
        response = render(request, PAGE + "#live", context)
        return response if comparison.in_flight else HttpResponseStopPolling(response.content)
    return render(request, PAGE, context)


@workspace_view()
def compare_row_diff(request, membership, run_id):
    base, other = compared_runs(membership, run_id, request.GET.get("with") or None)
    comparison = compare(base, other)
    row = next((r for r in comparison.rows if r.key == request.GET.get("row")), None)
    if row is None:
        raise Http404("No such row in this comparison.")
    return render(request, PAGE + "#diff", {"row": row, "diff": output_diff(row)})
