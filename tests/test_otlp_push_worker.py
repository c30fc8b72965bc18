"""The OTLP push on a real Celery worker: a run's final commit queues its export, which reaches the endpoint."""

import pytest

from runs import services
from runs.models import Run

from .builders import PAYLOAD, support_workflow
from .otlp_wire import OtlpReceiver, attributes_of
from .worker import celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_a_run_finished_on_a_worker_reaches_the_otlp_endpoint_once(acme):
    version, _ = support_workflow(acme)
    with OtlpReceiver() as receiver, celery_worker(env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint}):
        run = services.trigger_run(workflow=version.workflow, payload=PAYLOAD)
        receiver.wait_for(1, timeout=30)
        wait_for(lambda: Run.objects.get(pk=run.pk).trace_exported_at is not None, message="the export recorded")
    root, chat, tool = receiver.spans()
    assert attributes_of(root)["reprise.run_id"] == run.run_id and attributes_of(root)["reprise.status"] == "completed"
    assert chat.parent_span_id == tool.parent_span_id == root.span_id
    assert "gen_ai.input.messages" not in attributes_of(chat)
    assert len(receiver.requests) == 1
