"""Replay cohorts (issue 31): creation, its refusals, the admission within the quota, the canary and cancel."""

import math

import pytest
from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

from replay.cohorts.admission import TICK_LOCK_KEY, tick
from replay.cohorts.models import Cohort, CohortMember
from replay.cohorts.quota import cohort_rate, count_admission
from replay.cohorts.services import cancel_cohort, create_cohort, eta_seconds, preview_cohort
from replay.rules import membership_for_replay
from runs.http.errors import Rejected
from runs.models import Run

from .builders import finished_run, run_in_status, submit_replay, support_workflow
from .cohorts import body, completed_runs, new_cohort
from .factories import PromptRevisionFactory


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


def refused(user, workspace, data):
    before = (Cohort.objects.count(), CohortMember.objects.count(), Run.objects.count())
    with pytest.raises(Rejected) as info:
        create_cohort(membership=membership_for_replay(user, workspace.pk), data=data)
    assert (Cohort.objects.count(), CohortMember.objects.count(), Run.objects.count()) == before
    return info.value.status, info.value.message


def test_members_are_frozen_from_run_ids_one_per_source_run(version, operator, acme):
    runs = completed_runs(version, 3)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], baseline_percent=0))
    members = list(cohort.members.order_by("position").values_list("source_run_id", "lane", "status"))
    assert members == [(r.pk, "candidate", "pending") for r in runs]
    assert cohort.status == "pending" and cohort.cohort_id.startswith("cohort_") and len(cohort.cohort_id) == 19


def test_members_are_frozen_from_the_runs_lists_filter(version, operator, acme):
    now = timezone.now()
    failed = completed_runs(version, 2)
    Run.objects.filter(pk__in=[r.pk for r in failed]).update(status="failed")
    completed_runs(version, 1)
    window = {
        "from": (now - timezone.timedelta(hours=1)).isoformat(),
        "to": (now + timezone.timedelta(hours=1)).isoformat(),
    }
    cohort = new_cohort(operator, acme, body(version.workflow, filter={**window, "status": ["failed"]}))
    assert set(cohort.members.filter(lane="candidate").values_list("source_run_id", flat=True)) == {
        r.pk for r in failed
    }


def test_a_selection_that_matches_no_run_is_400(version, operator, acme):
    now = timezone.now()
    window = {
        "from": (now - timezone.timedelta(days=2)).isoformat(),
        "to": (now - timezone.timedelta(days=1)).isoformat(),
    }
    completed_runs(version, 1)
    assert refused(operator, acme, body(version.workflow, filter=window)) == (400, "No run matches this selection.")


def test_more_members_than_the_limit_is_400_saying_how_many_matched(version, operator, acme, settings):
    settings.COHORT_MAX_MEMBERS = 2
    completed_runs(version, 3)
    now = timezone.now()
    window = {
        "from": (now - timezone.timedelta(hours=1)).isoformat(),
        "to": (now + timezone.timedelta(hours=1)).isoformat(),
    }
    status, message = refused(operator, acme, body(version.workflow, filter=window))
    assert status == 400 and message.startswith("This selection matches 3 runs; a cohort has at most 2 members")


def test_run_ids_of_another_workflow_are_named(version, operator, acme):
    other = support_workflow(acme)[0]
    mine, theirs = completed_runs(version, 1)[0], completed_runs(other, 1)[0]
    status, message = refused(operator, acme, body(version.workflow, run_ids=[mine.pk, theirs.pk]))
    assert status == 400 and theirs.pk in message and mine.pk not in message


def test_run_ids_of_another_workspace_are_named(version, operator, acme, globex):
    theirs = completed_runs(support_workflow(globex)[0], 1)[0]
    status, message = refused(operator, acme, body(version.workflow, run_ids=[theirs.pk]))
    assert status == 400 and theirs.pk in message


def test_an_unknown_field_of_the_change_is_400_naming_it(version, operator, acme):
    runs = completed_runs(version, 1)
    data = body(version.workflow, run_ids=[runs[0].pk], replay={"mode": "as_is", "trigger_payload": {"a": 1}})
    assert refused(operator, acme, data) == (
        400,
        "replay.trigger_payload is not a field of this request: check its name.",
    )


