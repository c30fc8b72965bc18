"""The runs list's rows, built in Python with format_html as the trace viewer builds its steps.

The template engine spent most of the page's server time resolving each row's variables and includes (a
page of 50 rows, at any history size); one format_html per row escapes every value by construction.
"""

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from runs.models import Run
from runs.templatetags.badges import status_badge
from runs.templatetags.times import timestamp
from runs.templatetags.usage import run_cost
from runs.usage import RunUsage

CELLS = (
    '<td><a class="mono" href="{}">{}</a></td><td>{}</td><td>v{}{}</td><td>{}</td><td>{}</td><td>{}</td>'
    '<td class="num">{}</td><td>{}</td></tr>\n'
)
ROW = "<tr>" + CELLS
# An operator's rows start with a box that ticks the run for "Replay these…" (the form the box names, beside the
# table: ticking needs no script).
TICKABLE_ROW = (
    '<tr><td class="tick"><input type="checkbox" name="run" value="{}" form="replay-these-form" '
    'aria-label="Tick {} to replay it in a cohort"></td>' + CELLS
)
DELETED = SafeString(' <span class="muted">(deleted)</span>')
NOT_STARTED = SafeString('<span class="muted">not started</span>')
NO_DURATION = SafeString('<span class="muted">—</span>')


def _trace_url(slug: str, run_id: str) -> str:
    return reverse("trace", args=[slug, run_id])


def _started(run: Run) -> SafeString | str:
    return NOT_STARTED if run.started_at is None else timestamp(run.started_at)


def _choices(run: Run) -> SafeString:
    return format_html_join("", ' <span class="replay-choice">· {}</span>', ((c,) for c in run.replay_choices))


def _lineage(run: Run, slug: str) -> SafeString | str:
    if run.replay_of_id:
        return format_html(
            'replay of <a class="mono" href="{}">{}</a>{}',
            _trace_url(slug, run.replay_of_id),
            run.replay_of_id,
            _choices(run),
        )
    if run.source_is_gone:
        return format_html('<span class="muted">{}</span>{}', Run.SOURCE_GONE, _choices(run))
    return ""


def run_row(run: Run, usage: RunUsage, slug: str) -> tuple:
    duration = run.duration_ms
    return (
        _trace_url(slug, run.run_id),
        run.run_id,
        run.workflow.name,
        run.version_number,
        "" if run.version_id else DELETED,
        status_badge(run.status),
        _started(run),
        f"{duration} ms" if duration is not None else NO_DURATION,
        run_cost(usage),
        _lineage(run, slug),
    )


def run_rows(runs: list[Run], usage: dict[str, RunUsage], slug: str, *, tickable: bool = False) -> SafeString:
    """The table body's rows of a page of runs, with each run's usage (runs.usage.usage_of_runs) beside it; with
    `tickable`, each row's box that ticks it for "Replay these…"."""
    if tickable:
        rows = ((run.run_id, run.run_id, *run_row(run, usage.get(run.run_id, RunUsage()), slug)) for run in runs)
        return format_html_join("", TICKABLE_ROW, rows)
    return format_html_join("", ROW, (run_row(run, usage.get(run.run_id, RunUsage()), slug) for run in runs))
