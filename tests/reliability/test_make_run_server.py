"""The server as `make run` starts it answers every request of a burst, and serves static files for caching."""

import re
import ssl
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier

import httpx
import pytest

from runs.models import ApiToken, Run

from ..builders import finished_run, support_workflow
from .gunicorn import gunicorn

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

BURST = 100


def answers(base: str, url: str, token: str, count: int) -> list[int | str]:
    """Fires `count` submits at once, each on its own connection: the status, or the transport error's name."""
    barrier = Barrier(count)
    tls = ssl.create_default_context()  # one context for all: building 100 of them takes seconds on 2 cores

    def one(_):
        with httpx.Client(base_url=base, timeout=60, verify=tls) as client:
            barrier.wait()
            try:
                return client.post(
                    url, json={"mode": "as_is"}, headers={"Authorization": f"Bearer {token}"}
                ).status_code
            except httpx.TransportError as exc:
                return type(exc).__name__

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(one, range(count)))


def test_a_burst_of_100_concurrent_api_requests_gets_100_http_answers(acme, operator):
    source = finished_run(support_workflow(acme)[0])
    _, token = ApiToken.issue(operator)
    with gunicorn() as base:
        codes = Counter(answers(base, f"/api/v1/acme/runs/{source.run_id}/replays", token, BURST))
    assert set(codes) <= {201, 429}, codes  # an accepted replay or the quota's answer, never a reset
    assert sum(codes.values()) == BURST
    assert codes[201] == Run.objects.filter(replay_of=source).count() > 0


def test_static_files_are_served_gzipped_under_hashed_names_with_far_future_cache_headers(acme):
    with gunicorn() as base, httpx.Client(base_url=base, timeout=10) as client:
        page = client.get("/login/")
        script = re.search(r'src="(/static/js/app\.[0-9a-f]{12}\.js)"', page.text)
        assert script, "the page links app.js under its hashed name"
        response = client.get(script.group(1), headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["Content-Encoding"] == "gzip"
        assert "immutable" in response.headers["Cache-Control"]
        assert int(re.search(r"max-age=(\d+)", response.headers["Cache-Control"]).group(1)) >= 365 * 24 * 3600
        assert "script-src 'self'" in page.headers["Content-Security-Policy"]