def test_a_change_a_single_replay_refuses_for_every_member_answers_its_refusal(version, operator, acme):
    runs = completed_runs(version, 2)
    data = body(
        version.workflow,
        run_ids=[r.pk for r in runs],
        replay={"mode": "model", "model_id": "nope", "model_ref": "anthropic:nope"},
    )
    single = None
    with pytest.raises(Rejected) as info:
        submit_replay(user=operator, run=runs[0], request=data["replay"])
    single = (info.value.status, info.value.message)
    assert refused(operator, acme, data) == single == (404, "Model anthropic:nope is not in the model catalog.")


def test_in_flight_members_for_every_member_answer_the_single_replays_409(version, operator, acme):
    runs = [run_in_status(version, "running")]
    assert refused(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs])) == (
        409,
        "Cannot replay an in-flight run",
    )


def test_a_fourth_running_cohort_is_429(version, operator, acme):
    runs = completed_runs(version, 1)
    for _ in range(3):
        new_cohort(operator, acme, body(version.workflow, run_ids=[runs[0].pk]))
    assert refused(operator, acme, body(version.workflow, run_ids=[runs[0].pk])) == (
        429,
        "At most 3 cohorts can run at once in this workspace.",
    )


def test_the_baseline_lane_samples_at_least_five_members(version, operator, acme):
    runs = completed_runs(version, 8)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs]))
    assert cohort.members.filter(lane="baseline").count() == 5


def test_the_same_idempotency_key_answers_the_same_cohort(version, operator, acme):
    runs = completed_runs(version, 1)
    data = body(version.workflow, run_ids=[runs[0].pk])
    first = new_cohort(operator, acme, data, idempotency_key="k1")
    assert new_cohort(operator, acme, data, idempotency_key="k1").pk == first.pk
    assert Cohort.objects.count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Weekly"},
        {"replay": {"mode": "model", "model_id": "gpt-5", "model_ref": "openai:gpt-5"}},
        {"run_ids": "both"},
        {"canary": 1},
        {"checks": [{"kind": "max_latency_ms", "node": None, "value": 5000}]},
    ],
)
def test_the_same_idempotency_key_with_another_request_is_a_409_and_creates_nothing(version, operator, acme, change):
    runs = completed_runs(version, 2)
    new_cohort(operator, acme, body(version.workflow, run_ids=[runs[0].pk]), idempotency_key="k1")
    if change.get("run_ids") == "both":
        change = {"run_ids": [r.pk for r in runs]}
    other = {**body(version.workflow, run_ids=[runs[0].pk]), **change}
    before = (Cohort.objects.count(), CohortMember.objects.count(), Run.objects.count())
    with pytest.raises(Rejected) as info:
        create_cohort(membership=membership_for_replay(operator, acme.pk), data=other, idempotency_key="k1")
    assert (info.value.status, info.value.message) == (
        409,
        "This Idempotency-Key was already used for a different request: use a new key for a new request.",
    )
    assert (Cohort.objects.count(), CohortMember.objects.count(), Run.objects.count()) == before


def test_the_same_idempotency_key_and_filter_answers_the_same_cohort(version, operator, acme):
    completed_runs(version, 2)
    data = body(
        version.workflow, filter={"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00Z", "status": ["completed"]}
    )
    first = new_cohort(operator, acme, data, idempotency_key="k1")
    assert new_cohort(operator, acme, data, idempotency_key="k1").pk == first.pk


def test_preview_counts_ineligible_members_by_refusal_code_and_creates_nothing(version, operator, acme):
    runs = completed_runs(version, 2) + [run_in_status(version, "running")]
    preview = preview_cohort(
        membership=membership_for_replay(operator, acme.pk),
        data=body(version.workflow, run_ids=[r.pk for r in runs], baseline_percent=0),
    )
    assert (preview.members, preview.ineligible, preview.baseline) == (3, {"in_flight": 1}, 0)
    assert preview.preview.source.pk == runs[0].pk and preview.preview.plan is not None
    assert Cohort.objects.count() == 0 and Run.objects.count() == 3


