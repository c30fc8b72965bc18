import os

import pytest
from django.core.cache import cache
from django.test import Client

from runs.models import ApiToken

from .factories import MembershipFactory, UserFactory, WorkspaceFactory

# Playwright's sync API runs an event loop in this thread; live_server's ORM calls are safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(autouse=True)
def _clear_cache():
    """Rate-limit counters live in the cache and would outlast a test."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_version_plans():
    from runs.engine.executor import version_plan

    version_plan.cache_clear()


@pytest.fixture
def acme(db):
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
def globex(db):
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
