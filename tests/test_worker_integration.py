"""Runs on a real Celery worker subprocess: the task, lifecycle, a killed worker and the broker-down sweep."""

import os
import subprocess
import sys
import threading

import pytest
from django.db import transaction

from runs import services
from runs.models import OutboxMessage, Run, Step

from .builders import PAYLOAD, chain_workflow, llm, tool
from .factories import PromptRevisionFactory
from .provider_wire import ANTHROPIC_TEST_KEY, MESSAGES, message
from .worker import BASE_DIR, FAST_SWEEP, TOOLS_REACH_LOCAL_SERVER, celery_worker, wait_for, worker_database_url

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
    with celery_worker(env=TOOLS_REACH_LOCAL_SERVER):
        run = act_after_the_first_step(version, services.pause_run)
        done_when_paused = Step.objects.filter(run=run).count()
        assert done_when_paused < 5 and status_of(run) == "paused"
        services.resume_run(run=run)
        wait_for(lambda: status_of(run) == "completed", message="run to complete after resume")
    assert Step.objects.filter(run=run).count() == 5


def test_cancel_stops_a_running_run_between_steps(acme, local_server):
    version = slow_workflow(acme, local_server.url, steps=6, seconds=0.3)
    with celery_worker(env=TOOLS_REACH_LOCAL_SERVER):
        run = act_after_the_first_step(version, services.cancel_run)
        steps = Step.objects.filter(run=run).count()
    assert status_of(run) == "cancelled" and steps < 6


def test_killed_worker_run_is_finished_by_another_with_no_duplicated_side_effect(acme, local_server):
    version = slow_workflow(acme, local_server.url, steps=6, seconds=0.4, send_at=1)
    with celery_worker(env=FAST_SWEEP | TOOLS_REACH_LOCAL_SERVER) as first:
        run = services.trigger_run(workflow=version.workflow, payload=PAYLOAD)
        wait_for(lambda: Step.objects.filter(run=run, node_id="s2").exists(), message="the step after the send")
        first.kill()
    assert status_of(run) == "running"
    with celery_worker(env=FAST_SWEEP | TOOLS_REACH_LOCAL_SERVER, beat=True):
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
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    run = Run.objects.get(pk=out.stdout.strip().splitlines()[-1])
    assert run.status == "pending"
    with celery_worker(env=FAST_SWEEP, beat=True):
        wait_for(lambda: status_of(run) == "completed", timeout=30, message="the sweep to dispatch the run")


def worker_backends(application_name):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [application_name])
        return [pid for (pid,) in cursor.fetchall()]


def run_to_completion(version):
    run = services.trigger_run(workflow=version.workflow, payload=PAYLOAD)
    wait_for(lambda: status_of(run) == "completed", message="run to complete")


@pytest.fixture
def postgres_worker_env():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("database backends are a PostgreSQL notion")
    name = f"reprise-test-{os.getpid()}"
    return name, {"DATABASE_URL": worker_database_url() + f"?application_name={name}"}


def test_a_worker_keeps_its_database_connection_from_one_run_to_the_next(acme, postgres_worker_env):
    name, env = postgres_worker_env
    version, _ = chain_workflow(acme, 2)
    with celery_worker(env=env):
        backends = []
        for _ in range(3):
            run_to_completion(version)
            backends.append(worker_backends(name))
    assert len(backends[0]) == 1 and backends[0] == backends[1] == backends[2]


def test_a_cut_database_connection_is_replaced_before_the_next_run(acme, postgres_worker_env):
    from django.db import connection

    name, env = postgres_worker_env
    version, _ = chain_workflow(acme, 2)
    with celery_worker(env=env):
        run_to_completion(version)
        (cut,) = worker_backends(name)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [cut])
        run_to_completion(version)
        assert worker_backends(name) not in ([], [cut])


def test_the_database_connection_is_dropped_after_a_failed_task_and_kept_after_a_success():
    from django.db import connection

    from runs.tasks import drop_database_connection_after_failure

    connection.ensure_connection()
    drop_database_connection_after_failure(state="SUCCESS")
    assert connection.connection is not None
    drop_database_connection_after_failure(state="FAILURE")
    assert connection.connection is None


def slow_provider_env(server, *, stale_after: float) -> dict:
    """A worker whose Messages API is the local server, with a shortened stale threshold and a fast sweep."""
    return {
        "ANTHROPIC_API_KEY": ANTHROPIC_TEST_KEY,
        "ANTHROPIC_BASE_URL": server.url,
        "PROVIDER_MAX_RETRIES": "0",
        "PROVIDER_TIMEOUT": "30",
        "RUN_STALE_AFTER": str(stale_after),
        "RUN_SWEEP_INTERVAL": "0.3",
        "RUN_PENDING_REDISPATCH_AFTER": "1",
    }


