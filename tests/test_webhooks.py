"""Webhooks: registration behind the outbound guard, signed deliveries retried under one webhook-id, disabling."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from replay.cohorts.models import Cohort
from runs import services
from runs.models import Run
from webhooks.models import Delivery, Endpoint
from webhooks.services import attempt_delivery, emit_cohort_finished, emit_run_finished, redispatch_overdue
from webhooks.signing import signature

from .builders import finished_run, run_in_status, support_workflow
from .cohorts import body, completed_runs, new_cohort
from .worker import dispatched_run_ids, purge_broker


def register(client, url, events=("run.completed",)):
    body = json.dumps({"url": url, "events": list(events)})
    return client.post("/api/v1/acme/webhooks", data=body, content_type="application/json")


@pytest.fixture
def receiver(local_server, tools_reach_local_server, settings):
    settings.WEBHOOK_RETRY_BASE = 0  # each retry is due at once: the test delivers as the worker would, in turn
    return local_server


def test_admin_registers_an_endpoint_and_sees_its_secret_once(admin_api, acme, receiver):
    created = register(admin_api, f"{receiver.url}/hook")
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    assert created["Location"] == f"/api/v1/acme/webhooks/{created.json()['endpoint_id']}"
    listed = admin_api.get("/api/v1/acme/webhooks").json()["webhooks"]
    assert [w["endpoint_id"] for w in listed] == [created.json()["endpoint_id"]] and "secret" not in listed[0]


def test_an_operator_cannot_register_or_read_endpoints(api, acme, receiver):
    assert register(api, f"{receiver.url}/hook").status_code == 403
    read = api.get("/api/v1/acme/webhooks")
    assert read.status_code == 403
    assert read.json()["error"]["message"] == "Only workspace admins can see this."


def test_a_loopback_url_the_guard_refuses_is_a_400_naming_url(admin_api, acme, local_server):
    refused = register(admin_api, f"{local_server.url}/hook")
    assert refused.status_code == 400 and refused.json()["error"]["field"] == "url"
    assert "TOOL_HTTP_ALLOWED_HOSTS" in refused.json()["error"]["message"] and not Endpoint.objects.exists()


def test_delete_removes_the_endpoint(admin_api, acme, receiver):
    endpoint_id = register(admin_api, f"{receiver.url}/hook").json()["endpoint_id"]
    assert admin_api.delete(f"/api/v1/acme/webhooks/{endpoint_id}").status_code == 204
    assert not Endpoint.objects.exists()


def test_receiver_failing_twice_gets_three_attempts_under_one_webhook_id(admin_api, acme, receiver):
    register(admin_api, f"{receiver.url}/hook")
    receiver.script("/hook", [(500, {"error": "down"}), (503, {"error": "busy"}), (200, {"ok": True})])
    run = finished_run(support_workflow(acme)[0])
    (delivery_id,) = emit_run_finished(run.run_id)
    delays = [attempt_delivery(delivery_id) for _ in range(3)]
    assert delays[:2] == [0, 0] and delays[2] is None
    delivery = Delivery.objects.get(pk=delivery_id)
    assert delivery.status == "delivered" and [a.status_code for a in delivery.attempts.all()] == [500, 503, 200]
    ids = {r["headers"]["webhook-id"] for r in receiver.requests}
    assert len(receiver.requests) == 3 and ids == {delivery.webhook_id}
    body = json.loads(receiver.requests[-1]["body"])
    assert body["type"] == "run.completed" and body["data"]["run"]["run_id"] == run.run_id


def test_delivery_is_signed_as_standard_webhooks_verifies(admin_api, acme, receiver):
    secret = register(admin_api, f"{receiver.url}/hook").json()["secret"]
    receiver.script("/hook", [(204, {})])
    run = finished_run(support_workflow(acme)[0])
    attempt_delivery(emit_run_finished(run.run_id)[0])
    (request,) = receiver.requests
    payload = Webhook(secret).verify(request["body"], request["headers"])
    assert payload["data"]["run"]["status"] == "completed"


def test_signature_matches_the_specifications_published_vector():
    # From the Standard Webhooks specification's test vectors (python/tests/test_webhooks.py of the library).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected


def test_a_second_emission_of_an_event_delivers_nothing_more(admin_api, acme, receiver):
    register(admin_api, f"{receiver.url}/hook")
    run = finished_run(support_workflow(acme)[0])
    assert len(emit_run_finished(run.run_id)) == 1 and emit_run_finished(run.run_id) == []


def test_the_runs_final_transition_queues_the_event_after_commit(
    admin_api, acme, receiver, django_capture_on_commit_callbacks
):
    register(admin_api, f"{receiver.url}/hook")
    run = run_in_status(support_workflow(acme)[0], Run.Status.PENDING)
    purge_broker()
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_run(run=run)
    assert dispatched_run_ids("webhooks.tasks.emit_run_event") == [run.run_id]


def test_a_workspace_without_an_endpoint_queues_no_task_when_a_run_ends(acme, django_capture_on_commit_callbacks):
    run = run_in_status(support_workflow(acme)[0], Run.Status.PENDING)
    purge_broker()
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_run(run=run)
    assert dispatched_run_ids("webhooks.tasks.emit_run_event") == []


def test_a_workspace_whose_only_endpoint_is_disabled_queues_no_task_when_a_run_ends(
    admin_api, acme, receiver, django_capture_on_commit_callbacks
):
    register(admin_api, f"{receiver.url}/hook")
    Endpoint.objects.update(disabled_at=timezone.now())
    run = run_in_status(support_workflow(acme)[0], Run.Status.PENDING)
    purge_broker()
    with django_capture_on_commit_callbacks(execute=True):
        services.cancel_run(run=run)
    assert dispatched_run_ids("webhooks.tasks.emit_run_event") == []


def test_delivery_to_an_address_refused_since_registration_is_recorded_and_retried(admin_api, acme, receiver, settings):
    register(admin_api, f"{receiver.url}/hook")
    settings.TOOL_HTTP_ALLOWED_HOSTS = ()
    run = finished_run(support_workflow(acme)[0])
    delivery_id = emit_run_finished(run.run_id)[0]
    assert attempt_delivery(delivery_id) == 0 and receiver.requests == []
    (attempt,) = Delivery.objects.get(pk=delivery_id).attempts.all()
    assert attempt.status_code is None and "TOOL_HTTP_ALLOWED_HOSTS" in attempt.error


def test_an_endpoint_failing_for_24_hours_is_disabled(admin_api, acme, receiver):
    register(admin_api, f"{receiver.url}/hook")
    receiver.script("/hook", [(500, {})])
    run = finished_run(support_workflow(acme)[0])
    delivery_id = emit_run_finished(run.run_id)[0]
    attempt_delivery(delivery_id)
    Endpoint.objects.update(failing_since=timezone.now() - timedelta(hours=24))
    assert attempt_delivery(delivery_id) is None
    endpoint = Endpoint.objects.get()
    assert not endpoint.enabled and endpoint.disabled_reason.startswith("Disabled after failing for 24 hours")
    assert Delivery.objects.get(pk=delivery_id).status == "failed"


def test_cohort_finished_reaches_endpoints_that_asked_for_it(admin_api, acme, operator, receiver):
    register(admin_api, f"{receiver.url}/hook", events=["cohort.finished"])
    register(admin_api, f"{receiver.url}/other", events=["run.completed"])
    version = support_workflow(acme)[0]
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in completed_runs(version, 2)]))
    assert emit_cohort_finished(cohort.pk) == []  # still pending: nothing to say yet
    Cohort.objects.filter(pk=cohort.pk).update(status="cancelled")
    delivered = emit_cohort_finished(cohort.pk)
    sent = Delivery.objects.get().payload["data"]["cohort"]
    assert len(delivered) == 1 and (sent["cohort_id"], sent["status"]) == (cohort.pk, "cancelled")


def test_a_finished_cohort_tells_the_webhooks_through_the_cohorts_finish_listener():
    from replay.cohorts import events
    from webhooks.tasks import send_cohort_finished

    assert send_cohort_finished in events._listeners


def test_admin_page_registers_an_endpoint_and_shows_its_secret_once(superuser_client, acme, receiver):
    form = {"workspace": acme.pk, "url": f"{receiver.url}/hook", "events": '["run.completed"]'}
    response = superuser_client.post("/admin/webhooks/endpoint/add/", form, follow=True)
    endpoint = Endpoint.objects.get()
    assert endpoint.secret in response.content.decode()
    assert (
        endpoint.secret not in superuser_client.get(f"/admin/webhooks/endpoint/{endpoint.pk}/change/").content.decode()
    )


def test_admin_page_refuses_a_url_the_guard_refuses(superuser_client, acme, local_server):
    form = {"workspace": acme.pk, "url": f"{local_server.url}/hook", "events": '["run.completed"]'}
    response = superuser_client.post("/admin/webhooks/endpoint/add/", form)
    assert "This URL is refused" in response.content.decode() and not Endpoint.objects.exists()


def test_admin_list_says_an_endpoint_was_disabled_after_failing(superuser_client, acme, receiver):
    endpoint = Endpoint.objects.create(workspace=acme, url=f"{receiver.url}/hook", events=["run.completed"])
    Endpoint.objects.filter(pk=endpoint.pk).update(
        disabled_at=timezone.now(), disabled_reason="Disabled after failing for 24 hours: no attempt succeeded."
    )
    assert "Disabled after failing for 24 hours" in superuser_client.get("/admin/webhooks/endpoint/").content.decode()


def test_the_sweep_queues_again_a_delivery_whose_message_was_lost(admin_api, acme, receiver, settings):
    register(admin_api, f"{receiver.url}/hook")
    receiver.script("/hook", [(200, {"ok": True})])
    lost, recent = (emit_run_finished(finished_run(support_workflow(acme)[0]).run_id)[0] for _ in range(2))
    Delivery.objects.filter(pk=lost).update(next_attempt_at=timezone.now() - timedelta(seconds=121))
    purge_broker()
    assert redispatch_overdue() == [lost]
    assert dispatched_run_ids("webhooks.tasks.deliver") == [lost]
    assert attempt_delivery(lost) is None and Delivery.objects.get(pk=lost).status == "delivered"
    assert redispatch_overdue() == [] and Delivery.objects.get(pk=recent).status == "pending"


@pytest.mark.parametrize("events", ['["run.bogus"]', '"run.completed"', "[]", '{"run.completed": true}'])
def test_admin_page_refuses_events_the_api_refuses(superuser_client, admin_api, acme, receiver, events):
    """What the admin stores the API must list: an unknown event or a non-list once made GET /webhooks a 500."""
    form = {"workspace": acme.pk, "url": f"{receiver.url}/hook", "events": events}
    response = superuser_client.post("/admin/webhooks/endpoint/add/", form)
    assert response.status_code == 200 and not Endpoint.objects.exists()
    assert "run.completed, run.failed, run.cancelled, cohort.finished" in response.content.decode()
    assert admin_api.get("/api/v1/acme/webhooks").status_code == 200


def test_admin_page_stores_each_event_once(superuser_client, admin_api, acme, receiver):
    form = {"workspace": acme.pk, "url": f"{receiver.url}/hook", "events": '["run.failed", "run.failed"]'}
    superuser_client.post("/admin/webhooks/endpoint/add/", form)
    assert Endpoint.objects.get().events == ["run.failed"]
    assert admin_api.get("/api/v1/acme/webhooks").json()["webhooks"][0]["events"] == ["run.failed"]
