"""What only a browser shows: the dialog, the r key, toasts, banners, live refresh."""

import re

import pytest
from playwright.sync_api import expect

from runs.models import Run, Step

from ..builders import finished_run, run_in_status, support_workflow
from ..worker import TOOLS_REACH_LOCAL_SERVER, celery_worker

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def source(acme):
    return finished_run(support_workflow(acme)[0])


def open_trace(page, run):
    page.goto(f"/acme/ai/runs/{run.run_id}")
    expect(page.locator("h1")).to_have_text(run.run_id)


def test_replay_button_opens_the_dialog(page_for, operator, source):
    page = page_for(operator)
    open_trace(page, source)
    page.get_by_role("button", name=re.compile("^Replay")).click()
    dialog = page.locator("#modal[open]")
    expect(dialog.get_by_role("heading", name="Replay run")).to_be_visible()
    expect(dialog).to_contain_text("Re-execute this run. Pick a replay mode below.")
    expect(dialog.get_by_label("Replay as-is")).to_be_checked()
    expect(dialog.get_by_role("button", name="Submit replay")).to_be_enabled()
    page.keyboard.press("Escape")
    expect(page.locator("#modal[open]")).to_have_count(0)
    assert page.errors == []


def test_r_key_opens_the_dialog_but_not_while_typing_or_when_open(page_for, operator, source):
    page = page_for(operator)
    open_trace(page, source)
    page.keyboard.press("r")
    expect(page.locator("#modal[open] #replay-form")).to_be_visible()
    page.get_by_label("Replay with new prompt").check()
    page.get_by_label("Prompt artifact id").fill("prompt_")
    page.get_by_label("Prompt artifact id").press("r")
    expect(page.get_by_label("Prompt artifact id")).to_have_value("prompt_r")
    expect(page.locator("#replay-form")).to_have_count(1)
    page.keyboard.press("Escape")
    page.evaluate("document.body.focus()")
    page.keyboard.press("r")
    expect(page.locator("#modal[open] #replay-form")).to_be_visible()
    assert page.errors == []


def test_each_mode_shows_its_fields_and_enables_submit_when_filled(page_for, operator, source):
    page = page_for(operator)
    open_trace(page, source)
    page.keyboard.press("r")
    submit = page.get_by_role("button", name="Submit replay")
    page.get_by_label("Replay with new prompt").check()
    expect(page.get_by_placeholder("prompt_a1b2c3d4")).to_be_visible()
    expect(page.get_by_placeholder("sha256:9f86d081884c7d65...")).to_be_visible()
    expect(submit).to_be_disabled()
    page.get_by_label("Prompt artifact id").fill("prompt_a1b2c3d4")
    expect(submit).to_be_disabled()
    page.get_by_label("Content hash").fill("sha256:" + "a" * 64)
    expect(submit).to_be_enabled()
    page.get_by_label("Replay with new model").check()
    expect(page.get_by_label("Prompt artifact id")).to_be_hidden()
    expect(page.get_by_placeholder("claude-opus-4-7", exact=True)).to_be_visible()
    expect(page.get_by_placeholder("anthropic:claude-opus-4-7")).to_be_visible()
    expect(submit).to_be_disabled()
    page.get_by_label("Model id").fill("gpt-5")
    page.get_by_label("Model ref").fill("openai:gpt-5")
    expect(submit).to_be_enabled()
    page.screenshot(path=str(_shot("dialog-model")))


def test_successful_submit_shows_the_toast_and_links_the_new_run(page_for, operator, source):
    page = page_for(operator)
    open_trace(page, source)
    page.keyboard.press("r")
    page.get_by_role("button", name="Submit replay").click()
    toast = page.locator(".toast")
    expect(toast).to_contain_text("Replay submitted")
    new = Run.objects.get(replay_of=source)
    expect(toast).to_contain_text(f"New run: {new.run_id}")
    expect(page.locator("#modal[open]")).to_have_count(0)
    toast.get_by_role("link", name=new.run_id).click()
    expect(page).to_have_url(re.compile(f"/acme/ai/runs/{new.run_id}$"))
    expect(page.locator(".lineage")).to_contain_text(f"Replay of {source.run_id}")