# Admission


def test_thirty_members_admit_at_most_fifteen_in_the_first_minute_and_an_interactive_replay_goes_through(
    version, operator, acme, ratelimit_clock
):
    runs = completed_runs(version, 30)
    cohort = new_cohort(
        operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=0, baseline_percent=0)
    )
    tick()
    tick()
    assert cohort.members.filter(status="admitted").count() == 15
    interactive = submit_replay(user=operator, run=finished_run(version), request={"mode": "as_is"})
    assert interactive.created
    ratelimit_clock.advance(60)
    tick()
    assert cohort.members.filter(status="admitted").count() == 30


def test_a_member_waits_for_quota_an_operator_took_and_is_never_skipped(version, operator, acme, settings):
    settings.REPLAY_QUOTA_RATE = "4/m"
    runs = completed_runs(version, 3)
    for run in completed_runs(version, 4):
        submit_replay(user=operator, run=run, request={"mode": "as_is"})
    cohort = new_cohort(
        operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=0, baseline_percent=0)
    )
    tick()
    assert set(cohort.members.values_list("status", flat=True)) == {"pending"}


def test_a_batch_of_admissions_reads_the_change_once_and_costs_three_queries_a_member(
    acme, operator, settings, django_assert_max_num_queries
):
    settings.REPLAY_QUOTA_RATE = "1000/m"
    version, revision = support_workflow(acme)
    new = PromptRevisionFactory(artifact=revision.artifact, content="Answer {{ trigger.name }}")
    change = {"mode": "prompt", "prompt_artifact_id": revision.artifact.artifact_id, "content_hash": new.content_hash}
    runs = completed_runs(version, 20)
    cohort = new_cohort(
        operator,
        acme,
        body(version.workflow, run_ids=[r.pk for r in runs], canary=0, baseline_percent=0, replay=change),
    )
    # Each member: a savepoint, its child's insert, the savepoint's release; the batch: the locks, the reads of
    # the sources, their keys' runs and the change, the members' new states.
    with django_assert_max_num_queries(3 * 20 + 19):
        assert tick() == 20
    assert cohort.members.filter(status="admitted").count() == 20


def test_each_member_gets_one_child_with_its_own_payload_and_the_single_replays_plan(version, operator, acme):
    first = finished_run(version, payload={"name": "Ada", "email": "ada@example.com"})
    second = finished_run(version, payload={"name": "Bo", "email": "bo@example.com"})
    cohort = new_cohort(
        operator, acme, body(version.workflow, run_ids=[first.pk, second.pk], canary=0, baseline_percent=0)
    )
    tick()
    tick()
    members = {m.source_run_id: m for m in cohort.members.select_related("child_run")}
    assert members[first.pk].child_run.trigger_payload["name"] == "Ada"
    assert members[second.pk].child_run.trigger_payload["name"] == "Bo"
    single = submit_replay(user=operator, run=first, request={"mode": "as_is"}).run
    assert members[first.pk].child_run.replay_plan == single.replay_plan
    assert Run.objects.filter(replay_of=first).count() == 2  # the cohort's and the single one


def test_a_member_refused_at_admission_is_skipped_with_the_refusal(version, operator, acme):
    runs = completed_runs(version, 2)
    cohort = new_cohort(
        operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=0, baseline_percent=0)
    )
    Run.objects.filter(pk=runs[1].pk).update(status="running")
    tick()
    skipped = cohort.members.get(source_run_id=runs[1].pk)
    assert (skipped.status, skipped.reason_code, skipped.reason_message) == (
        "skipped",
        "in_flight",
        "Cannot replay an in-flight run",
    )


def child_status(cohort, status):
    Run.objects.filter(pk__in=cohort.members.exclude(child_run=None).values("child_run_id")).update(status=status)


