"""Issue 27, items 10 and 11: the Django admin shows a staff user only their workspaces, never a token's hash,
and its login is throttled as /login/ is."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from runs.models import ApiToken

from ..builders import finished_run, support_workflow
from ..factories import make_superuser

pytestmark = pytest.mark.django_db

# Every admin list that holds workspace data, with the row of globex's that must not show.
LISTS = [
    "runs/run/",
    "runs/step/",
    "runs/workflow/",
    "runs/workflowversion/",
    "runs/promptartifact/",
    "runs/outboxmessage/",
    "runs/workspace/",
    "runs/membership/",
    "runs/apitoken/",
]


@pytest.fixture
def staff_of_acme(operator):
    """The operator of acme, made staff with every view permission and the token change permission: no superuser."""
    operator.is_staff = True
    operator.save()
    operator.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["runs", "mappings"], codename__startswith="view_")
        | Permission.objects.filter(codename="change_apitoken")
    )
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def globex_data(globex, outsider):
    run = finished_run(support_workflow(globex)[0], payload={"name": "Secretname", "email": "g@globex.io"})
    token, _ = ApiToken.issue(outsider)
    return run, token


@pytest.mark.parametrize("path", LISTS)
def test_a_staff_user_sees_no_other_workspaces_rows_in_the_admin(staff_of_acme, globex_data, acme, path):
    run, token = globex_data
    response = staff_of_acme.get(f"/admin/{path}")
    assert response.status_code == 200
    html = response.content.decode()
    assert run.run_id not in html and "globex" not in html.lower() and token.prefix not in html


def test_a_staff_user_cannot_open_another_workspaces_run(staff_of_acme, globex_data):
    run, _ = globex_data
    response = staff_of_acme.get(f"/admin/runs/run/{run.pk}/change/")
    assert response.status_code == 302  # Django's admin redirects a row outside the queryset to the index


def test_a_staff_user_cannot_revoke_another_workspaces_token(staff_of_acme, globex_data):
    _, token = globex_data
    response = staff_of_acme.post(
        "/admin/runs/apitoken/", {"action": "revoke", "_selected_action": [token.pk], "index": 0}
    )
    assert response.status_code in (200, 302)
    token.refresh_from_db()
    assert token.revoked_at is None


def test_a_staff_user_sees_their_own_workspaces_rows(staff_of_acme, acme):
    run = finished_run(support_workflow(acme)[0])
    assert run.run_id in staff_of_acme.get("/admin/runs/run/").content.decode()


def test_the_token_page_never_shows_the_hash(operator):
    token, _ = ApiToken.issue(operator)
    client = Client()
    client.force_login(make_superuser())
    html = client.get(f"/admin/runs/apitoken/{token.pk}/change/").content.decode()
    assert token.prefix in html and token.token_hash not in html


def test_the_admin_login_checks_no_password_of_its_own(client, operator):
    """15 wrong passwords then the right one were all checked there, unthrottled: now only /login/ checks them."""
    operator.is_staff = True
    operator.set_password("right-password-1")
    operator.save()
    for password in ["wrong"] * 15 + ["right-password-1"]:
        response = client.post("/admin/login/?next=/admin/", {"username": "operator", "password": password})
        assert response.status_code == 302 and response["Location"] == "/login/?next=/admin/"
    assert "_auth_user_id" not in client.session


def test_the_login_the_admin_leads_to_is_throttled_with_the_login_rate(client, operator, settings):
    settings.LOGIN_RATE = "3/m"
    operator.is_staff = True
    operator.set_password("right-password-1")
    operator.save()
    codes = [
        client.post("/login/?next=/admin/", {"username": "operator", "password": "wrong"}).status_code for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]


def test_the_admin_login_page_leads_to_the_throttled_login_and_back(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/admin/"
