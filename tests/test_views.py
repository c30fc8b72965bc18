"""Pages and partials: happy path, wrong verb, other workspace, htmx variant, bounded queries."""

from datetime import timedelta

import pytest
from django.utils import timezone

from runs.models import Run, Step

from .builders import chain_workflow, finished_run, run_in_status, submit_replay, support_workflow

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def source(acme):
    return finished_run(support_workflow(acme)[0])


def test_runs_list_shows_runs_newest_first_with_lineage(operator_client, source, operator):
    replay = submit_replay(user=operator, run=source, request={"mode": "as_is"}).run
    html = operator_client.get("/acme/ai/runs").content.decode()
    assert html.index(replay.run_id) < html.index(f'href="/acme/ai/runs/{source.run_id}"')
    assert "replay of <a" in html


def test_runs_list_filters_by_status(operator_client, source, acme):
    pending = run_in_status(source.version, "pending")
    html = operator_client.get("/acme/ai/runs?status=pending").content.decode()
    assert pending.run_id in html and source.run_id not in html


def test_runs_list_htmx_returns_only_the_table(operator_client, source):
    response = operator_client.get("/acme/ai/runs?status=completed", HTTP_HX_TARGET="runs-table", **HTMX)
    html = response.content.decode()
    assert "<table" in html and "<html" not in html


def test_runs_list_queries_do_not_grow_with_runs(operator_client, acme, django_assert_max_num_queries):
    version, _ = support_workflow(acme)
    for _ in range(30):
        run_in_status(version, "completed")
    with django_assert_max_num_queries(8):
        operator_client.get("/acme/ai/runs")


def test_trace_viewer_answers_200_at_the_exact_path(operator_client, source):
    response = operator_client.get(f"/acme/ai/runs/{source.run_id}")
    assert response.status_code == 200
    html = response.content.decode()
    for text in (
        "draft",
        "notify",
        "simulated",
        source.steps.get(node_id="draft").prompt_hash,
        "anthropic:claude-opus-4-7",
        "Replay <kbd>r</kbd>",
        "Trigger payload",
        "dana@example.com",
    ):
        assert text in html


def test_trace_viewer_of_another_workspace_is_403(client, source, outsider):
    client.force_login(outsider)
    assert client.get(f"/acme/ai/runs/{source.run_id}").status_code == 403
    assert client.get(f"/globex/ai/runs/{source.run_id}").status_code == 403


def test_trace_viewer_wrong_verb_is_405(operator_client, source):
    assert operator_client.post(f"/acme/ai/runs/{source.run_id}").status_code == 405


def test_trace_viewer_marks_dry_run_calls(operator_client, source, operator):
    from runs.engine.executor import execute

    replay = submit_replay(user=operator, run=source, request={"mode": "as_is"}).run
    execute(replay.run_id)
    assert "dry run" in operator_client.get(f"/acme/ai/runs/{replay.run_id}").content.decode()


def test_trace_viewer_escapes_html_in_outputs(operator_client, source):
    Step.objects.filter(run=source, node_id="draft").update(
        output='<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    )
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}").content.decode()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)" in html and "<img src=x" not in html


def test_trace_viewer_escapes_every_field_of_a_step_row(operator_client, source):
    """Step rows are built in Python (runs/presenters.py), not by the template: each field is escaped there."""
    hostile = '<b id="x">"&\''
    step = Step.objects.get(run=source, node_id="notify")
    Step.objects.filter(pk=step.pk).update(
        error=hostile, mapped_from=hostile, model_ref=hostile, prompt_hash=hostile, input={"k": hostile}
    )
    step.tool_calls.update(arguments={"a": hostile}, result={"r": hostile}, tool=hostile)
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}").content.decode()
    assert '<b id="x">' not in html
    assert html.count("&lt;b id=") == 8  # error, was, model, prompt hash, input, tool, arguments, result


def test_replay_button_of_an_in_flight_run_is_aria_disabled_and_says_why(operator_client, source):
    running = run_in_status(source.version, "running")
    html = operator_client.get(f"/acme/ai/runs/{running.run_id}").content.decode()
    button = html[html.index('<button id="replay-button"') :]
    button = button[: button.index("</button>")]
    assert 'aria-disabled="true"' in button and 'aria-describedby="replay-disabled-why"' in button
    assert " disabled" not in button.replace("aria-disabled", "") and "hx-get" not in button
    assert (
        'id="replay-disabled-why" class="tooltip" role="tooltip">Replay is available once the run has finished' in html
    )