def test_the_canary_goes_first_and_the_rest_wait_for_it(version, operator, acme):
    runs = completed_runs(version, 6)
    cohort = new_cohort(
        operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=2, baseline_percent=0)
    )
    tick()
    assert sorted(cohort.members.filter(status="admitted").values_list("position", flat=True)) == [0, 1]
    child_status(cohort, "completed")
    tick()
    tick()
    assert cohort.members.filter(status="completed").count() == 2
    assert cohort.members.filter(status="admitted").count() == 4


def test_a_canary_member_that_failed_where_its_original_completed_stops_the_cohort(version, operator, acme):
    runs = completed_runs(version, 4)
    cohort = new_cohort(
        operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=2, baseline_percent=0)
    )
    tick()
    child_status(cohort, "failed")
    tick()
    cohort.refresh_from_db()
    assert cohort.status == "stopped" and "failed in its replay" in cohort.stop_reason
    assert list(cohort.members.order_by("position").values_list("status", flat=True)) == [
        "failed",
        "failed",
        "cancelled",
        "cancelled",
    ]


def test_a_cohort_completes_when_every_member_ended(version, operator, acme):
    runs = completed_runs(version, 2)
    cohort = new_cohort(
        operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=0, baseline_percent=0)
    )
    tick()
    child_status(cohort, "completed")
    tick()
    cohort.refresh_from_db()
    assert cohort.status == "completed" and cohort.finished_at is not None


def test_a_tick_run_twice_never_admits_a_member_twice(version, operator, acme):
    runs = completed_runs(version, 3)
    cohort = new_cohort(
        operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=0, baseline_percent=0)
    )
    tick()
    CohortMember.objects.filter(cohort=cohort).update(status="pending", child_run=None)  # as if the commit was lost
    tick()
    assert Run.objects.filter(replay_depth=1).count() == 3  # the children's keys found the same runs


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's advisory lock")
def test_a_tick_whose_worker_died_mid_way_holds_no_lock_on_postgresql(version, operator, acme):
    runs = completed_runs(version, 2)
    new_cohort(operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=0, baseline_percent=0))
    dying = connections.create_connection("default")  # a worker's connection, mid-tick
    with dying.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s), pg_backend_pid()", [TICK_LOCK_KEY])
        pid = cursor.fetchone()[1]
    assert tick() == 0  # one tick at a time
    with connection.cursor() as cursor:  # SIGKILL: the worker's connection ends (waits until it has)
        cursor.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])
    assert tick() == 2


def test_cancel_stops_admissions_and_with_cancel_running_cancels_running_children(version, operator, acme):
    runs = completed_runs(version, 4)
    cohort = new_cohort(
        operator, acme, body(version.workflow, run_ids=[r.pk for r in runs], canary=2, baseline_percent=0)
    )
    tick()
    done = cohort.members.get(position=0).child_run_id
    Run.objects.filter(pk=done).update(status="completed")
    cancel_cohort(membership=membership_for_replay(operator, acme.pk), cohort_id=cohort.pk, cancel_running=True)
    cohort.refresh_from_db()
    assert cohort.status == "cancelled"
    statuses = dict(cohort.members.values_list("position", "status"))
    assert statuses == {0: "completed", 1: "cancelled", 2: "cancelled", 3: "cancelled"}
    assert Run.objects.get(pk=done).status == "completed"


def test_cancel_of_a_finished_cohort_is_409(version, operator, acme):
    runs = completed_runs(version, 1)
    cohort = new_cohort(operator, acme, body(version.workflow, run_ids=[runs[0].pk], canary=0, baseline_percent=0))
    cancel_cohort(membership=membership_for_replay(operator, acme.pk), cohort_id=cohort.pk)
    with pytest.raises(Rejected) as info:
        cancel_cohort(membership=membership_for_replay(operator, acme.pk), cohort_id=cohort.pk)
    assert info.value.status == 409


def test_the_eta_waits_for_the_next_window_once_this_ones_share_is_used(acme):
    fresh = eta_seconds(acme.pk, 1, [])
    for _ in range(cohort_rate(acme.pk)[0]):
        count_admission(acme.pk)
    assert fresh == math.ceil(settings.COHORT_TICK_INTERVAL) < eta_seconds(acme.pk, 1, [])
