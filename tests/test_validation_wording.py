"""A refused field is named in the API's own words, never pydantic's ("Field required", "Input should be …")."""

import json

import pytest

from .builders import support_workflow
from .cohorts import body

pytestmark = pytest.mark.django_db

COHORTS = "/api/v1/acme/cohorts/preview"


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


def refusal(api, data) -> dict:
    response = api.post(COHORTS, json.dumps(data), content_type="application/json")
    assert response.status_code == 400, response.content
    return response.json()["error"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": None}, "name", "name must be a string."),
        ({"run_ids": []}, "run_ids", "run_ids needs at least 1 item(s)."),
        ({"canary": "a few"}, "canary", "canary must be a whole number."),
        ({"baseline_percent": 101}, "baseline_percent", "baseline_percent must be at most 100."),
        (
            {"filter": {"from": "2026-11-01T00:00:00Z", "to": "2026-12-01T00:00:00Z", "lineage": "all"}},
            "filter.lineage",
            "filter.lineage must be one of 'replays' or 'originals'.",
        ),
        (
            {"filter": {"from": "yesterday"}},
            "filter.from",
            "filter.from must be a time in ISO 8601, e.g. 2026-11-30T10:00:00Z.",
        ),
        ({"replay": []}, "replay", "replay must be a JSON object."),
    ],
)
def test_a_refused_field_is_named_in_plain_words(api, version, change, field, message):
    error = refusal(api, {**body(version.workflow, run_ids=["run_0123456789ab"]), **change})
    assert (error["field"], error["message"]) == (field, message)


def test_a_missing_field_is_said_to_be_required(api, version):
    data = body(version.workflow, run_ids=["run_0123456789ab"])
    del data["name"]
    assert refusal(api, data)["message"] == "name is required."
