from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import LoginView
from django.db.models import Q
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseStopPolling
from django_ratelimit.core import is_ratelimited

from runs import services
from runs.access import get_run_for_member, workspaces_of
from runs.compare import pretty_json, root_of
from runs.http.errors import BadRequest, Rejected
from runs.http.input import parse, query_values
from runs.http.web import workspace_view
from runs.integers import MAX_POSITION, ascii_int
from runs.listing import NOT_ON_PAGES, RunFilters, page_of_runs
from runs.models import Role, Run, Step, Workflow
from runs.usage import usage_of_run, usage_of_runs

from .presenters import STEPS_PAGE, timeline, waterfall
from .run_rows import run_rows

RUNS_PAGE = 50


def home(request):
    if not request.user.is_authenticated:
        return redirect("login")
    workspaces = workspaces_of(request.user)
    if len(workspaces) >= 1:
        return redirect("runs-list", slug=workspaces[0].slug)
    return render(request, "no_workspace.html")


class ThrottledLoginView(LoginView):
    """Login, throttled per client address (runs.http.client) so passwords cannot be guessed at speed."""

    def post(self, request, *args, **kwargs):
        if is_ratelimited(request, group="login", key="ip", rate=settings.LOGIN_RATE, increment=True):
            form = self.get_form()
            form.add_error(None, "Too many login attempts. Wait a minute and try again.")
            return self.render_to_response(self.get_context_data(form=form), status=429)
        return super().post(request, *args, **kwargs)


def _listed(request, workspace) -> dict:
    """A list page's runs (runs.listing, the one selector of lists), or the message of the filter that is invalid.

    A cursor this list did not give (stale, edited by hand) is not an error on a page: it shows the first page.
    """
    try:
        filters = parse(RunFilters, query_values(request.GET, RunFilters))
    except BadRequest as exc:
        return {"page": None, "filters": RunFilters(), "error": exc.message, "values": request.GET.dict()}
    try:
        page = page_of_runs(workspace, filters, request.GET.get("cursor") or None, RUNS_PAGE, NOT_ON_PAGES)
    except BadRequest:
        page = page_of_runs(workspace, filters, None, RUNS_PAGE, NOT_ON_PAGES)
    return {"page": page, "filters": filters, "error": None, "values": request.GET.dict()}


def _list_context(membership, listed: dict, section: str) -> dict:
    workspace = membership.workspace
    return {
        "workspace": workspace,
        "membership": membership,
        "section": section,
        "statuses": Run.Status.choices,
        "workflows": Workflow.objects.filter(workspace=workspace).order_by("name"),
        **listed,
    }


@workspace_view()
def runs_list(request, membership):
    listed = _listed(request, membership.workspace)
    if listed["page"] is not None:
        runs = listed["page"].rows
        usage = usage_of_runs(run.run_id for run in runs)  # one query for the page's cost column
        listed["table_rows"] = run_rows(runs, usage, membership.workspace.slug, tickable=membership.can_operate)
        listed["filter_query"] = listed["filters"].as_query()
        listed["export_query"] = urlencode(listed["filter_query"])
    template = (
        "runs/runs_list.html#rows" if request.htmx and request.htmx.target == "runs-table" else "runs/runs_list.html"
    )
    status = 400 if listed["error"] else 200
    response = render(request, template, _list_context(membership, listed, "runs"), status=status)
    # The rows alone and the whole page share a URL (hx-push-url): without Vary, Back from a trace could be
    # answered from the browser's cache with the rows alone.
    patch_vary_headers(response, ("HX-Request",))
    return response


def _steps_page(run, after: int = -1):
    return list(Step.objects.filter(run=run, position__gt=after).order_by("position")[: STEPS_PAGE + 1])


def _int_param(raw: str, default: int = -1) -> int:
    """A step position the page sent back; anything else (it never sends one) is the default."""
    number = ascii_int(raw, low=-1, high=MAX_POSITION)
    return default if number is None else number


def _page_context(run, steps) -> dict:
    """A page of rows and the tail after it: the last position shown, and whether more are to load."""
    more = len(steps) > STEPS_PAGE
    steps = steps[:STEPS_PAGE]
    axis = timeline(run, steps)
    return {
        "rows": waterfall(run, steps, axis),
        "timeline": axis,
        "tail": {"after": steps[-1].position if steps else -1, "more": more},
    }


def _live_update(request, run) -> dict:
    """What changed since the page's last poll: the rows it shows as running, and rows recorded after its last.

    The page sends both (hx-include of the hidden inputs of templates/runs/trace.html); finished rows never
    change, so they are never sent again, and while the page offers "Load more", new rows wait for it.
    """
    after = _int_param(request.GET.get("after", ""))
    more = request.GET.get("more") == "1"
    shown = (ascii_int(p, low=0, high=after) for p in request.GET.getlist("running")[:STEPS_PAGE])
    running = sorted({p for p in shown if p is not None})
    wanted = Q(position__in=running) if more else Q(position__in=running) | Q(position__gt=after)
    steps = list(Step.objects.filter(wanted, run=run).order_by("position")[: len(running) + STEPS_PAGE + 1])
    changed = [s for s in steps if s.position <= after]
    new = [s for s in steps if s.position > after]
    axis = timeline(run, steps)
    rows = waterfall(run, changed + new[:STEPS_PAGE], axis)
    tail = {"after": new[:STEPS_PAGE][-1].position, "more": len(new) > STEPS_PAGE} if new else None
    return {
        "changed": rows[: len(changed)],
        "appended": rows[len(changed) :],
        "tail": tail,
        "timeline": axis,
    }


