"""Cohorts on a real Celery worker (issue 31): beat's tick admits, the children run, the members follow them;
a worker killed mid-way and restarted leaves every member ended once, with one child each."""

import pytest

from replay.cohorts.models import Cohort, CohortMember
from runs.models import Run

from .builders import finished_run, support_workflow
from .cohorts import body, new_cohort
from .worker import FAST_SWEEP, celery_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

FAST_TICK = {"COHORT_TICK_INTERVAL": "0.3"}


def status_of(cohort):
    return Cohort.objects.values_list("status", flat=True).get(pk=cohort.pk)


def sources(acme, n):
    version = support_workflow(acme)[0]
    return version, [finished_run(version, payload={"name": f"N{i}", "email": "x@example.com"}) for i in range(n)]


def test_a_cohort_runs_to_completion_on_a_real_worker(acme, operator):
    version, runs = sources(acme, 4)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=2))
    with celery_worker(env=FAST_TICK, beat=True, concurrency=2):
        wait_for(lambda: status_of(cohort) == "completed", timeout=60, message="the cohort to complete")
    assert set(cohort.members.values_list("status", flat=True)) == {"completed"}
    assert cohort.members.count() == 8  # 4 candidates, 4 in the baseline lane (at least 5, never more than there are)


def test_a_worker_killed_during_a_cohort_ends_every_member_once_after_a_restart(acme, operator):
    version, runs = sources(acme, 8)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=0))
    env = {**FAST_TICK, **FAST_SWEEP, "SIMULATED_LATENCY": "0.3"}
    with celery_worker(env=env, beat=True, concurrency=2) as first:
        wait_for(lambda: cohort.members.filter(status="admitted").exists(), message="a first admission")
        first.kill()
    with celery_worker(env=env, beat=True, concurrency=2):
        wait_for(lambda: status_of(cohort) == "completed", timeout=90, message="the cohort to complete")
    members = list(cohort.members.values_list("source_run_id", "lane", "child_run_id", "status"))
    assert {status for *_, status in members} == {"completed"}
    children = [child for _, _, child, _ in members]
    assert len(children) == len(set(children)) == CohortMember.objects.filter(cohort=cohort).count()
    assert Run.objects.filter(replay_of__in=runs).count() == len(children)  # no second child for any member
