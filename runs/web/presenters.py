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
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from runs import provenance
from runs.compare import pretty_json
from runs.models import Run, Step, ToolCall
from runs.provenance import Label, call_label, step_label
from runs.templatetags.usage import step_usage

from .step_prompts import PROMPT, StepPrompt, prompt_block, step_prompts

STEPS_PAGE = 200
ROW_CACHE_SECONDS = 60 * 60

ROW = '<details class="step" id="step-{node}">{inner}</details>\n'
ROW_INNER = (
    '<summary id="summary-{node}"><span class="step-name"><span class="mono">{node}</span>{mapped}'
    '<span class="tag">{type}</span><span class="badge badge-{status}">{status}</span>{reused}{simulated}{not_sent}{usage}</span>'
    '<svg class="bar-track" viewBox="0 0 {total} 10" preserveAspectRatio="none" aria-hidden="true">'
    '<rect class="bar bar-{status}" x="{x}" y="1" width="{width}" height="8"></rect></svg>'
    '<span class="step-duration">{duration}</span></summary>'
    '<div class="step-body"><dl class="kv">{reused_from}{model}{prompt}<dt>Started</dt><dd>{started}</dd></dl>{error}'
    "<h3>Input</h3><pre>{input}</pre><h3>Output</h3>{output_note}<pre>{output}</pre>{tool_calls}"
    '<button type="button" class="link js-rerun-from" data-node="{node}">Rerun from here</button></div>{running}'
)
TOOL_CALLS = (
    '<table class="table compact"><caption>Tool calls</caption><thead><tr><th scope="col">Tool</th>'
    '<th scope="col">Mutating</th><th scope="col">Mode</th><th scope="col">Arguments</th>'
    '<th scope="col">Result</th></tr></thead><tbody>{}</tbody></table>'
)
TOOL_CALL = '<tr><td class="mono">{}</td><td>{}</td><td>{}</td><td><pre>{}</pre></td><td>{}<pre>{}</pre></td></tr>'
DRY_RUN_BADGE = SafeString('<span class="badge badge-dry-run">dry run</span>')
# A collapsed row names each call that was not sent, as the tool-call table inside it does (runs.provenance's words).
RECORDED_BADGE = SafeString('<span class="badge badge-recorded">recorded</span>')
NOT_SENT_BADGES = {ToolCall.Source.DRY_RUN: DRY_RUN_BADGE, ToolCall.Source.RECORDED: RECORDED_BADGE}
# A call or a step that was not sent names what it is and the run it comes from (runs.provenance words it).
LABEL = '<span class="badge badge-{}">{}</span>'
# "from run <id>" stays on one line: a narrow cell wraps before it, not between "run" and its id.
LABEL_RUN = LABEL + ' <span class="nowrap">{} run <a class="mono" href="{}">{}</a></span>'
# Inside a <summary> (itself the control that opens its row) a link would nest controls: the run is named, the
# row's body links to it.
LABEL_RUN_NAMED = LABEL + ' <span class="nowrap">{} run <span class="mono">{}</span></span>'
RESULT_NOTE = '<p class="result-note muted">{}</p>'
# A reused step's figures are the original's: this run spent nothing on it.
ORIGINALS_FIGURES = '<span class="originals-figures muted" title="The original step\'s figures: this run spent nothing on it">original\'s: {}</span>'
SIMULATED_BADGE = SafeString('<span class="badge badge-simulated">simulated</span>')
# The live poll sends back the position of every row the page shows as running (runs/web/views.py).
RUNNING_MARKER = '<input type="hidden" name="running" value="{}">'
# Cached rows are keyed by the markup that built them, so a deploy that changes it never serves old rows.
MARKUP_VERSION = hashlib.sha256(
    "".join(
        (
            ROW,
            ROW_INNER,
            TOOL_CALLS,
            TOOL_CALL,
            LABEL_RUN,
            LABEL_RUN_NAMED,
            RESULT_NOTE,
            ORIGINALS_FIGURES,
            PROMPT,
            *NOT_SENT_BADGES.values(),
            *provenance.WORDS,  # a call's badge and result note are in the cached rows too
        )
    ).encode()
).hexdigest()[:12]


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
    original: Step | None = None  # the step a reused step was copied from
    slug: str = ""  # the workspace's, for the links to other runs
    prompt: StepPrompt | None = None

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
    fresh_steps = [s for s in steps if _row_key(s) not in cached]
    tool_calls = _tool_calls_by_step(fresh_steps)
    originals = _originals_of(fresh_steps)
    prompts = step_prompts(run, fresh_steps)
    rows = [
        StepRow(
            step,
            axis,
            tool_calls.get(step.pk, []),
            originals.get(_original_key(step)),
            run.workspace.slug,
            prompts.get(step.pk),
        )
        for step in steps
    ]
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


def _original_key(step: Step) -> tuple[str, str]:
    return (step.reused_from_run_id, step.reused_from_node_id)


def _originals_of(steps: list[Step]) -> dict[tuple[str, str], Step]:
    """The steps the reused ones were copied from, for their figures: one query, none without a reused step."""
    wanted = {_original_key(s) for s in steps if s.reused_from_run_id}
    if not wanted:
        return {}
    found = Step.objects.filter(
        run_id__in={run_id for run_id, _ in wanted}, node_id__in={node for _, node in wanted}
    ).defer("input", "output", "raw_usage")
    return {key: s for s in found if (key := (s.run_id, s.node_id)) in wanted}