@workspace_view()
def trace(request, membership, run_id):
    run = get_run_for_member(membership, run_id)
    context = {
        "workspace": membership.workspace,
        "membership": membership,
        "run": run,
        "section": "runs",
    }
    if request.htmx and request.GET.get("fragment") == "live":
        context["usage"] = usage_of_run(run.run_id)  # the header's totals
        context.update(_live_update(request, run))
        response = render(request, "runs/trace.html#poll", context)
        return HttpResponseStopPolling(response.content) if run.is_finished else response
    context["replays"] = list(
        run.replays.order_by("-created_at").only(
            "run_id",
            "status",
            "mode",
            "replay_depth",
            "from_nodes",
            "payload_edited",
            "overrides",
            "tools",
            "created_at",
        )[:50]
    )
    # A replay still pending or running: the lineage asks again until each has finished (a paused one waits for
    # a person, so it does not keep the page polling).
    context["replays_moving"] = any(r.is_moving for r in context["replays"])
    if request.htmx and request.GET.get("fragment") == "lineage":  # a replay was submitted from this page
        return render(request, "runs/trace.html#lineage", context)
    context["usage"] = usage_of_run(run.run_id)  # the header's totals
    context.update(_page_context(run, _steps_page(run)))
    context["payload_json"] = pretty_json(run.trigger_payload)
    context["root"] = root_of(run)
    return render(request, "runs/trace.html", context)


@workspace_view()
def trace_more_steps(request, membership, run_id):
    run = get_run_for_member(membership, run_id)
    steps = _steps_page(run, _int_param(request.GET.get("after", "")))
    context = {"run": run, "workspace": membership.workspace, **_page_context(run, steps)}
    return render(request, "runs/trace.html#step-rows", context)


@workspace_view()
def trace_otlp(request, membership, run_id):
    """The trace page's "Export trace": the API's OTLP/JSON document, as a file."""
    from runs.otlp import trace_document  # OpenTelemetry is loaded by the first export, never at start-up

    run = get_run_for_member(membership, run_id)
    response = JsonResponse(trace_document(run, content=settings.OTEL_EXPORT_CONTENT))
    response["Content-Disposition"] = f'attachment; filename="{run.run_id}.otlp.json"'
    return response


@workspace_view()
def monitoring_list(request, membership):
    listed = _listed(request, membership.workspace)
    status = 400 if listed["error"] else 200
    return render(request, "runs/monitoring_list.html", _list_context(membership, listed, "monitoring"), status=status)


def _monitoring_detail_context(membership, run_id):
    run = get_run_for_member(membership, run_id)  # its steps_completed is the progress shown
    running = list(run.steps.filter(status=Step.Status.RUNNING).values_list("node_id", flat=True))
    last = run.steps.exclude(finished_at=None).order_by("-finished_at", "-position").values_list("node_id", flat=True)
    return {
        "workspace": membership.workspace,
        "membership": membership,
        "run": run,
        "section": "monitoring",
        "current_steps": running,  # the steps started and not finished: what the run is doing now
        "last_step": last.first(),
    }


@workspace_view()
def monitoring_detail(request, membership, run_id):
    context = _monitoring_detail_context(membership, run_id)
    if request.htmx and request.GET.get("fragment") == "status":
        response = render(request, "runs/monitoring_detail.html#status", context)
        return HttpResponseStopPolling(response.content) if context["run"].is_finished else response
    return render(request, "runs/monitoring_detail.html", context)


LIFECYCLE = {"pause": services.pause_run, "resume": services.resume_run, "cancel": services.cancel_run}
DONE = {"pause": "Run paused.", "resume": "Run resumed.", "cancel": "Run cancelled."}
UNDO = {"pause": "resume", "resume": "pause"}  # the button that gets the focus after an action


@workspace_view(methods=("POST",), role=Role.OPERATOR)
def monitoring_action(request, membership, run_id, action):
    run = get_run_for_member(membership, run_id)
    if action not in LIFECYCLE:
        return render(request, "_error_fragment.html", {"status": 404, "message": "Unknown action."}, status=404)
    in_place = "runs/monitoring_detail.html#action-result" if request.htmx else "runs/monitoring_detail.html"
    try:
        LIFECYCLE[action](run=run)
    except Rejected as exc:
        context = _monitoring_detail_context(membership, run_id)
        return render(request, in_place, {**context, "error": exc.message}, status=exc.status)
    if not request.htmx:  # the notice survives the redirect as a message, shown as a toast
        messages.success(request, DONE[action])
        return redirect("monitoring-detail", slug=membership.workspace.slug, run_id=run_id)
    context = _monitoring_detail_context(membership, run_id)
    return render(request, in_place, {**context, "notice": DONE[action], "focus": UNDO.get(action)})


def favicon(request):
    """Pages that name no icon (the admin's) leave the browser asking for /favicon.ico: the app's own icon."""
    return redirect(static("favicon.svg"))
