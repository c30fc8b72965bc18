"""Concurrent replay submissions through real gunicorn processes: exact quota, one run per key, no in-flight replay."""

import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx
import pytest
from django.conf import settings

from runs.models import ApiToken, Run

from ..builders import finished_run, run_in_status, support_workflow
from .gunicorn import gunicorn

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

QUOTA_WINDOW = 10  # seconds: "20 per minute" with a shorter window, so "the next window" is a short wait
SHARED_CACHE = bool(settings.REDIS_URL)


def web_processes():
    """Four processes share the Redis cache; the embedded default's local-memory cache is exact in one process."""
    return {"workers": 4, "threads": 1} if SHARED_CACHE else {"workers": 1, "threads": 16}


def token_for(user) -> str:
    return ApiToken.issue(user)[1]


def burst(base, requests, headers_for=lambda i: {}):
    """Fires every (url, token) at once from its own connection; returns the responses in order."""
    barrier = Barrier(len(requests))

    def one(i):
        url, token = requests[i]
        with httpx.Client(base_url=base, timeout=30) as client:
            barrier.wait()
            return client.post(
                url, json={"mode": "as_is"}, headers={"Authorization": f"Bearer {token}", **headers_for(i)}
            )

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(one, range(len(requests))))


def seconds_left_in_window(workspace_id: int) -> float:
    """django-ratelimit's fixed window for the workspace's quota key, computed as it does."""
    now = time.time()
    ts = int(now)
    end = ts - (ts % QUOTA_WINDOW) + (zlib.crc32(f"workspace:{workspace_id}".encode()) % QUOTA_WINDOW)
    if end < ts:
        end += QUOTA_WINDOW
    return end + 1 - now  # the window named `end` still counts during the second that starts at `end`


def at_start_of_a_window(workspace_id: int, needed: float = 8.0) -> None:
    """Wait for a fresh window when less than `needed` of it is left: a burst of 45 on a busy machine takes seconds."""
    left = seconds_left_in_window(workspace_id)
    if left < needed:
        time.sleep(left + 0.2)


def test_quota_is_exact_under_40_concurrent_submits_and_other_workspaces_are_unaffected(
    acme, globex, operator, outsider
):
    source = finished_run(support_workflow(acme)[0])
    other = finished_run(support_workflow(globex)[0])
    mine, theirs = token_for(operator), token_for(outsider)
    acme_url = f"/api/v1/acme/runs/{source.run_id}/replays"
    globex_url = f"/api/v1/globex/runs/{other.run_id}/replays"
    with gunicorn(**web_processes(), env={"REPLAY_QUOTA_RATE": f"20/{QUOTA_WINDOW}s"}) as base:
        at_start_of_a_window(acme.pk)
        responses = burst(base, [(acme_url, mine)] * 40 + [(globex_url, theirs)] * 5)
        acme_codes = sorted(r.status_code for r in responses[:40])
        assert acme_codes == [201] * 20 + [429] * 20, (
            acme_codes.count(201),
            [r.text[:100] for r in responses if r.status_code >= 400][:3],
        )
        assert {r.json()["error"]["message"] for r in responses[:40] if r.status_code == 429} == {
            "Replay quota exceeded"
        }
        assert [r.status_code for r in responses[40:]] == [201] * 5, "another workspace is unaffected"
        assert Run.objects.filter(replay_of=source).count() == 20

        time.sleep(seconds_left_in_window(acme.pk) + 0.3)
        with httpx.Client(base_url=base) as client:
            again = client.post(acme_url, json={"mode": "as_is"}, headers={"Authorization": f"Bearer {mine}"})
        assert again.status_code == 201, "the next window accepts again"


def test_the_same_idempotency_key_ten_times_at_once_yields_one_run(acme, operator):
    source = finished_run(support_workflow(acme)[0])
    url = f"/api/v1/acme/runs/{source.run_id}/replays"
    with gunicorn(**web_processes()) as base:
        responses = burst(base, [(url, token_for(operator))] * 10, lambda i: {"Idempotency-Key": "deploy-42"})
    assert sorted(r.status_code for r in responses) == [200] * 9 + [201]
    assert len({r.json()["run_id"] for r in responses}) == 1
    assert Run.objects.filter(replay_of=source).count() == 1


def test_replays_racing_a_cancel_are_409_or_replay_a_finished_run(acme, operator):
    version, _ = support_workflow(acme)
    source = run_in_status(version, "paused", started_at=None)
    token = token_for(operator)
    replay_url = f"/api/v1/acme/runs/{source.run_id}/replays"
    cancel_url = f"/api/v1/acme/runs/{source.run_id}/cancel"
    requests = [(replay_url, token)] * 6 + [(cancel_url, token)] + [(replay_url, token)] * 6
    with gunicorn(**web_processes()) as base:
        responses = burst(base, requests)
    assert responses[6].status_code == 200
    source.refresh_from_db()
    assert source.status == "cancelled"
    for response in responses[:6] + responses[7:]:
        assert response.status_code in (201, 409), response.content
        if response.status_code == 409:
            assert response.json()["error"]["message"].startswith("Cannot replay an in-flight run")
    for replay in Run.objects.filter(replay_of=source):
        assert replay.created_at >= source.finished_at, "a replay was created while its source was in flight"


def test_replays_racing_a_pause_of_a_running_run_are_all_409(acme, operator):
    source = run_in_status(support_workflow(acme)[0], "running")
    token = token_for(operator)
    requests = [(f"/api/v1/acme/runs/{source.run_id}/replays", token)] * 8 + [
        (f"/api/v1/acme/runs/{source.run_id}/pause", token)
    ]
    with gunicorn(**web_processes()) as base:
        responses = burst(base, requests)
    assert responses[-1].status_code == 200
    assert [r.status_code for r in responses[:-1]] == [409] * 8
    assert Run.objects.filter(replay_of=source).count() == 0
