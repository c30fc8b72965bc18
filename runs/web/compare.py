"""The compare page: two runs side by side, rows node by node, each row's diff loaded when it is opened."""

from functools import cache
from urllib.parse import quote, urlencode

from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString
from django_htmx.http import HttpResponseStopPolling

from runs.access import get_run_for_member
from runs.checks.form import FORM_FIELDS, KIND_CHOICES
from runs.compare import (
    SORTS,
    Comparison,
    Row,
    compare,
    compared_runs,
    compared_with,
    json_diff,
    output_diff,
    pretty_json,
)
from runs.http.web import workspace_view
from runs.integers import MAX_POSITION, ascii_int
from runs.templatetags.badges import status_badge
from runs.templatetags.compare import signed
from runs.templatetags.usage import exact_tokens, exact_usd, usd

from . import checks
from .presenters import label_html, result_note

PAGE = "runs/compare.html"
ROWS_PAGE = 200  # rows rendered per response; the rest come with "More rows", as the trace's steps do
MAX_PAGES = 1000  # the most "shown" values a poll is read for: one per page of rows the page loaded

ROW = (
    '<details class="compare-row match-{match}" id="{dom_id}"{preserve}><summary hx-get="{diff_url}" hx-trigger="click once"'
    ' hx-target="next .compare-diff" hx-swap="innerHTML"><span class="node mono">{label}</span>{match_label}'
    "<span>{status_a} → {status_b}</span>{model}{prompt}"
    "{figures}{calls}{outcome}</summary>"
    '<div class="compare-diff"><p class="muted diff-pending">Loading the diff…</p></div>'
    '<input type="hidden" name="open" value="{dom_id}"></details>\n'
)
PRESERVED = ' hx-preserve="true"'  # an open row, as the live poll found it: htmx keeps the page's own
FIGURES = '<span title="latency {} → {} ms">Δ {}</span>{}{}{}'
MATCH_LABELS = {"mapped": "mapped", "base_only": "only in base", "other_only": "only in other"}
# Why a row has its outcome, in its badge's title.
OUTCOME_WHY = {
    "pending": "A run in flight has not finished this node yet: it is counted apart.",
    "reused": "Copied by a rerun from a step: its figures are another run's, so they count in no delta.",
    "changed": "The output or a tool call differs.",
    "same": "Same output and same tool calls.",
}


EMPTY = SafeString("")
SELECTED = SafeString("selected")
# What every row repeats, escaped once: the row's class, its match label and its outcome's badge.
MATCH_CLASSES = {match: escape(match) for match in ("same", "mapped", "base_only", "other_only")}
MATCH_LABEL_HTML = {match: format_html('<span class="match">{}</span>', label) for match, label in MATCH_LABELS.items()}
OUTCOME_HTML = {
    outcome: format_html('<span class="badge badge-{}" title="{}">{}</span>', outcome, why, outcome)
    for outcome, why in OUTCOME_WHY.items()
}


@cache
def _badge(status: str | None) -> SafeString:
    """A status badge; statuses are few, so each is built once (a page shows two a row)."""
    return status_badge(status) if status else SafeString("—")


def _token_change(label: str, pair) -> SafeString:
    if pair.a is None and pair.b is None:
        return EMPTY
    return format_html(
        '<span title="{} tokens {} → {}">{} {}</span>',
        label,
        exact_tokens(pair.a),
        exact_tokens(pair.b),
        label,
        signed(pair.delta),
    )


def _cost_change(pair) -> SafeString:
    if pair.a is None and pair.b is None:
        return EMPTY
    if pair.delta is None:
        change = "unknown"
    else:
        change = ("+" if pair.delta >= 0 else "−") + usd(abs(pair.delta))
    return format_html('<span title="{} → {}">cost {}</span>', exact_usd(pair.a), exact_usd(pair.b), change)


def _figures(row: Row, slug: str) -> SafeString:
    """The row's deltas; a reused row has none (what it shows was measured in another run), it names that run."""
    if row.reused:
        step = row.other if row.other and row.other.reused_from_run_id else row.base
        return label_html(step.step_label, slug, link=False)  # type: ignore[union-attr,arg-type]
    if row.pending:
        return EMPTY
    return format_html(
        FIGURES,
        "—" if row.latency_ms.a is None else row.latency_ms.a,
        "—" if row.latency_ms.b is None else row.latency_ms.b,
        signed(row.latency_ms.delta) + (" ms" if row.latency_ms.delta is not None else ""),
        _token_change("in", row.input_tokens),
        _token_change("out", row.output_tokens),
        _cost_change(row.cost_usd),
    )


