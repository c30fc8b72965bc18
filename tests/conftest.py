import os
from contextlib import contextmanager

import pytest
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from playwright.sync_api import sync_playwright

from runs.models import ApiToken

from .factories import MembershipFactory, UserFactory, WorkspaceFactory, make_superuser
from .provider_wire import ANTHROPIC_TEST_KEY, OPENAI_TEST_KEY

# Playwright's sync API runs an event loop in this thread; live_server's ORM calls are safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items):
    """Every transactional test restores the database as it found it (serialized_rollback).

    One that does not has its flush re-create the content types under new ids, and the next test that
    restores the serialized rows then fails its setup on a duplicate key: an error that depends on file order.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
            raise pytest.UsageError(f"{item.nodeid}: use django_db(transaction=True, serialized_rollback=True)")


@pytest.fixture(scope="session", autouse=True)
def _static_files_without_collectstatic():
    """In-process pages link static/ through the plain storage: a test needs no collectstatic run, and a stale
    manifest cannot fail a template. The servers tests start as `make run` does (tests/reliability/gunicorn.py)
    collect first and serve the manifest storage, as production does."""
    from django.conf import settings
    from django.test import override_settings

    settings.STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing directory
    storages = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=storages):
        yield


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters live in the cache and would outlast a test."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shared_redis_cache(settings):
    """The default cache on Redis, as a deployment with REDIS_URL has it (the PostgreSQL pass's REDIS_URL, or a local
    server): a client of that Redis. Skipped without a Redis server."""
    import redis

    url = settings.REDIS_URL or "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url).ping()
    except redis.RedisError:
        pytest.skip("no Redis server at " + url)
    settings.CACHES = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": url}}
    return redis.Redis.from_url(url)


class RateLimitClock:
    """django-ratelimit counts in fixed windows of wall-clock time; a test that straddled a window edge
    would see its counter reset. Tests hold the clock still and move it on purpose."""

    def __init__(self, start: float):
        self.now = start

    def time(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def ratelimit_clock(monkeypatch):
    import django_ratelimit.core

    clock = RateLimitClock(start=1_800_000_000.0)
    monkeypatch.setattr(django_ratelimit.core, "time", clock)  # the module's `time`, not the global one
    return clock


@pytest.fixture(autouse=True)
def _fresh_version_plans():
    from runs.engine.plan import version_plan

    version_plan.cache_clear()


@pytest.fixture(params=[1, 8], ids=["one-step-at-a-time", "parallel-8"])
def run_max_parallel(request, settings):
    """RUN_MAX_PARALLEL 1 (one step at a time, the version's order) and 8 (the default: branches at once):
    rerun, reuse, dry-run and recorded tools mean the same with either."""
    settings.RUN_MAX_PARALLEL = request.param
    return request.param


@pytest.fixture
def catalog(db):
    """The migration's catalog, restored if a transactional test's flush removed it."""
    from runs.catalog import ensure_catalog

    ensure_catalog()


@pytest.fixture
def acme(catalog):
    return WorkspaceFactory(slug="acme", name="Acme")


@pytest.fixture
def operator(acme):
    return MembershipFactory(user=UserFactory(username="operator"), workspace=acme, role="operator").user


@pytest.fixture
def viewer(acme):
    return MembershipFactory(user=UserFactory(username="viewer"), workspace=acme, role="viewer").user


@pytest.fixture
def admin_user(acme):
    return MembershipFactory(user=UserFactory(username="admin"), workspace=acme, role="admin").user


@pytest.fixture
def globex(catalog):
    return WorkspaceFactory(slug="globex", name="Globex")


@pytest.fixture
def outsider(globex):
    """A member of another workspace in another account."""
    return MembershipFactory(user=UserFactory(username="outsider"), workspace=globex, role="operator").user


def api_client_for(user) -> Client:
    _, token = ApiToken.issue(user)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def api(operator):
    return api_client_for(operator)


@pytest.fixture
def viewer_api(viewer):
    return api_client_for(viewer)


@pytest.fixture
def admin_api(admin_user):
    return api_client_for(admin_user)


@pytest.fixture
def outsider_api(outsider):
    return api_client_for(outsider)


@pytest.fixture
def superuser_client(db):
    """A Django superuser signed in to the admin."""
    client = Client()
    client.force_login(make_superuser())
    return client


@pytest.fixture
def operator_client(operator):
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture(scope="session", autouse=True)
def _empty_broker():
    from .worker import purge_broker

    purge_broker()


@pytest.fixture
def local_server():
    from .http_server import LocalServer

    with LocalServer() as server:
        yield server


@pytest.fixture
def tools_reach_local_server(settings):
    """Let the http tools reach 127.0.0.1, where local_server listens: they refuse loopback by default."""
    from config.env import parse_hosts

    settings.TOOL_HTTP_ALLOWED_HOSTS = parse_hosts("TOOL_HTTP_ALLOWED_HOSTS", "127.0.0.1")


@pytest.fixture
def anthropic_server(settings, local_server):
    """The Messages API at the local server, through the real SDK."""
    settings.ANTHROPIC_API_KEY = ANTHROPIC_TEST_KEY
    settings.ANTHROPIC_BASE_URL = local_server.url
    settings.PROVIDER_TIMEOUT = 2
    settings.PROVIDER_MAX_RETRIES = 1
    return local_server


@pytest.fixture
def openai_server(settings, local_server):
    """Chat Completions at the local server (OPENAI_BASE_URL), through the real SDK."""
    settings.OPENAI_API_KEY = OPENAI_TEST_KEY
    settings.OPENAI_BASE_URL = local_server.url + "/v1"
    settings.PROVIDER_TIMEOUT = 2
    settings.PROVIDER_MAX_RETRIES = 1
    return local_server


# Browser fixtures, shared by tests/browser, tests/security and tests/reliability: one Chromium per session.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page_for(browser, live_server):
    """A logged-in page for a user; collects script errors so a test can assert none happened."""
    contexts = []

    def make(user, width=1280, height=900):
        client = Client()
        client.force_login(user)
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=live_server.url)
        context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}])
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.errors = []
        page.on("pageerror", lambda e: page.errors.append(str(e)))
        page.on("dialog", lambda d: (page.errors.append("alert: " + d.message), d.dismiss()))
        contexts.append(context)
        return page

    yield make
    for context in contexts:
        context.close()


@contextmanager
def rolled_back():
    """One hypothesis example in a savepoint of its own, rolled back after it: no example sees another's rows."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)