def running_run(version, *, done=1):
    """An in-flight run of the support workflow: `done` completed steps, then one running."""
    run = run_in_status(version, "running", started_at=timezone.now() - timedelta(seconds=5), steps_completed=done)
    for position, node_id in enumerate(["draft", "notify"][: done + 1]):
        Step.objects.create(
            run=run,
            node_id=node_id,
            type="llm" if node_id == "draft" else "tool",
            position=position,
            status="completed" if position < done else "running",
            finished_at=timezone.now() if position < done else None,
        )
    return run


def poll(client, run, **params):
    query = "&".join(
        f"{k}={v}" for k, values in params.items() for v in (values if isinstance(values, list) else [values])
    )
    return client.get(f"/acme/ai/runs/{run.run_id}?fragment=live&{query}", **HTMX)


def test_live_page_polls_only_its_header_and_marks_running_rows(operator_client, source):
    run = running_run(source.version)
    html = operator_client.get(f"/acme/ai/runs/{run.run_id}").content.decode()
    header = html[html.index('<div id="trace-live"') :]
    assert header.index('hx-trigger="every 1s"') < header.index("<header")
    assert 'hx-include="#trace-steps input"' in header
    assert html.count('name="running"') == 1 and 'name="running" value="1"' in html
    assert '<input type="hidden" name="after" value="1">' in html


def test_live_poll_replaces_the_inside_of_rows_shown_as_running(operator_client, source):
    run = running_run(source.version)
    Step.objects.filter(run=run, node_id="notify").update(status="completed", finished_at=timezone.now())
    html = poll(operator_client, run, after=1, running=1).content.decode()
    assert '<div hx-swap-oob="innerHTML:#step-notify"><summary id="summary-notify">' in html
    assert "#step-draft" not in html and "<details" not in html  # the open <details> itself is kept
    assert 'name="running"' not in html and "trace-steps-tail" not in html


def test_live_poll_appends_rows_recorded_after_the_last_one_shown(operator_client, source):
    run = running_run(source.version)
    html = poll(operator_client, run, after=0).content.decode()
    assert '<div hx-swap-oob="beforebegin:#trace-steps-tail"><details class="step" id="step-notify">' in html
    assert '<div id="trace-steps-tail" hx-swap-oob="true">' in html and 'name="after" value="1"' in html
    assert "step-draft" not in html


def test_live_poll_leaves_new_rows_to_a_pending_load_more(operator_client, source):
    run = running_run(source.version)
    html = poll(operator_client, run, after=0, more=1).content.decode()
    assert "step-notify" not in html and "trace-steps-tail" not in html
    assert '<dd id="steps-completed">1 / 2 completed</dd>' in html


def test_live_poll_ends_with_286_once_the_run_is_final(operator_client, source):
    response = poll(operator_client, source, after=0, running=0)
    html = response.content.decode()
    assert response.status_code == 286 and "every 1s" not in html
    assert "innerHTML:#step-draft" in html and "badge-completed" in html


def test_live_poll_queries_do_not_grow_with_the_rows_it_appends(operator_client, acme, django_assert_max_num_queries):
    run = finished_run(chain_workflow(acme, 200)[0])
    with django_assert_max_num_queries(8):
        html = poll(operator_client, run, after=-1).content.decode()
    assert html.count('<details class="step"') == 200


def test_live_poll_of_another_workspace_is_403(client, source, outsider):
    client.force_login(outsider)
    assert poll(client, source, after=0).status_code == 403


def test_row_selector_escapes_node_ids_with_dots(source):
    from runs.web.presenters import StepRow, timeline

    step = Step(run=source, node_id="fetch.v2", position=0, started_at=timezone.now())
    assert StepRow(step, timeline(source, [step]), []).selector == "#step-fetch\\.v2"


def test_rows_of_a_finished_run_are_built_once_then_read_from_the_cache(operator_client, source):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def steps_of(html):
        return html[html.index('<div id="trace-steps">') : html.index('<section class="lineage"')]

    first = operator_client.get(f"/acme/ai/runs/{source.run_id}").content.decode()
    with CaptureQueriesContext(connection) as queries:
        second = operator_client.get(f"/acme/ai/runs/{source.run_id}").content.decode()
    assert steps_of(first) == steps_of(second) and "step-notify" in steps_of(second)
    assert not [q for q in queries.captured_queries if "runs_toolcall" in q["sql"]]


def test_rows_of_an_in_flight_run_are_never_cached(operator_client, source):
    run = running_run(source.version)
    operator_client.get(f"/acme/ai/runs/{run.run_id}")
    Step.objects.filter(run=run, node_id="draft").update(output="changed after the first view")
    assert "changed after the first view" in operator_client.get(f"/acme/ai/runs/{run.run_id}").content.decode()