def test_a_model_call_three_times_longer_than_the_stale_threshold_completes_exactly_once(acme, local_server):
    local_server.script(MESSAGES, [(200, message("slow but sure"), 3.0)])
    version, _ = chain_workflow(acme, 1)
    # Two pool processes and the sweep: without the heartbeat the sweep hands the run to the idle one after 1 s.
    with celery_worker(env=slow_provider_env(local_server, stale_after=1.0), concurrency=2, beat=True):
        run = services.trigger_run(workflow=version.workflow, payload=PAYLOAD)
        wait_for(lambda: status_of(run) == "completed", timeout=30, message="the slow call to complete")
    assert len(local_server.requests) == 1
    assert Step.objects.get(run=run).output == "slow but sure"


def test_a_worker_that_dies_mid_call_is_still_recovered_by_the_sweep(acme, local_server):
    local_server.script(MESSAGES, [(200, message("first try"), 30.0), (200, message("second try"))])
    version, _ = chain_workflow(acme, 1)
    env = slow_provider_env(local_server, stale_after=1.0)
    with celery_worker(env=env) as first:
        run = services.trigger_run(workflow=version.workflow, payload=PAYLOAD)
        wait_for(lambda: len(local_server.requests) == 1, message="the call to start")
        first.kill()  # the heartbeat thread dies with it
    with celery_worker(env=env, beat=True):
        wait_for(lambda: status_of(run) == "completed", timeout=30, message="the sweep to recover the run")
    assert Step.objects.get(run=run).output == "second try"


def test_sigterm_hands_the_run_on_at_the_next_step_boundary_and_no_step_runs_twice(acme, local_server):
    nodes, previous = [], []
    for i in range(8):
        nodes.append(tool(f"s{i}", "http.get", {"url": f"{local_server.url}/slow?s=0.5&step=s{i}"}, after=previous))
        previous = [f"s{i}"]
    version = services.create_workflow(workspace=acme, name="Slow", nodes=nodes)
    with celery_worker(env=TOOLS_REACH_LOCAL_SERVER) as first:
        run = services.trigger_run(workflow=version.workflow, payload=PAYLOAD)
        wait_for(lambda: Step.objects.filter(run=run, node_id="s1").exists(), message="a step in progress")
        first.terminate()  # returns once the worker has exited
        handed_on = Run.objects.get(pk=run.pk)
        assert (handed_on.status, handed_on.lease) == ("pending", "")
        assert Step.objects.filter(run=run).exclude(status="completed").count() == 0
        assert Step.objects.filter(run=run).count() < 8
    with celery_worker(env=TOOLS_REACH_LOCAL_SERVER):  # the same machine restarted: it takes the re-queued run
        wait_for(lambda: status_of(run) == "completed", timeout=30, message="the run to complete on the next worker")
    called = sorted(r["query"].split("step=")[1] for r in local_server.requests if r["path"] == "/slow")
    assert called == [f"s{i}" for i in range(8)]
    assert Run.objects.get(pk=run.pk).steps_completed == 8


def test_a_drain_past_worker_drain_seconds_exits_without_a_run_held_at_its_boundary_and_the_sweep_hands_it_on(
    acme, local_server
):
    release = threading.Event()
    local_server.script("/held", [(200, {"ok": True})])
    local_server.gate("/held", lambda: release.wait(30))
    nodes = [
        tool("held", "http.get", {"url": f"{local_server.url}/held"}),
        tool("after", "http.get", {"url": f"{local_server.url}/slow?s=0"}, after=["held"]),
    ]
    version = services.create_workflow(workspace=acme, name="Held", nodes=nodes)
    env = {**TOOLS_REACH_LOCAL_SERVER, "WORKER_DRAIN_SECONDS": "1"}
    with celery_worker(env=env) as first:
        run = services.trigger_run(workflow=version.workflow, payload=PAYLOAD)
        wait_for(lambda: local_server.requests, message="the call to start")
        with transaction.atomic():
            Run.objects.select_for_update().get(pk=run.pk)  # the step's boundary commit now waits on this lock
            release.set()
            local_server.answered("/held").wait(10)
            first.terminate(timeout=30)
        assert first.proc.returncode == 1
        assert "still in progress 1 s after the shutdown signal; exiting without them" in first.log_path.read_text()
    with celery_worker(env={**env, **FAST_SWEEP}, beat=True):
        wait_for(lambda: status_of(run) == "completed", timeout=30, message="the sweep to hand the run on")
    assert Step.objects.filter(run=run, status="completed").count() == 2
