"""Shapes a run's steps for the waterfall in Python, so templates do no arithmetic in loops.

Each step row is built here with format_html, as Django's admin builds its changelist rows: every
value is escaped by construction. The profile of a 1,000-step trace (200 rows on its first page)
showed two thirds of the request in the template engine resolving variables row by row, and
format_html costs about three times what plain f-strings did; a finished step never changes, so
the rows of a finished run are built once and then read from the cache, one get_many per page.

Bars are laid out in milliseconds from the run's start, in a viewBox as wide as the run: while a
run is live only the header carries the new width (static/js/app.js applies it to every row), so
rows that did not change are never sent again.
"""

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from django.core.cache import cache
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from runs.compare import pretty_json
from runs.models import Run, Step, ToolCall
from runs.templatetags.usage import step_usage

STEPS_PAGE = 200
ROW_CACHE_SECONDS = 60 * 60

ROW = '<details class="step" id="step-{node}">{inner}</details>\n'
ROW_INNER = (
    '<summary id="summary-{node}"><span class="step-name"><span class="mono">{node}</span>{mapped}'
    '<span class="tag">{type}</span><span class="badge badge-{status}">{status}</span>{simulated}{dry_runs}{usage}</span>'
    '<svg class="bar-track" viewBox="0 0 {total} 10" preserveAspectRatio="none" aria-hidden="true">'
    '<rect class="bar bar-{status}" x="{x}" y="1" width="{width}" height="8"></rect></svg>'
    '<span class="step-duration">{duration}</span></summary>'
    '<div class="step-body"><dl class="kv">{model}{prompt}<dt>Started</dt><dd>{started}</dd></dl>{error}'
    "<h3>Input</h3><pre>{input}</pre><h3>Output</h3><pre>{output}</pre>{tool_calls}"
    '<button type="button" class="link js-rerun-from" data-node="{node}">Rerun from here</button></div>{running}'
)
TOOL_CALLS = (
    '<table class="table compact"><caption>Tool calls</caption><thead><tr><th scope="col">Tool</th>'
    '<th scope="col">Mutating</th><th scope="col">Mode</th><th scope="col">Arguments</th>'
    '<th scope="col">Result</th></tr></thead><tbody>{}</tbody></table>'
)
TOOL_CALL = '<tr><td class="mono">{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td><td><pre>{}</pre></td></tr>'
DRY_RUN_BADGE = SafeString('<span class="badge badge-dry-run">dry run</span>')
# A recorded call was never sent: it names the run whose call answered it, and never says "invoked".
RECORDED = '<span class="badge badge-recorded">recorded</span> in run <span class="mono">{}</span>'
SIMULATED_BADGE = SafeString('<span class="badge badge-simulated">simulated</span>')
# The live poll sends back the position of every row the page shows as running (runs/web/views.py).
RUNNING_MARKER = '<input type="hidden" name="running" value="{}">'
# Cached rows are keyed by the markup that built them, so a deploy that changes it never serves old rows.
MARKUP_VERSION = hashlib.sha256("".join((ROW, ROW_INNER, TOOL_CALLS, TOOL_CALL, RECORDED)).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Timeline:
    start: datetime | None
    total_ms: int

    def ms_since_start(self, at: datetime) -> int:
        return int((at - self.start).total_seconds() * 1000) if self.start else 0


def timeline(run: Run, steps: list[Step]) -> Timeline:
    """The waterfall's time axis: from the run's start to its end, or to now while it is in flight."""
    start = run.started_at or (steps[0].started_at if steps else None)
    end: datetime | None
    if run.finished_at:
        end = run.finished_at
    elif not run.is_finished:
        end = timezone.now()
    else:
        end = max((s.finished_at or s.started_at for s in steps), default=start)
    total = int((end - start).total_seconds() * 1000) if start and end else 0
    return Timeline(start, max(total, 1))


def _row_key(step: Step) -> str:
    return f"trace-row:{MARKUP_VERSION}:{step.run_id}:{step.pk}"


@dataclass
class StepRow:
    step: Step
    timeline: Timeline
    tool_calls: list

    @property
    def selector(self) -> str:
        """The CSS selector of this row's <details>: node ids may hold dots, which CSS reads as classes."""
        return "#step-" + re.sub(r"([^A-Za-z0-9_-])", r"\\\1", self.step.node_id)

    @cached_property
    def inner(self) -> SafeString:
        return step_row_inner(self)

    @cached_property
    def html(self) -> SafeString:
        return format_html(ROW, node=self.step.node_id, inner=self.inner)


def _tool_calls_by_step(steps: list[Step]) -> dict[int, list[ToolCall]]:
    """One query for the page, grouped here: cheaper than a prefetch's queryset per step."""
    by_step = defaultdict(list)
    if steps:
        for call in ToolCall.objects.filter(step_id__in=[s.pk for s in steps]).order_by("id"):
            by_step[call.step_id].append(call)
    return by_step


def waterfall(run: Run, steps: list[Step], axis: Timeline | None = None) -> list[StepRow]:
    """The rows of these steps; those of a finished run are read from the cache when they are there."""
    axis = axis or timeline(run, steps)
    cacheable = run.is_finished  # every step of a finished run, and its time axis, are final
    cached = cache.get_many([_row_key(s) for s in steps]) if cacheable else {}
    tool_calls = _tool_calls_by_step([s for s in steps if _row_key(s) not in cached])
    rows = [StepRow(step, axis, tool_calls.get(step.pk, [])) for step in steps]
    fresh = {}
    for row in rows:
        key = _row_key(row.step)
        if key in cached:
            row.html = SafeString(cached[key])  # built by format_html when it was stored
        elif cacheable:
            fresh[key] = str(row.html)
    if fresh:
        cache.set_many(fresh, ROW_CACHE_SECONDS)
    return rows


def _optional(template: str, value) -> SafeString:
    return format_html(template, value) if value else SafeString("")


def _call_mode(call: ToolCall):
    if call.source == ToolCall.Source.RECORDED:
        return format_html(RECORDED, call.recorded_in_run_id)
    return DRY_RUN_BADGE if call.dry_run else "invoked"


def _tool_calls_table(calls: list[ToolCall]) -> SafeString:
    if not calls:
        return SafeString("")
    rows = format_html_join(
        "",
        TOOL_CALL,
        (
            (
                c.tool,
                "yes" if c.mutating else "no",
                _call_mode(c),
                pretty_json(c.arguments),
                pretty_json(c.result),
            )
            for c in calls
        ),
    )
    return format_html(TOOL_CALLS, rows)


def step_row_inner(row: StepRow) -> SafeString:
    """What a <details> row holds: the part a live poll replaces, so an open row stays open."""
    step, axis = row.step, row.timeline
    x = max(0, axis.ms_since_start(step.started_at))
    end = axis.ms_since_start(step.finished_at) if step.finished_at else axis.total_ms
    started = timezone.localtime(step.started_at).strftime("%H:%M:%S.%f %Z") if step.started_at else ""
    duration = f"{step.duration_ms} ms" if step.duration_ms is not None else "…"
    dry_runs = [(DRY_RUN_BADGE,) for call in row.tool_calls if call.dry_run]
    return format_html(
        ROW_INNER,
        node=step.node_id,
        mapped=_optional('<span class="muted">was {}</span>', step.mapped_from),
        type=step.type,
        simulated=SIMULATED_BADGE if step.simulated else "",
        dry_runs=format_html_join("", "{}", dry_runs) if dry_runs else "",
        usage=step_usage(step),
        total=axis.total_ms,
        status=step.status,
        x=x,
        width=max(1, min(end, axis.total_ms) - x),  # a bar is never empty; CSS gives it a visible minimum
        duration=duration,
        model=_optional('<dt>Model</dt><dd class="mono">{}</dd>', step.model_ref),
        prompt=_optional('<dt>Prompt hash</dt><dd class="mono">{}</dd>', step.prompt_hash),
        started=started,
        error=_optional('<div class="alert alert-error">{}</div>', step.error),
        input=json.dumps(step.input, indent=2, sort_keys=True),
        output=step.output,
        tool_calls=_tool_calls_table(row.tool_calls),
        running=format_html(RUNNING_MARKER, step.position) if step.status == Step.Status.RUNNING else "",
    )