def _optional(template: str, value) -> SafeString:
    return format_html(template, value) if value else SafeString("")


def label_html(label: Label, slug: str, *, link: bool = True) -> SafeString:
    """A label as a badge, with a link to the run it names (only named, without `link`, inside a <summary>)."""
    if not label.run_id:
        return format_html(LABEL, label.kind, label.text)
    if not link:
        return format_html(LABEL_RUN_NAMED, label.kind, label.text, label.preposition, label.run_id)
    url = reverse("trace", args=[slug, label.run_id])
    return format_html(LABEL_RUN, label.kind, label.text, label.preposition, url, label.run_id)


def result_note(label: Label) -> SafeString:
    """What a result is when the call was not sent ("the original's result (not sent)")."""
    return _optional(RESULT_NOTE, label.result)


def _output_note(step: Step, calls: list[ToolCall]) -> SafeString:
    """A tool step's output is its call's result: when the call was not sent, the output says what it is, so a dry
    run's `"sent": true` (the original's result) never reads as this run's."""
    if not calls:
        return SafeString("")
    call = calls[0]
    label = call_label(
        source=call.source,
        recorded_in_run_id=call.recorded_in_run_id,
        result=call.result,
        reused_from_run_id=step.reused_from_run_id,
        dry_run=call.dry_run,
    )
    return SafeString("") if label.sent else result_note(label)


def _tool_calls_table(step: Step, calls: list[ToolCall], slug: str) -> SafeString:
    if not calls:
        return SafeString("")
    labels = [
        call_label(
            source=c.source,
            recorded_in_run_id=c.recorded_in_run_id,
            result=c.result,
            reused_from_run_id=step.reused_from_run_id,
            dry_run=c.dry_run,
        )
        for c in calls
    ]
    rows = format_html_join(
        "",
        TOOL_CALL,
        (
            (
                c.tool,
                "yes" if c.mutating else "no",
                label_html(label, slug),
                pretty_json(c.arguments),
                result_note(label),
                pretty_json(c.result),
            )
            for c, label in zip(calls, labels, strict=True)
        ),
    )
    return format_html(TOOL_CALLS, rows)


def _originals_figures(original: Step | None) -> SafeString:
    if original is None:
        return SafeString("")
    figures = [step_usage(original), f"{original.duration_ms} ms" if original.duration_ms is not None else ""]
    shown = [(figure,) for figure in figures if figure]
    return format_html(ORIGINALS_FIGURES, format_html_join(" · ", "{}", shown)) if shown else SafeString("")


def _reused_from(step: Step, slug: str) -> SafeString:
    url = reverse("trace", args=[slug, step.reused_from_run_id]) + f"#step-{step.reused_from_node_id}"
    return format_html(
        '<dt>Reused from</dt><dd><a class="mono" href="{}">{}</a> (node <span class="mono">{}</span>)</dd>',
        url,
        step.reused_from_run_id,
        step.reused_from_node_id,
    )


def step_row_inner(row: StepRow) -> SafeString:
    """What a <details> row holds: the part a live poll replaces, so an open row stays open."""
    step, axis = row.step, row.timeline
    x = max(0, axis.ms_since_start(step.started_at))
    end = axis.ms_since_start(step.finished_at) if step.finished_at else axis.total_ms
    started = timezone.localtime(step.started_at).strftime("%H:%M:%S.%f %Z") if step.started_at else ""
    duration = f"{step.duration_ms} ms" if step.duration_ms is not None else "…"
    slug = row.slug
    reused = step_label(reused_from_run_id=step.reused_from_run_id)
    not_sent = [(NOT_SENT_BADGES[call.source],) for call in row.tool_calls if call.source in NOT_SENT_BADGES]
    if reused is not None:  # the step cost nothing here and took no time: show the original's figures, named so
        duration = "reused"
    return format_html(
        ROW_INNER,
        node=step.node_id,
        mapped=_optional('<span class="muted">was {}</span>', step.mapped_from),
        type=step.type,
        reused=label_html(reused, slug, link=False) if reused else "",
        simulated=SIMULATED_BADGE if step.simulated else "",
        not_sent=format_html_join("", "{}", not_sent) if not_sent else "",
        usage=_originals_figures(row.original) if reused else step_usage(step),
        total=axis.total_ms,
        status=step.status,
        x=x,
        width=max(1, min(end, axis.total_ms) - x),  # a bar is never empty; CSS gives it a visible minimum
        duration=duration,
        reused_from=_reused_from(step, slug) if reused else "",
        model=_optional('<dt>Model</dt><dd class="mono">{}</dd>', step.model_ref),
        prompt=prompt_block(step, row.prompt),
        started=started,
        error=_optional('<div class="alert alert-error">{}</div>', step.error),
        input=json.dumps(step.input, indent=2, sort_keys=True),
        output_note=_output_note(step, row.tool_calls),
        output=step.output,
        tool_calls=_tool_calls_table(step, row.tool_calls, slug),
        running=format_html(RUNNING_MARKER, step.position) if step.status == Step.Status.RUNNING else "",
    )
