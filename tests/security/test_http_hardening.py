"""CSRF on every form, bearer-only API, sessions that expire, size limits, and a clean deploy check."""

import json
import os
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from runs.models import ApiToken, Run

from ..builders import finished_run, renaming_version, run_in_status, support_workflow
from ..worker import BASE_DIR

pytestmark = pytest.mark.django_db

PRODUCTION_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "DEBUG": "false",
    "ALLOWED_HOSTS": "reprise.example.com",
    "BEHIND_TLS_PROXY": "1",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
}


@pytest.fixture
def source(acme):
    version, _ = support_workflow(acme)
    renaming_version(version)
    return finished_run(version)


def csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_every_session_form_and_htmx_post_needs_the_csrf_token(operator, source):
    client = csrf_client(operator)
    running = run_in_status(source.version, "running")
    posts = [
        (f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is"}),
        (
            f"/acme/ai/runs/{source.run_id}/node-mapping",
            {"target_version": "2", "visibility": "operator", "map:draft": "compose", "map:notify": "send"},
        ),
        (f"/acme/monitoring/workflow-runs/{running.run_id}/pause", {}),
        (f"/acme/monitoring/workflow-runs/{running.run_id}/cancel", {}),
        ("/logout/", {}),
    ]
    for url, body in posts:
        assert client.post(url, body, HTTP_HX_REQUEST="true").status_code == 403, url
    assert Run.objects.filter(replay_of=source).count() == 0
    assert Run.objects.get(pk=running.pk).status == "running"
    assert (
        Client(enforce_csrf_checks=True).post("/login/", {"username": "operator", "password": "x"}).status_code == 403
    )


def test_the_api_ignores_session_cookies_so_a_forged_cross_site_post_gets_401(operator_client, source):
    response = operator_client.post(
        f"/api/v1/acme/runs/{source.run_id}/replays",
        data=json.dumps({"mode": "as_is"}),
        content_type="application/json",
    )
    assert response.status_code == 401
    assert Run.objects.filter(replay_of=source).count() == 0


def test_api_tokens_are_stored_as_hashes_only(operator):
    row, token = ApiToken.issue(operator)
    stored = [str(v) for v in ApiToken.objects.filter(pk=row.pk).values().get().values()]
    assert not any(token in value for value in stored)
    assert row.token_hash == ApiToken.hash(token) and row.token_hash in stored


def test_an_expired_session_is_sent_to_login(operator_client, acme):
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = operator_client.get("/acme/ai/runs")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_a_10_mb_api_body_is_413_and_creates_nothing(api, source):
    body = json.dumps({"mode": "as_is", "pad": "x" * (10 * 2**20)})
    response = api.post(f"/api/v1/acme/runs/{source.run_id}/replays", data=body, content_type="application/json")
    assert response.status_code == 413 and response.json()["error"]["message"] == "Request body too large."
    assert Run.objects.filter(replay_of=source).count() == 0


def test_a_10_mb_form_post_is_refused_not_a_500(operator_client, source):
    response = operator_client.post(
        f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is", "pad": "x" * (10 * 2**20)}
    )
    assert response.status_code in (400, 413)
    assert Run.objects.filter(replay_of=source).count() == 0


def production_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}  # set for Playwright only
    return {**env, **PRODUCTION_ENV, "REPRISE_VAR_DIR": str(BASE_DIR / "var" / "test" / "deploy")}


def production_settings(expression: str) -> str:
    env = production_env()
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; "
            f"django.setup(); from django.conf import settings as s; print({expression})",
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


def test_cookies_are_secure_and_http_only_when_not_debug():
    assert (
        production_settings("s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY")
        == "False True True True"
    )


def test_check_deploy_is_clean_with_production_settings():
    env = production_env()
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_nul_in_the_forms_idempotency_key_is_a_400_not_a_500(operator_client, source):
    # Found by the form fuzz on PostgreSQL, whose text columns refuse NUL.
    response = operator_client.post(
        f"/acme/ai/runs/{source.run_id}/replay", {"mode": "as_is", "idempotency_key": "\x00"}
    )
    assert response.status_code == 400
    assert Run.objects.filter(replay_of=source).count() == 0


@pytest.mark.parametrize(
    "raw, message",
    [
        ('{"mode": "as_is", "note": "\\u0000"}', "note: JSON strings must not contain NUL (\\u0000) characters."),
        ("[" * 100_000 + "]" * 100_000, "The JSON body is nested deeper than 100 levels."),
    ],
)
def test_json_a_database_or_parser_would_choke_on_is_a_clear_400(api, source, raw, message):
    response = api.post(f"/api/v1/acme/runs/{source.run_id}/replays", data=raw, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["message"] == message
    assert Run.objects.filter(replay_of=source).count() == 0


def test_a_nul_in_a_workflow_payload_is_a_400(api, source):
    url = f"/api/v1/acme/workflows/{source.workflow.workflow_id}/runs"
    response = api.post(url, data='{"payload": {"name": "a\\u0000b"}}', content_type="application/json")
    assert response.status_code == 400