def _call_badges(row: Row, slug: str) -> SafeString:
    """The other run's tool calls that were not sent, labelled: a dry-run row compares what it would have sent."""
    other = row.other
    if other is None or other.reused_from_run_id:
        return EMPTY
    changed = row.calls_changed and not row.output_changed and row.outcome == "changed"
    if not other.calls and not changed:
        return EMPTY
    labels = [other.call_label(c) for c in other.calls]
    badges = [(label_html(label, slug),) for label in labels if not label.sent]
    return format_html(
        "{}{}",
        format_html_join("", "{}", badges),
        SafeString('<span class="calls-changed">tool call changed</span>') if changed else "",
    )


def row_html(row: Row, diff_url: str, slug: str, open_rows: frozenset[str] = frozenset()) -> SafeString:
    """One node of the comparison, built as Django's admin builds changelist rows: escaped by format_html."""
    model = row.model_ref
    prompt = row.prompt_hash
    return format_html(
        ROW,
        match=MATCH_CLASSES[row.match],
        dom_id=row.dom_id,
        preserve=SafeString(PRESERVED) if row.dom_id in open_rows else EMPTY,
        diff_url=f"{diff_url}&row={quote(row.key)}",
        label=f"{row.base.node_id} → {row.other.node_id}" if row.match == "mapped" else (row.base or row.other).node_id,  # type: ignore[union-attr]
        match_label=MATCH_LABEL_HTML[row.match] if row.match in MATCH_LABEL_HTML and not row.pending else EMPTY,
        status_a=_badge(row.status.a),
        status_b=_badge(row.status.b),
        model=format_html(
            '<span class="mono">{}{}</span>', model.a or "—", f" → {model.b or '—'}" if model.changed else ""
        )
        if model.a or model.b
        else EMPTY,
        prompt=format_html(
            '<span class="badge badge-changed" title="{} → {}">prompt changed</span>', prompt.a, prompt.b
        )
        if prompt.changed and prompt.a and prompt.b
        else EMPTY,
        figures=_figures(row, slug),
        calls=_call_badges(row, slug),
        outcome=OUTCOME_HTML[row.outcome],
    )


def _context(membership, comparison: Comparison, request) -> dict:
    changed_only = request.GET.get("changed") == "1"
    sort = request.GET.get("sort", "")
    return {
        "workspace": membership.workspace,
        "membership": membership,
        "cmp": comparison,
        "base": comparison.base,
        "other": comparison.other,
        "runs": (comparison.base, comparison.other),
        "rows": comparison.shown_rows(changed_only=changed_only, sort=sort),
        "offset": _offset(request),
        "changed_only": changed_only,
        "sort": sort if sort in SORTS else "",
        "with_id": request.GET.get("with", ""),
        "section": "runs",
    }


def _offset(request) -> int:
    return ascii_int(request.GET.get("offset", ""), low=0, high=MAX_POSITION) or 0


def _shown(request) -> int:
    """How many rows the page already shows (each page of rows reports its end), so a poll renders them all again.

    Without it the live poll answered with the first page only, and rows loaded with "More rows" vanished."""
    ends = (ascii_int(v, low=0, high=MAX_POSITION) for v in request.GET.getlist("shown")[:MAX_PAGES])
    return max((end for end in ends if end is not None), default=0)


def _rows_context(context: dict, request, workspace, run_id: str) -> dict:
    """The page of rendered rows from the context's offset, and where the next page starts.

    A row's diff is asked of the page's own run with the page's query (`with` included), so both name the same pair.
    """
    offset, rows = context["offset"], context["rows"]
    query = request.GET.copy()
    for name in ("offset", "fragment", "row", "open", "shown"):
        query.pop(name, None)
    diff_url = reverse("compare-row-diff", args=[workspace.slug, run_id]) + "?" + query.urlencode()
    live_url = f"{request.path}?{query.urlencode()}{'&' if query else ''}fragment=live"
    end = max(offset + ROWS_PAGE, _shown(request))
    open_rows = frozenset(request.GET.getlist("open")[: end - offset])
    page = rows[offset:end]
    more = end if end < len(rows) else None
    if more is not None:
        query["offset"] = str(more)
    return {
        # One string: 200 rows through the template's for loop cost a millisecond of the page (runs/web/presenters.py).
        "rows_html": SafeString("".join(row_html(r, diff_url, workspace.slug, open_rows) for r in page)),
        "more_url": f"?{query.urlencode()}&fragment=rows" if more is not None else None,
        "shown": offset + len(page),
        "live_url": live_url,
    }


