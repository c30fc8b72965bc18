"""The compare page's Checks panel: checks kept in the URL, added by a small form, a regression marked."""

import json
import re
from html import unescape
from urllib.parse import parse_qs, urlparse

import pytest

from .builders import executed_replay, finished_run, support_workflow

MODEL_REPLAY = {"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}
# The simulator names the model in its output: the original's draft mentions Claude, the replay's does not.
NAMES_CLAUDE = {"node": "draft", "kind": "contains", "value": "claude-opus-4-7"}


@pytest.fixture
def replay(acme, operator):
    source = finished_run(support_workflow(acme)[0])
    return executed_replay(user=operator, run=source, request=MODEL_REPLAY)


def page(client, replay, **query):
    return client.get(f"/acme/ai/runs/{replay.run_id}/compare", query)


def test_the_checks_in_the_url_are_shown_for_both_runs_with_the_regression_marked(operator_client, replay):
    response = page(
        operator_client, replay, checks=json.dumps([NAMES_CLAUDE, {"node": "notify", "kind": "json_valid"}])
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count('<tr class="check-result') == 2 and html.count('<tr class="check-result regression">') == 1
    assert "The output does not contain &quot;claude-opus-4-7&quot;." in html


def test_adding_a_check_redirects_to_the_url_that_holds_it(operator_client, replay):
    existing = json.dumps([NAMES_CLAUDE])
    response = page(
        operator_client, replay, checks=existing, add="1", node="draft", kind="regex", value=r"#[0-9a-f]{8}", path=""
    )
    assert response.status_code == 302
    location = urlparse(response["Location"])
    assert location.path == f"/acme/ai/runs/{replay.run_id}/compare"
    assert json.loads(parse_qs(location.query)["checks"][0]) == [
        NAMES_CLAUDE,
        {"kind": "regex", "node": "draft", "pattern": "#[0-9a-f]{8}"},
    ]


def test_a_refused_check_is_400_with_the_reason_beside_the_form(operator_client, replay):
    response = page(operator_client, replay, add="1", node="draft", kind="regex", value="(unclosed")
    html = response.content.decode()
    assert response.status_code == 400
    assert "pattern is not a valid regular expression: missing ), unterminated subpattern" in html
    assert '<textarea name="value" rows="1" aria-invalid="true">(unclosed</textarea>' in html


def test_a_form_value_that_is_not_a_number_is_refused(operator_client, replay):
    response = page(operator_client, replay, add="1", node="draft", kind="max_latency_ms", value="fast")
    assert response.status_code == 400 and "&#x27;fast&#x27; is not a number." in response.content.decode()


def test_malformed_checks_in_a_link_are_said_and_the_page_still_shows(operator_client, replay):
    response = page(operator_client, replay, checks='[{"kind": "nope"}]')
    html = response.content.decode()
    assert response.status_code == 200 and "checks[0].kind: &#x27;nope&#x27; is not one of" in html
    assert 'class="compare-row' in html


def test_each_check_links_to_the_page_without_it(operator_client, replay):
    checks = [NAMES_CLAUDE, {"kind": "tool_calls_unchanged"}]
    html = page(operator_client, replay, checks=json.dumps(checks)).content.decode()
    remove = html.split('class="remove" href="')[1].split('"')[0].replace("&amp;", "&")
    assert json.loads(parse_qs(urlparse(remove).query)["checks"][0]) == [checks[1]]


def test_the_checks_panel_adds_no_query_to_the_page(operator_client, replay, django_assert_max_num_queries):
    page(operator_client, replay)  # warm: sessions, content types
    with django_assert_max_num_queries(len(_queries(operator_client, replay))):  # the comparison's steps are read
        page(operator_client, replay, checks=json.dumps([NAMES_CLAUDE] * 10))


def _queries(client, replay):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        page(client, replay)
    return captured.captured_queries


def test_the_live_fragment_of_runs_in_flight_carries_the_checks(operator_client, replay):
    response = operator_client.get(
        f"/acme/ai/runs/{replay.run_id}/compare",
        {"checks": json.dumps([NAMES_CLAUDE]), "fragment": "live"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert '<tr class="check-result regression">' in html and "<html" not in html


def test_a_multiline_value_is_kept_with_the_line_breaks_outputs_have(operator_client, replay):
    response = page(operator_client, replay, add="1", node="draft", kind="equals", value="Dear Dana,\r\nthanks")
    [check] = json.loads(parse_qs(urlparse(response["Location"]).query)["checks"][0])
    assert check["value"] == "Dear Dana,\nthanks"


def test_the_panels_checks_open_a_cohort_of_the_workflow_with_them_in_its_box(operator_client, replay):
    declared = [NAMES_CLAUDE]
    html = page(operator_client, replay, checks=json.dumps(declared)).content.decode()
    link = re.search(r'<a href="([^"]+)" id="checks-to-cohort">', html)
    assert link is not None
    target = urlparse(unescape(link.group(1)))
    query = parse_qs(target.query)
    assert target.path == "/acme/ai/cohorts/new" and query["workflow"] == [replay.workflow.workflow_id]
    assert query["status"] == ["completed"]
    assert json.loads(query["checks"][0]) == declared
    form = operator_client.get(unescape(link.group(1))).content.decode()
    assert '<span class="mono">draft</span> contains {&quot;value&quot;: &quot;claude-opus-4-7&quot;}' in form
    assert '<input type="checkbox" name="status" value="completed" checked>' in form


def test_a_viewer_is_not_offered_a_cohort(client, viewer, replay):
    client.force_login(viewer)
    response = page(client, replay, checks=json.dumps([NAMES_CLAUDE]))
    html = response.content.decode()
    assert response.status_code == 200 and '<tr class="check-result' in html and 'id="checks-to-cohort"' not in html


@pytest.mark.parametrize("value", ["１２", "١٢", "²"])
def test_a_figure_written_in_non_ascii_digits_is_refused(operator_client, replay, value):
    response = page(operator_client, replay, add="1", node="draft", kind="max_length", value=value)
    assert response.status_code == 400 and "is not a number." in response.content.decode()


def test_the_forms_kinds_are_named_as_the_api_and_the_cohort_verdict_name_them(operator_client, replay):
    html = page(operator_client, replay).content.decode()
    options = dict(re.findall(r'<option value="([a-z_]+)" data-value-hint[^>]*>([^<]+)</option>', html))
    assert options["max_latency_ms"] == "max_latency_ms"
    assert options["similar_to_original"] == "similar_to_original (against the original)"