def test_double_click_submits_once(page_for, operator, source):
    page = page_for(operator)
    open_trace(page, source)
    page.keyboard.press("r")
    page.get_by_role("button", name="Submit replay").dblclick()
    expect(page.locator(".toast").first).to_contain_text("Replay submitted")
    page.wait_for_timeout(300)
    assert Run.objects.filter(replay_of=source).count() == 1


def test_rejected_submit_shows_replay_submission_failed(page_for, operator, source, settings):
    from ..builders import submit_replay

    settings.REPLAY_QUOTA_RATE = "1/m"
    page = page_for(operator)
    open_trace(page, source)
    page.keyboard.press("r")
    submit = page.locator("#modal[open]").get_by_role("button", name="Submit replay")
    expect(submit).to_be_enabled()
    submit_replay(user=operator, run=source, request={"mode": "as_is"})  # another tab takes the last one
    submit.click()
    expect(page.locator("#replay-error")).to_contain_text("Replay submission failed")
    expect(page.locator("#replay-error")).to_contain_text("Replay quota exceeded")
    expect(page.locator(".toast-error")).to_contain_text("Replay quota exceeded")
    # The dialog answered with the plan as it is now: Submit waits, saying why (issue 28).
    expect(page.locator("#submit-why")).to_have_text("Replay quota exceeded")
    expect(submit).to_be_disabled()
    page.screenshot(path=str(_shot("dialog-rejected")))


def test_run_that_became_in_flight_is_rejected_with_409(page_for, operator, source):
    page = page_for(operator)
    open_trace(page, source)
    page.keyboard.press("r")
    expect(page.get_by_role("button", name="Submit replay")).to_be_enabled()  # the plan shown refuses nothing
    Run.objects.filter(pk=source.pk).update(status="running")  # an API race: it is running again
    page.get_by_role("button", name="Submit replay").click()
    expect(page.locator("#replay-error")).to_contain_text("Cannot replay an in-flight run")


def test_default_banner_and_red_banner(page_for, operator, acme, source):
    page = page_for(operator)
    open_trace(page, source)
    page.keyboard.press("r")
    banner = page.locator("#mutation-banner")
    expect(banner).to_contain_text(
        "Mutating tool calls will dry-run. Set policies.replay.allowMutations: true per-node to opt in."
    )
    page.keyboard.press("Escape")
    opted_in = finished_run(support_workflow(acme, allow_send=True)[0])
    open_trace(page, opted_in)
    page.keyboard.press("r")
    red = page.locator("#mutation-banner .banner-danger")
    expect(red).to_contain_text("policies.replay.allowMutations: true: this replay WILL invoke mutating tool calls.")
    color = red.evaluate("el => getComputedStyle(el).backgroundColor")
    assert color == "rgb(198, 40, 40)"
    page.screenshot(path=str(_shot("dialog-red-banner")))


def test_replay_button_disabled_for_in_flight_run(page_for, operator, source):
    page = page_for(operator)
    running = run_in_status(source.version, "paused")
    page.goto(f"/acme/ai/runs/{running.run_id}")
    expect(page.locator("#replay-button")).to_be_disabled()
    page.keyboard.press("r")
    expect(page.locator("#modal[open]")).to_have_count(0)


def test_html_in_outputs_and_payloads_never_runs(page_for, operator, acme):
    version, _ = support_workflow(acme)
    run = finished_run(
        version, payload={"name": "<script>alert(1)</script>", "email": '"><img src=x onerror=alert(2)>'}
    )
    Step.objects.filter(run=run, node_id="draft").update(output="<script>alert(3)</script>{{ 7|add:1 }}")
    page = page_for(operator)
    open_trace(page, run)
    page.locator("#step-draft summary").click()
    expect(page.locator("#step-draft pre").nth(1)).to_have_text("<script>alert(3)</script>{{ 7|add:1 }}")
    page.locator(".payload summary").click()
    expect(page.locator(".payload pre")).to_contain_text("<script>alert(1)</script>")
    assert page.errors == []