@workspace_view()
def compare_page(request, membership, run_id):
    with_id = request.GET.get("with") or None
    run = get_run_for_member(membership, run_id)
    if with_id is None and run.replay_of_id is None:
        replays = list(run.replays.order_by("-created_at").only("run_id", "status", "mode", "created_at")[:50])
        context = {
            "workspace": membership.workspace,
            "membership": membership,
            "run": run,
            "replays": replays,
            "section": "runs",
        }
        return render(request, "runs/compare_pick.html", context)
    base, other = compared_with(membership, run, with_id)
    comparison = compare(base, other)
    panel = checks.panel(request.GET, comparison)
    if panel.add_url:  # the added check goes into the URL, so the link reproduces the panel
        return redirect(request.path + panel.add_url)
    context = _context(membership, comparison, request)
    context.update(_rows_context(context, request, membership.workspace, run_id))
    context.update(_checks_context(panel, comparison, request, membership.workspace.slug))
    if request.htmx and request.GET.get("fragment") == "rows":
        return render(request, PAGE + "#rows", context)
    if request.htmx and request.GET.get("fragment") == "live":
        response = render(request, PAGE + "#live", context)
        return response if comparison.in_flight else HttpResponseStopPolling(response.content)
    return render(request, PAGE, context, status=400 if panel.form_error else 200)


def check_node_options(nodes: list[str], chosen: str | None) -> SafeString:
    """The check form's node options, one per node of either run: built here, as 1,000 template options were slow.

    Each node id is escaped once for both of its places ({0}); what marks the chosen one is already safe."""
    return format_html_join(
        "", '<option value="{0}" {1}>{0}</option>', ((n, SELECTED if n == chosen else EMPTY) for n in nodes)
    )


def _checks_context(panel: checks.Panel, comparison: Comparison, request, slug: str) -> dict:
    nodes = dict.fromkeys(s.node_id for r in comparison.rows for s in (r.base, r.other) if s is not None)
    return {
        "panel": panel,
        "check_node_options": check_node_options(
            list(nodes), request.GET.get("node") if "add" in request.GET else None
        ),
        "check_kinds": KIND_CHOICES,
        "check_fields": FORM_FIELDS,
        "checks_json": request.GET.get("checks", "") if not panel.error else "",
        "check_form": request.GET if "add" in request.GET else {},
        "cohort_url": _cohort_with_checks(slug, comparison, request.GET.get("checks", "")) if panel.checks else "",
    }


def _cohort_with_checks(slug: str, comparison: Comparison, checks_json: str) -> str:
    """The new-cohort form of this workflow with these checks in its box: judged here on two runs, then on many (its
    completed runs of the last seven days, the form's default range: a change is judged on runs that did their work)."""
    query = urlencode({"workflow": comparison.base.workflow.workflow_id, "status": "completed", "checks": checks_json})
    return reverse("cohort-new", args=[slug]) + "?" + query


@workspace_view()
def compare_row_diff(request, membership, run_id):
    base, other = compared_runs(membership, run_id, request.GET.get("with") or None)
    comparison = compare(base, other)
    row = next((r for r in comparison.rows if r.key == request.GET.get("row")), None)
    if row is None:
        raise Http404("No such row in this comparison.")
    context = {"row": row, "diff": output_diff(row), "calls": _call_pairs(row, membership.workspace.slug)}
    return render(request, PAGE + "#diff", context)


def _call_pairs(row: Row, slug: str) -> list[dict]:
    """The row's tool calls side by side: each side's label, arguments and result, and their diffs when they differ."""
    shown = []
    for pair in row.calls:
        sides = []
        for step, call in ((row.base, pair.base), (row.other, pair.other)):
            label = step.call_label(call) if step and call else None
            sides.append(
                {
                    "call": call,
                    "label": label_html(label, slug) if label else "",
                    "note": result_note(label) if label else "",
                    "arguments": pretty_json(call.arguments) if call else "",
                    "result": pretty_json(call.result) if call else "",
                }
            )
        both = pair.base is not None and pair.other is not None
        shown.append(
            {
                "pair": pair,
                "base": sides[0],
                "other": sides[1],
                "arguments_diff": json_diff(pair.base.arguments, pair.other.arguments) if both else None,  # type: ignore[union-attr]
                "result_diff": json_diff(pair.base.result, pair.other.result) if pair.results_compared else None,  # type: ignore[union-attr]
            }
        )
    return shown
