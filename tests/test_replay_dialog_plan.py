"""The Replay dialog's plan: the Start from select, the plan panel, the confirmation of real invocations."""

from runs.models import Run

from .builders import chain_workflow, finished_run, support_workflow


def dialog(client, run, **params):
    return client.get(f"/acme/ai/runs/{run.run_id}/replay", params, HTTP_HX_REQUEST="true").content.decode()


def test_the_dialog_offers_every_node_to_start_from_the_first_selected(operator_client, acme):
    source = finished_run(chain_workflow(acme, length=3)[0])
    html = dialog(operator_client, source)
    assert '<select id="from_node" name="from_node">' in html
    assert '<option value="" selected>n0 (the first node: every node runs)</option>' in html
    assert '<option value="n2">n2</option>' in html


def test_rerun_from_here_preselects_the_node_and_the_plan_reuses_what_comes_before(operator_client, acme):
    source = finished_run(chain_workflow(acme, length=3)[0])
    html = dialog(operator_client, source, from_node="n2")
    assert '<option value="n2" selected>n2</option>' in html
    assert "Will run 1 · Reused 2" in html and 'name="plan_version" value="plan_' in html


def test_a_failed_run_starts_from_its_failed_node(operator_client, acme):
    from runs import services

    from .builders import llm, tool
    from .factories import PromptRevisionFactory

    revision = PromptRevisionFactory(artifact__workspace=acme, content="{{ trigger.name }}")
    version = services.create_workflow(
        workspace=acme,
        name="Failing",
        nodes=[llm("first", revision), tool("fetch", "http.get", {"url": "http://127.0.0.1:9/"}, after=["first"])],
    )
    source = finished_run(version)
    assert source.status == "failed"
    assert '<option value="fetch" selected>fetch</option>' in dialog(operator_client, source)


def test_the_plan_panel_rerenders_for_the_posted_fields(operator_client, acme):
    source = finished_run(chain_workflow(acme, length=3)[0])
    response = operator_client.post(
        f"/acme/ai/runs/{source.run_id}/replay/plan", {"mode": "as_is", "from_node": "n1"}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'id="plan-panel"' in html and "Will run 2 · Reused 1" in html
    assert "replays left this minute" in html


def test_a_plan_that_invokes_a_mutating_call_asks_for_confirmation(operator_client, acme):
    source = finished_run(support_workflow(acme, allow_send=True)[0])
    html = dialog(operator_client, source)
    assert 'name="confirm_invoke"' in html and "<code>notify</code> (messages.send)" in html
    assert "this replay WILL invoke mutating tool calls." in html  # the product page's red banner stays


def test_a_dry_run_plan_needs_no_confirmation(operator_client, acme):
    source = finished_run(support_workflow(acme)[0])
    html = dialog(operator_client, source)
    assert 'name="confirm_invoke"' not in html and "dry-run" in html


def test_submitting_from_the_dialog_follows_the_plan_shown(operator_client, acme):
    source = finished_run(chain_workflow(acme, length=3)[0])
    html = dialog(operator_client, source, from_node="n2")
    version = html.split('name="plan_version" value="')[1].split('"')[0]
    response = operator_client.post(
        f"/acme/ai/runs/{source.run_id}/replay",
        {"mode": "as_is", "from_node": "n2", "plan_version": version, "idempotency_key": "k"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 201
    replay = Run.objects.get(replay_of=source)
    assert replay.replay_plan["version"] == version and replay.replay_plan["from_nodes"] == ["n2"]


def test_a_stale_plan_version_from_the_dialog_says_the_plan_changed(operator_client, acme):
    source = finished_run(chain_workflow(acme, length=3)[0])
    response = operator_client.post(
        f"/acme/ai/runs/{source.run_id}/replay",
        {"mode": "as_is", "from_node": "n2", "plan_version": "plan_" + "0" * 16, "idempotency_key": "k"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 409
    assert "The replay plan changed since it was shown; review it again." in response.content.decode()


def test_each_step_of_an_operators_finished_trace_can_rerun_from_there(operator_client, acme):
    source = finished_run(support_workflow(acme)[0])
    html = operator_client.get(f"/acme/ai/runs/{source.run_id}").content.decode()
    assert 'class="trace-page" data-can-replay' in html and 'data-node="notify">Rerun from here</button>' in html


def test_a_plan_that_calls_no_model_estimates_one_figure_not_a_range(operator_client, acme):
    source = finished_run(support_workflow(acme)[0])
    html = dialog(operator_client, source, from_node="notify")
    assert "Will run 1 · Reused 1 · Estimated cost $0 ·" in html


def test_the_dialog_of_a_long_run_takes_a_bounded_number_of_queries(
    operator_client, acme, django_assert_max_num_queries
):
    source = finished_run(chain_workflow(acme, length=30)[0])
    with django_assert_max_num_queries(9):  # the run is read once, the preview reuses it
        assert '<option value="n29">n29</option>' in dialog(operator_client, source)


def test_the_plan_panel_of_a_long_run_takes_a_bounded_number_of_queries(
    operator_client, acme, django_assert_max_num_queries
):
    source = finished_run(chain_workflow(acme, length=30)[0])
    url = f"/acme/ai/runs/{source.run_id}/replay/plan"
    for fields in ({"mode": "as_is"}, {"mode": "as_is", "from_node": "n15"}):
        with django_assert_max_num_queries(5):  # session, user, membership, run, its recorded steps
            assert "Will run" in operator_client.post(url, fields, HTTP_HX_REQUEST="true").content.decode()