def test_trace_queries_are_bounded_for_a_200_step_run(operator_client, acme, django_assert_max_num_queries):
    version, _ = chain_workflow(acme, 200)
    run = finished_run(version)
    assert run.steps.count() == 200
    with django_assert_max_num_queries(12):
        response = operator_client.get(f"/acme/ai/runs/{run.run_id}")
    assert response.content.decode().count('class="step"') == 200


def test_trace_loads_steps_beyond_the_first_page_on_demand(operator_client, acme):
    version, _ = chain_workflow(acme, 230)
    run = finished_run(version)
    html = operator_client.get(f"/acme/ai/runs/{run.run_id}").content.decode()
    assert html.count('class="step"') == 200 and "Load more steps" in html
    more = operator_client.get(f"/acme/ai/runs/{run.run_id}/steps?after=199", **HTMX).content.decode()
    assert more.count('class="step"') == 30 and "Load more" not in more
    assert '<div id="trace-steps-tail">' in more and 'name="after" value="229"' in more


def test_replay_dialog_has_the_product_strings(operator_client, source):
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}/replay", **HTMX).content.decode()
    for text in (
        "Replay run",
        "Re-execute this run. Pick a replay mode below.",
        "Replay as-is",
        "Replay with new prompt",
        "Replay with new model",
        "Prompt artifact id",
        "Content hash",
        'placeholder="prompt_a1b2c3d4"',
        'placeholder="sha256:9f86d081884c7d65..."',
        "Model id",
        "Model ref",
        'placeholder="claude-opus-4-7"',
        'placeholder="anthropic:claude-opus-4-7"',
        "Workflow version",
        "Submit replay",
        "Mutating tool calls will dry-run. Set <code>policies.replay.allowMutations: true</code> per-node to opt in.",
    ):
        assert text in html, text


def test_replay_dialog_red_banner_when_a_policy_opts_in(operator_client, acme):
    source = finished_run(support_workflow(acme, allow_send=True)[0])
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}/replay", **HTMX).content.decode()
    assert "banner-danger" in html and "this replay WILL invoke mutating tool calls." in html
    assert "<code>policies.replay.allowMutations: true</code>: this replay WILL invoke mutating tool calls." in html


def test_replay_dialog_submit_success_answers_with_its_toast_out_of_band(operator_client, source):
    response = operator_client.post(
        f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is", "idempotency_key": "x1"}, **HTMX
    )
    assert response.status_code == 201 and response["HX-Reswap"] == "none"
    new = Run.objects.get(replay_of=source)
    event = response["HX-Trigger-After-Settle"]
    assert '"replaySubmitted"' in event and new.run_id in event
    html = response.content.decode().strip()
    assert html.startswith('<div hx-swap-oob="beforeend:#toasts"><div class="toast toast-success" role="status">')
    assert "<strong>Replay submitted</strong>" in html
    assert f'<p>New run: <a class="mono" href="/acme/ai/runs/{new.run_id}">{new.run_id}</a></p>' in html


