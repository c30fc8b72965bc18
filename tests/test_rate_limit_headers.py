"""The replay quota spoken in HTTP: Retry-After and the IETF RateLimit-Policy / RateLimit fields."""

import json
import re

import pytest

from .builders import finished_run, support_workflow


@pytest.fixture
def source(acme):
    return finished_run(support_workflow(acme)[0])


def replay(client, run_id, key=""):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    url = f"/api/v1/acme/runs/{run_id}/replays"
    return client.post(url, data=json.dumps({"mode": "as_is"}), content_type="application/json", **headers)


def test_submit_carries_the_quota_left(api, source, settings):
    settings.REPLAY_QUOTA_RATE = "3/m"
    response = replay(api, source.run_id)
    assert response.status_code == 201
    assert response["RateLimit-Policy"] == '"replay";q=3;w=60'
    assert re.fullmatch(r'"replay";r=2;t=\d+', response["RateLimit"]) and "Retry-After" not in response


def test_quota_429_says_when_the_window_admits_one_more(api, source, settings, ratelimit_clock):
    settings.REPLAY_QUOTA_RATE = "1/m"
    replay(api, source.run_id)
    refused = replay(api, source.run_id)
    wait = int(refused["Retry-After"])
    assert refused.status_code == 429 and refused.json()["error"]["message"] == "Replay quota exceeded"
    assert refused["RateLimit"] == f'"replay";r=0;t={wait}' and 1 <= wait <= 60
    ratelimit_clock.advance(wait - 1)
    assert replay(api, source.run_id).status_code == 429
    ratelimit_clock.advance(1)
    assert replay(api, source.run_id).status_code == 201


def test_idempotent_retry_carries_rate_limit_without_using_quota(api, source, settings):
    settings.REPLAY_QUOTA_RATE = "1/m"
    replay(api, source.run_id, key="k1")
    again = replay(api, source.run_id, key="k1")
    assert again.status_code == 200 and again["RateLimit"].startswith('"replay";r=0;')


def test_depth_429_has_no_retry_after_and_keeps_its_message(api, acme):
    version, _ = support_workflow(acme)
    deep = finished_run(version, replay_depth=5, mode="as_is")
    refused = replay(api, deep.run_id)
    assert refused.status_code == 429 and refused.json()["error"]["message"] == "Replay chain exceeded depth limit"
    assert "Retry-After" not in refused and "RateLimit" not in refused


def test_the_dialogs_quota_429_says_when_to_come_back_too(operator_client, source, settings):
    settings.REPLAY_QUOTA_RATE = "1/m"
    url = f"/acme/ai/runs/{source.run_id}/replay"
    operator_client.post(url, {"mode": "as_is"}, HTTP_HX_REQUEST="true")
    refused = operator_client.post(url, {"mode": "as_is"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 429 and "Replay quota exceeded" in refused.content.decode()
    assert 1 <= int(refused["Retry-After"]) <= 60 and refused["RateLimit"].startswith('"replay";r=0;')
