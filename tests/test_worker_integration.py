"""Runs on a real Celery worker subprocess: the task, lifecycle, a killed worker and the broker-down sweep."""

import os
import subprocess
import sys

import pytest

from runs import services
from runs.models import OutboxMessage, Run, Step

from .builders import PAYLOAD, chain_workflow, llm, tool
from .factories import PromptRevisionFactory
from .worker import BASE_DIR, FAST_SWEEP, celery_worker, worker_database_url, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def status_of(run):
    return Run.objects.values_list("status", flat=True).get(pk=run.pk)


def slow_workflow(workspace, server_url, steps=5, seconds=0.4, send_at=None):
    """http.get steps against the local server's /slow endpoint, optionally a messages.send in the middle."""
    nodes, previous = [], []
    for i in range(steps):
        node_id = f"s{i}"
        if send_at == i:
            nodes.append(tool(node_id, "messages.send", {"to": "{{ trigger.email }}", "body": "hello"}, after=previous))
        else:
            nodes.append(tool(node_id, "http.get", {"url": f"{server_url}/slow?s={seconds}"}, after=previous))
        previous = [node_id]
    return services.create_workflow(workspace=workspace, name="Slow", nodes=nodes)


def test_ten_step_run_completes_on_a_real_worker(acme):
    version, _ = chain_workflow(acme, 10)
    with celery_worker():
        run = services.trigger_run(workflow=version.workflow, payload=PAYLOAD)
        wait_for(lambda: status_of(run) == "completed", message="run to complete")
    assert Step.objects.filter(run=run, status="completed").count() == 10


def test_a_failing_node_fails_the_run_on_the_worker(acme):
    revision = PromptRevisionFactory(artifact__workspace=acme, content="{{ trigger.missing }}")
    version = services.create_workflow(workspace=acme, name="w", nodes=[llm("a", revision)])
    with celery_worker():
        run = services.trigger_run(workflow=version.workflow, payload=PAYLOAD)
        wait_for(lambda: status_of(run) == "failed", message="run to fail")
    assert "missing key 'trigger.missing'" in Run.objects.get(pk=run.pk).error


def act_after_the_first_step(version, action) -> Run:
    """Trigger a run, apply a lifecycle action once a step is done, and wait for the worker to let go of it."""
    run = services.trigger_run(workflow=version.workflow, payload=PAYLOAD)
    wait_for(lambda: Step.objects.filter(run=run, status="completed").exists(), message="a first step")
    action(run=run)
    wait_for(lambda: Run.objects.get(pk=run.pk).lease == "", message="the worker to let go")
    return run


def test_pause_then_resume_on_a_real_worker(acme, local_server):
    version = slow_workflow(acme, local_server.url, steps=5, seconds=0.3)
    with celery_worker():
        run = act_after_the_first_step(version, services.pause_run)
        done_when_paused = Step.objects.filter(run=run).count()
        assert done_when_paused < 5 and status_of(run) == "paused"
        services.resume_run(run=run)
        wait_for(lambda: status_of(run) == "completed", message="run to complete after resume")
    assert Step.objects.filter(run=run).count() == 5


def test_cancel_stops_a_running_run_between_steps(acme, local_server):
    version = slow_workflow(acme, local_server.url, steps=6, seconds=0.3)
    with celery_worker():
        run = act_after_the_first_step(version, services.cancel_run)
        steps = Step.objects.filter(run=run).count()
    assert status_of(run) == "cancelled" and steps < 6


def test_killed_worker_run_is_finished_by_another_with_no_duplicated_side_effect(acme, local_server):
    version = slow_workflow(acme, local_server.url, steps=6, seconds=0.4, send_at=1)
    with celery_worker(env=FAST_SWEEP) as first:
        run = services.trigger_run(workflow=version.workflow, payload=PAYLOAD)
        wait_for(lambda: Step.objects.filter(run=run, node_id="s2").exists(), message="the step after the send")
        first.kill()
    assert status_of(run) == "running"
    with celery_worker(env=FAST_SWEEP, beat=True):
        wait_for(lambda: status_of(run) == "completed", timeout=30, message="the new worker to finish the run")
    assert OutboxMessage.objects.filter(run=run).count() == 1
    assert Step.objects.filter(run=run).count() == 6


def test_run_triggered_while_the_broker_is_down_is_dispatched_by_the_sweep(acme):
    version, _ = chain_workflow(acme, 3)
    # Trigger from another process whose broker is unreachable (a closed port): the request succeeds, the run waits.
    script = (
        "from runs.models import Workflow; from runs.services import trigger_run; "
        f"print(trigger_run(workflow=Workflow.objects.get(pk={version.workflow.pk}), payload={PAYLOAD!r}).run_id)"
    )
    env = {**os.environ, "DATABASE_URL": worker_database_url(), "CELERY_BROKER_URL": "redis://127.0.0.1:9/0"}
    out = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=BASE_DIR, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    run = Run.objects.get(pk=out.stdout.strip().splitlines()[-1])
    assert run.status == "pending"
    with celery_worker(env=FAST_SWEEP, beat=True):
        wait_for(lambda: status_of(run) == "completed", timeout=30, message="the sweep to dispatch the run")
