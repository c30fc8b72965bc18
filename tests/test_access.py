from django.core.management import call_command

from runs.models import ApiToken, Membership, Run, Workspace

from .builders import finished_run, support_workflow


def test_member_sees_the_runs_list(operator_client, acme):
    assert operator_client.get("/acme/ai/runs").status_code == 200


def test_non_member_gets_403_on_another_workspace(operator_client, globex):
    response = operator_client.get("/globex/ai/runs")
    assert response.status_code == 403


def test_unknown_workspace_is_403_not_404(operator_client):
    assert operator_client.get("/nowhere/ai/runs").status_code == 403


def test_anonymous_user_is_sent_to_login(client, acme):
    response = client.get("/acme/ai/runs")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_trace_of_a_run_of_another_account_is_403(operator_client, globex):
    version, _ = support_workflow(globex)
    run = finished_run(version)
    assert operator_client.get(f"/acme/ai/runs/{run.run_id}").status_code == 403
    assert operator_client.get(f"/globex/ai/runs/{run.run_id}").status_code == 403


def test_api_without_a_token_is_401(client, acme):
    response = client.get("/api/v1/acme/runs/run_00000000")
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_api_with_a_revoked_token_is_401(operator, acme):
    from django.test import Client
    from django.utils import timezone

    row, token = ApiToken.issue(operator)
    row.revoked_at = timezone.now()
    row.save()
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/acme/runs/run_00000000")
    assert response.status_code == 401


def test_api_token_scoped_to_the_users_workspaces(outsider_api, acme):
    assert outsider_api.get("/api/v1/acme/runs/run_00000000").status_code == 403


def test_create_api_token_prints_the_token_alone_and_stores_only_its_hash(operator, capsys):
    call_command("create_api_token", "operator")
    token = capsys.readouterr().out.strip()
    assert token.startswith("rp_") and "\n" not in token
    row = ApiToken.objects.get(user=operator)
    assert row.token_hash == ApiToken.hash(token) and token not in row.token_hash


def test_seed_demo_is_idempotent(db):
    call_command("seed_demo")
    counts = (Workspace.objects.count(), Membership.objects.count(), Run.objects.count())
    call_command("seed_demo")
    assert (Workspace.objects.count(), Membership.objects.count(), Run.objects.count()) == counts
    assert set(Workspace.objects.values_list("slug", flat=True)) == {"acme", "globex"}
    assert set(Run.objects.values_list("status", flat=True)) >= {
        "completed",
        "failed",
        "cancelled",
        "paused",
        "pending",
    }
    assert Run.objects.filter(replay_depth__gte=1).exists()


def test_demo_version_2_renames_two_nodes(db):
    from mappings.services import renamed_nodes_of
    from runs.models import WorkflowVersion

    call_command("seed_demo")
    run = Run.objects.get(pk="run_8f2c1a90")
    v2 = WorkflowVersion.objects.get(workflow=run.workflow, number=2)
    assert renamed_nodes_of(run, v2) == ["classify", "draft"]


def test_login_is_throttled(client, operator, settings):
    settings.LOGIN_RATE = "3/m"
    codes = [client.post("/login/", {"username": "operator", "password": "wrong"}).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]


def test_api_token_of_a_deactivated_user_is_401(operator, acme):
    from django.test import Client

    _, token = ApiToken.issue(operator)
    operator.is_active = False
    operator.save()
    response = Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/acme/runs/run_00000000")
    assert (
        response.status_code == 401 and response.json()["error"]["message"] == "This API token is unknown or revoked."
    )


def test_api_token_use_is_stamped_on_first_use(operator, acme):
    from django.test import Client

    row, token = ApiToken.issue(operator)
    Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/v1/acme/runs/run_00000000")
    row.refresh_from_db()
    assert row.last_used_at is not None