def test_trace_refreshes_by_itself_while_the_run_executes(page_for, operator, acme, local_server):
    from runs import services

    from ..test_worker_integration import slow_workflow

    version = slow_workflow(acme, local_server.url, steps=4, seconds=0.5)
    page = page_for(operator)
    with celery_worker(env=TOOLS_REACH_LOCAL_SERVER):
        run = services.trigger_run(workflow=version.workflow, payload={"name": "x"})
        page.goto(f"/acme/ai/runs/{run.run_id}")
        expect(page.locator("#step-s0")).to_be_visible(timeout=10_000)
        expect(page.locator("#step-s3 .badge-completed")).to_be_visible(timeout=15_000)
        expect(page.locator(".trace-header .badge-completed")).to_be_visible()
    page.screenshot(path=str(_shot("trace-live")), full_page=True)


def test_dialog_is_usable_on_a_narrow_screen(page_for, operator, source):
    page = page_for(operator, width=390, height=800)
    open_trace(page, source)
    page.keyboard.press("r")
    expect(page.get_by_role("button", name="Submit replay")).to_be_in_viewport()
    page.screenshot(path=str(_shot("dialog-narrow")))


def _shot(name):
    from django.conf import settings

    folder = settings.VAR_DIR / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.png"


def test_rerun_from_here_opens_the_dialog_with_its_plan_and_submits_what_it_shows(page_for, operator, acme):
    from ..builders import chain_workflow

    source = finished_run(chain_workflow(acme, length=3)[0])
    page = page_for(operator)
    open_trace(page, source)
    page.locator("#step-n2 summary").click()
    page.locator("#step-n2").get_by_role("button", name="Rerun from here").click()
    dialog = page.locator("#modal[open]")
    expect(dialog.get_by_label("Start from")).to_have_value("n2")
    expect(dialog.locator("#plan-panel")).to_contain_text("Will run 1 · Reused 2")
    dialog.get_by_label("Start from").select_option("n1")
    expect(dialog.locator("#plan-panel")).to_contain_text("Will run 2 · Reused 1")
    page.screenshot(path=_shot("dialog-plan-rerun-from"), full_page=True)
    dialog.get_by_role("button", name="Submit replay").click()
    expect(page.locator("#toasts")).to_contain_text("Replay submitted")
    replay = Run.objects.get(replay_of=source)
    assert replay.replay_plan["from_nodes"] == ["n1"]
    assert page.errors == []


def test_the_payload_editor_checks_json_as_you_type_and_resets(page_for, operator, source):
    page = page_for(operator)
    open_trace(page, source)
    page.keyboard.press("r")
    dialog = page.locator("#modal[open]")
    dialog.get_by_text("Edit trigger payload").click()
    editor = dialog.get_by_label("Trigger payload (JSON)")
    editor.fill('{\n  "name": }')
    expect(dialog.locator("#payload-error")).to_contain_text("line 2")
    expect(dialog.get_by_role("button", name="Submit replay")).to_be_disabled()
    editor.fill('{"name": "Ana", "email": "ana@example.com"}')
    expect(dialog.locator("#payload-error")).to_have_text("")
    expect(dialog.locator("#plan-panel")).to_contain_text("Trigger payload, against the original")
    page.screenshot(path=_shot("dialog-payload-edited"), full_page=True)
    dialog.get_by_role("button", name="Reset to original").click()
    expect(editor).to_have_value(re.compile('"name": "Dana"'))
    expect(dialog.get_by_role("button", name="Submit replay")).to_be_enabled()
    assert page.errors == []
