"""Issue 27, items 7 and 8: one integer parser for every integer parameter, and a crafted cursor is never a 500."""

import base64
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from runs.integers import ascii_int

from ..builders import executed_replay, finished_run, renaming_version, support_workflow
from ..hostile import HOSTILE_INTEGERS, NON_ASCII_DIGITS

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
integer_texts = NON_ASCII_DIGITS | HOSTILE_INTEGERS | st.integers(-(2**70), 2**70).map(str)
# What Python's int() would say, or pydantic: a 400 speaks the product's words instead.
LEAKS = ("invalid literal", "int()", "pydantic", "Input should", "OverflowError", "Traceback")


@pytest.fixture
def source(acme):
    version, _ = support_workflow(acme)
    renaming_version(version)
    return finished_run(version)


@pytest.fixture
def replay(source, operator):
    return executed_replay(user=operator, run=source, request={"mode": "as_is"})


@pytest.mark.parametrize("raw", ["²", "١٢", "𝟙", str(2**63), "9" * 40, "1e3"])
def test_a_replay_plan_with_a_target_version_that_is_not_ascii_digits_is_a_400_in_its_own_words(api, source, raw):
    response = api.get(f"/api/v1/acme/runs/{source.run_id}/replay-plan?target_version={quote(raw)}")
    error = response.json()["error"]
    assert response.status_code == 400 and error["field"] == "target_version"
    assert error["message"] == "target_version must be a workflow version number (a positive integer)."


@pytest.mark.parametrize("path", ["/replay?target_version={}", "/replay/mapping?target_version={}"])
@pytest.mark.parametrize("raw", ["²", "١", str(2**63)])
def test_the_dialog_routes_answer_a_non_ascii_target_version_with_a_400(operator_client, source, path, raw):
    response = operator_client.get(f"/acme/ai/runs/{source.run_id}" + path.format(quote(raw)), **HTMX)
    assert response.status_code == 400


@pytest.mark.parametrize("raw", ["²", "١٢", str(2**63), "9" * 40])
def test_the_steps_fragment_reads_a_bad_position_as_the_first_page(operator_client, source, raw):
    response = operator_client.get(f"/acme/ai/runs/{source.run_id}/steps?after={quote(raw)}", **HTMX)
    assert response.status_code == 200


@pytest.mark.parametrize("raw", ["²", "١٢", str(2**63), "9" * 40])
def test_the_live_fragment_ignores_a_bad_position(operator_client, source, raw):
    url = f"/acme/ai/runs/{source.run_id}?fragment=live&after={quote(raw)}&running={quote(raw)}&running=0"
    assert operator_client.get(url, **HTMX).status_code in (200, 286)


@pytest.mark.parametrize("raw", ["²", "١٢", str(2**63), "9" * 40])
def test_compare_reads_a_bad_offset_as_the_first_rows(operator_client, replay, raw):
    response = operator_client.get(f"/acme/ai/runs/{replay.run_id}/compare?offset={quote(raw)}")
    assert response.status_code == 200


@pytest.mark.parametrize("raw", ["²", "١٢", str(2**63), "-1"])
def test_the_run_lists_limit_is_a_400_in_its_own_words(api, source, raw):
    response = api.get(f"/api/v1/acme/runs?limit={quote(raw)}")
    error = response.json()["error"]
    assert response.status_code == 400 and error["field"] == "limit"
    assert not any(leak in error["message"] for leak in LEAKS)


@given(raw=integer_texts)
def test_ascii_int_reads_ascii_digits_within_the_range_and_nothing_else(raw):
    number = ascii_int(raw, low=-(2**62), high=2**62)
    text = raw.strip()
    digits = text.removeprefix("-")
    if number is not None:
        assert digits.isascii() and digits.isdigit() and int(text) == number
    elif digits.isascii() and digits.isdigit() and digits:
        assert abs(int(text)) > 2**62 or len(digits) > 18


@hsettings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=integer_texts, where=st.sampled_from(["steps", "live", "compare", "plan", "dialog", "list"]))
def test_any_integer_parameter_is_never_a_500(raw, where, operator_client, api, source):
    run = source.run_id
    value = quote(raw)
    urls = {
        "steps": (operator_client, f"/acme/ai/runs/{run}/steps?after={value}"),
        "live": (operator_client, f"/acme/ai/runs/{run}?fragment=live&after={value}&running={value}"),
        "compare": (operator_client, f"/acme/ai/runs/{run}/compare?offset={value}"),
        "plan": (api, f"/api/v1/acme/runs/{run}/replay-plan?target_version={value}"),
        "dialog": (operator_client, f"/acme/ai/runs/{run}/replay?target_version={value}"),
        "list": (api, f"/api/v1/acme/runs?limit={value}"),
    }
    client, url = urls[where]
    response = client.get(url, **HTMX)
    assert response.status_code < 500
    assert not any(leak in response.content.decode() for leak in LEAKS)


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


OUT_OF_RANGE = [
    cursor("o0001-01-01T00:00:00+01:00|run_0123456789ab"),
    cursor("n9999-12-31T23:59:59-14:00|run_0123456789ab"),
    cursor("o0001-01-01T00:30:00+23:59|run_0123456789ab"),
]


@pytest.mark.parametrize("crafted", OUT_OF_RANGE)
def test_a_cursor_with_an_out_of_range_time_is_a_400_naming_cursor_in_the_api(api, source, crafted):
    response = api.get(f"/api/v1/acme/runs?cursor={crafted}")
    assert response.status_code == 400 and response.json()["error"]["field"] == "cursor"


@pytest.mark.parametrize("page", ["/acme/ai/runs", "/acme/monitoring/workflow-runs"])
@pytest.mark.parametrize("crafted", OUT_OF_RANGE)
def test_a_cursor_with_an_out_of_range_time_shows_the_first_page(operator_client, source, page, crafted):
    response = operator_client.get(f"{page}?cursor={crafted}")
    assert response.status_code == 200 and source.run_id in response.content.decode()
