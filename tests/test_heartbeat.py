"""The lease stays alive while a step executes: a heartbeat from the executing worker, stopped when the call returns."""

from datetime import timedelta

import pytest
from django.utils import timezone

from runs.engine.lease import HEARTBEATS, beat, claim, heartbeat
from runs.models import Run

from .builders import PAYLOAD, chain_workflow
from .worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def running(acme):
    version, _ = chain_workflow(acme, 1)
    run = Run.objects.create(
        workspace=acme, workflow=version.workflow, version=version, version_number=1, trigger_payload=PAYLOAD
    )
    assert claim(run.pk, "lease-a")
    Run.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    return run


def heartbeat_of(run):
    return Run.objects.values_list("heartbeat_at", flat=True).get(pk=run.pk)


def test_a_step_that_outlasts_a_fraction_of_the_stale_threshold_extends_the_heartbeat(running, settings):
    settings.RUN_STALE_AFTER = 0.4  # a beat every 0.1 s
    stale = heartbeat_of(running)
    with heartbeat(running.pk, "lease-a"):
        assert HEARTBEATS.active() == 1
        wait_for(lambda: heartbeat_of(running) > stale, timeout=10, message="a heartbeat during the call")
    assert HEARTBEATS.active() == 0, "the heartbeat stops when the call returns"


def test_a_call_younger_than_the_beat_interval_is_not_due(running, settings):
    settings.RUN_STALE_AFTER = 120
    with heartbeat(running.pk, "lease-a"):
        assert HEARTBEATS.due(30) == []
        assert HEARTBEATS.due(0) == [(running.pk, "lease-a")]


def test_a_run_taken_over_by_another_lease_gets_no_heartbeat_from_the_old_one(running):
    Run.objects.filter(pk=running.pk).update(lease="lease-b")
    assert not beat(running.pk, "lease-a")


def test_a_paused_run_gets_no_heartbeat(running):
    Run.objects.filter(pk=running.pk).update(status=Run.Status.PAUSED)
    assert not beat(running.pk, "lease-a")