def test_replay_dialog_submit_without_javascript_lands_on_the_new_run_with_the_toast(operator_client, source):
    response = operator_client.post(f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is"}, follow=True)
    new = Run.objects.get(replay_of=source)
    assert response.redirect_chain == [(f"/acme/ai/runs/{new.run_id}", 302)]
    assert (
        '<div class="toast toast-success" role="status"><strong>Replay submitted</strong>' in response.content.decode()
    )


def test_replay_words_are_written_once_in_replay_messages():
    from pathlib import Path

    from django.conf import settings

    from replay import messages

    for path in [
        *Path(settings.BASE_DIR, "templates").rglob("*.html"),
        *Path(settings.BASE_DIR, "static", "js").rglob("*.js"),
    ]:
        text = path.read_text()
        for words in (messages.SUBMITTED, messages.SUBMISSION_FAILED, "New run:"):
            assert words not in text, f"{path} copies {words!r}"


def test_replay_dialog_double_submit_creates_one_run(operator_client, source):
    for _ in range(2):
        operator_client.post(
            f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is", "idempotency_key": "same"}, **HTMX
        )
    assert Run.objects.filter(replay_of=source).count() == 1


def test_replay_dialog_rejection_keeps_the_status_and_shows_the_message(operator_client, source):
    running = run_in_status(source.version, "running")
    response = operator_client.post(f"/acme/ai/runs/{running.run_id}/replay", {"mode": "as_is"}, **HTMX)
    html = response.content.decode()
    assert (
        response.status_code == 409 and "Replay submission failed" in html and "Cannot replay an in-flight run" in html
    )
    toast = html[html.index('<div hx-swap-oob="beforeend:#toasts">') :]
    assert toast.startswith(
        '<div hx-swap-oob="beforeend:#toasts"><div class="toast toast-error" role="alert">'
        "<strong>Replay submission failed</strong><p>Cannot replay an in-flight run"
    )


def test_replay_dialog_post_by_a_viewer_is_403(client, source, viewer):
    client.force_login(viewer)
    response = client.post(f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is"}, **HTMX)
    assert response.status_code == 403 and not Run.objects.filter(replay_of=source).exists()


def test_csrf_is_enforced_on_the_replay_form(source, operator):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    assert client.post(f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is"}).status_code == 403


def test_monitoring_list_and_detail_have_no_replay_button(operator_client, source):
    for url in ("/acme/monitoring/workflow-runs", f"/acme/monitoring/workflow-runs/{source.run_id}"):
        html = operator_client.get(url).content.decode()
        assert "replay-button" not in html and "Replay <kbd>" not in html


def test_monitoring_shows_progress(operator_client, source):
    html = operator_client.get(f"/acme/monitoring/workflow-runs/{source.run_id}").content.decode()
    assert "2 / 2 steps" in html


def test_monitoring_pause_resume_cancel_in_place(operator_client, source):
    running = run_in_status(source.version, "running")
    base = f"/acme/monitoring/workflow-runs/{running.run_id}"
    assert "Run paused." in operator_client.post(base + "/pause", **HTMX).content.decode()
    assert "Run resumed." in operator_client.post(base + "/resume", **HTMX).content.decode()
    assert "Run cancelled." in operator_client.post(base + "/cancel", **HTMX).content.decode()
    conflict = operator_client.post(base + "/pause", **HTMX)
    assert conflict.status_code == 409 and "Cannot pause a cancelled run" in conflict.content.decode()


def test_monitoring_action_answers_the_status_and_the_notice_out_of_band(operator_client, source):
    running = run_in_status(source.version, "running")
    html = operator_client.post(f"/acme/monitoring/workflow-runs/{running.run_id}/pause", **HTMX).content.decode()
    assert html.index('<section id="run-status"') < html.index(
        '<div id="run-notice" role="status" hx-swap-oob="innerHTML">'
    )
    assert '<div class="alert alert-success">Run paused.</div>' in html
    assert '<button id="run-resume" type="submit" autofocus>Resume</button>' in html
    assert (
        f'<button id="run-cancel" class="danger js-confirm" type="submit" data-confirm-title="Cancel {running.run_id}?"'
        in html
    )


def test_monitoring_poll_leaves_the_notice_alone(operator_client, source):
    running = run_in_status(source.version, "running")
    html = operator_client.get(f"/acme/monitoring/workflow-runs/{running.run_id}?fragment=status", **HTMX)
    assert "run-notice" not in html.content.decode() and 'id="run-pause"' in html.content.decode()


def test_monitoring_action_without_javascript_keeps_its_notice_across_the_redirect(operator_client, source):
    running = run_in_status(source.version, "running")
    base = f"/acme/monitoring/workflow-runs/{running.run_id}"
    response = operator_client.post(base + "/pause", follow=True)
    assert response.redirect_chain == [(base, 302)]
    assert (
        '<div class="toast toast-success" role="status"><strong>Run paused.</strong></div>' in response.content.decode()
    )
    assert "Run paused." not in operator_client.get(base).content.decode()  # shown once


def test_monitoring_action_without_javascript_that_is_refused_keeps_its_status(operator_client, source):
    response = operator_client.post(f"/acme/monitoring/workflow-runs/{source.run_id}/pause")
    assert response.status_code == 409 and "Cannot pause a completed run" in response.content.decode()


def test_lists_have_captions(operator_client, source):
    assert '<caption class="sr-only">' in operator_client.get("/acme/ai/runs").content.decode()
    assert '<caption class="sr-only">' in operator_client.get("/acme/monitoring/workflow-runs").content.decode()


def test_trace_headings_are_not_inside_a_summary(operator_client, source):
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}").content.decode()
    assert '<h2 id="payload-heading">Trigger payload</h2>' in html
    assert "<summary><h" not in html and "<summary id" in html


def test_monitoring_action_by_a_viewer_is_403(client, source, viewer):
    running = run_in_status(source.version, "running")
    client.force_login(viewer)
    assert client.post(f"/acme/monitoring/workflow-runs/{running.run_id}/cancel").status_code == 403
    assert Run.objects.get(pk=running.pk).status == "running"


def test_security_headers(operator_client, source):
    response = operator_client.get(f"/acme/ai/runs/{source.run_id}")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY" and response["Referrer-Policy"] == "same-origin"
