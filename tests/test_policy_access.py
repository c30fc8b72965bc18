"""Every member of a workspace may read its policy (the replay dialog's banner shows its effect); only admins change it."""

import json

import pytest

pytestmark = pytest.mark.django_db

DEFAULT_POLICY = {"allowed_models": None, "allowed_providers": None, "replay_allow_mutations": False}


def put(client, body):
    return client.put("/api/v1/acme/policy", data=json.dumps(body), content_type="application/json")


def test_a_viewer_reads_the_workspace_policy(viewer_api):
    response = viewer_api.get("/api/v1/acme/policy")
    assert response.status_code == 200 and response.json() == DEFAULT_POLICY


@pytest.mark.parametrize("client_fixture", ["viewer_api", "api"])
def test_a_viewer_or_an_operator_changing_the_policy_is_403_and_changes_nothing(request, acme, client_fixture):
    response = put(request.getfixturevalue(client_fixture), {"replay_allow_mutations": True})
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "Only workspace admins can change this."
    acme.refresh_from_db()
    assert acme.replay_allow_mutations is False


def test_a_member_of_another_workspace_cannot_read_the_policy(outsider_api, acme):
    assert outsider_api.get("/api/v1/acme/policy").status_code == 403


def test_a_policy_put_saves_only_the_fields_it_sent_over_a_concurrent_change(acme):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from replay.policy import update_policy
    from runs.models import Workspace

    Workspace.objects.filter(pk=acme.pk).update(replay_allow_mutations=True)
    read_before = Workspace.objects.get(pk=acme.pk)  # an admin's PUT read the row before the other's commit
    Workspace.objects.filter(pk=acme.pk).update(replay_allow_mutations=False)  # the other admin turns mutations off
    with CaptureQueriesContext(connection) as queries:
        updated = update_policy(workspace=read_before, data={"allowed_providers": ["openai"]})
    acme.refresh_from_db()
    assert acme.replay_allow_mutations is False and acme.allowed_providers == ["openai"]
    assert updated.replay_allow_mutations is False  # the answer shows the row as saved
    if connection.features.has_select_for_update:
        assert any("FOR UPDATE" in q["sql"] for q in queries.captured_queries)


def test_an_unknown_provider_is_refused_as_an_unknown_model_is_and_changes_nothing(admin_api, acme):
    response = put(admin_api, {"allowed_providers": ["anthropic", "antropic"]})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "allowed_providers" and "antropic" in error["message"]
    acme.refresh_from_db()
    assert acme.allowed_providers is None
    assert put(admin_api, {"allowed_providers": ["anthropic"]}).json()["allowed_providers"] == ["anthropic"]
