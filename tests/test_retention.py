"""Retention: prune_runs deletes old finished runs with what they recorded, in batches, and nothing else."""

import json
import subprocess
import sys
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from runs.models import OutboxMessage, Record, Run, Step, ToolCall
from runs.retention import prune_runs
from runs.tasks import prune_old_runs

from .builders import finished_run, run_in_status, submit_replay, support_workflow
from .worker import BASE_DIR

WINDOW = timedelta(days=30)


@pytest.fixture
def version(acme):
    return support_workflow(acme)[0]


def aged(run: Run, days: int = 90) -> Run:
    """The run as if it had been created and finished `days` ago."""
    at = timezone.now() - timedelta(days=days)
    Run.objects.filter(pk=run.pk).update(created_at=at, started_at=at, finished_at=at)
    run.refresh_from_db()
    return run


@pytest.fixture
def old(version):
    return aged(finished_run(version))


def test_an_old_finished_run_is_deleted_with_its_steps_tool_calls_and_outbox(old):
    assert ToolCall.objects.filter(step__run=old).exists() and OutboxMessage.objects.filter(run=old).exists()
    report = prune_runs(older_than=WINDOW)
    assert (report.runs, report.steps, report.tool_calls, report.batches) == (1, 2, 1, 1)
    assert not Run.objects.filter(pk=old.pk).exists()
    assert not Step.objects.filter(run_id=old.pk).exists()
    assert not ToolCall.objects.filter(step__run_id=old.pk).exists()
    assert not OutboxMessage.objects.filter(run_id=old.pk).exists()


@pytest.mark.parametrize("status", Run.IN_FLIGHT_STATUSES)
def test_an_in_flight_run_is_never_touched_however_old(version, status):
    run = aged(run_in_status(version, status))
    Run.objects.filter(pk=run.pk).update(finished_at=run.created_at)  # even with a stray finished_at
    assert prune_runs(older_than=WINDOW).runs == 0
    assert Run.objects.filter(pk=run.pk).exists()


def test_a_finished_run_younger_than_the_window_is_kept(version):
    recent = aged(finished_run(version), days=29)
    assert prune_runs(older_than=WINDOW).runs == 0
    assert Step.objects.filter(run=recent).count() == 2


def test_the_window_counts_from_when_the_run_finished_not_when_it_was_created(version):
    run = aged(finished_run(version), days=90)
    Run.objects.filter(pk=run.pk).update(finished_at=timezone.now() - timedelta(days=1))
    assert prune_runs(older_than=WINDOW).runs == 0


def test_a_dry_run_deletes_nothing_and_counts_what_it_would_delete(old):
    report = prune_runs(older_than=WINDOW, dry_run=True)
    assert (report.runs, report.steps, report.tool_calls, report.batches) == (1, 2, 1, 1)
    assert Run.objects.filter(pk=old.pk).exists() and Step.objects.filter(run=old).count() == 2


def test_a_small_batch_size_deletes_every_run_in_several_batches(version):
    runs = [aged(finished_run(version)) for _ in range(5)]
    report = prune_runs(older_than=WINDOW, batch_size=2)
    assert (report.runs, report.batches, len(report.batch_seconds)) == (5, 3, 3)
    assert report.longest_batch_s == max(report.batch_seconds) > 0
    assert not Run.objects.filter(pk__in=[r.pk for r in runs]).exists()


def test_a_batch_slower_than_the_lock_budget_halves_the_next_one(version, monkeypatch):
    runs = [aged(finished_run(version)) for _ in range(7)]
    monkeypatch.setattr("runs.retention.LOCK_BUDGET_S", 0.0)  # every batch is "too slow"
    report = prune_runs(older_than=WINDOW, batch_size=4)
    assert (report.batch_runs, report.runs) == ([4, 2, 1], 7)
    assert not Run.objects.filter(pk__in=[r.pk for r in runs]).exists()


def test_a_batch_stops_at_the_step_budget_so_wide_runs_go_fewer_at_a_time(version, monkeypatch):
    for _ in range(3):
        aged(finished_run(version))  # 2 steps each
    monkeypatch.setattr("runs.retention.STEP_BUDGET", 4)
    assert prune_runs(older_than=WINDOW, batch_size=10).batch_runs == [2, 1]


def test_a_run_wider_than_the_step_budget_is_still_pruned_alone(old, monkeypatch):
    monkeypatch.setattr("runs.retention.STEP_BUDGET", 1)
    report = prune_runs(older_than=WINDOW)
    assert (report.batch_runs, report.steps) == ([1], 2)


def test_the_source_of_a_replay_still_in_flight_is_kept_until_the_replay_finishes(old, operator):
    replay = submit_replay(user=operator, run=old, request={"mode": "as_is"}).run
    assert prune_runs(older_than=WINDOW).runs == 0
    Run.objects.filter(pk=replay.pk).update(status=Run.Status.COMPLETED, finished_at=timezone.now())
    assert prune_runs(older_than=WINDOW).runs == 1


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks: SQLite serializes whole transactions")
def test_a_run_locked_by_a_replay_submit_is_skipped_not_waited_for(old):
    locked, release = threading.Event(), threading.Event()

    def submit_holding_the_source():  # as replay.services.submit_replay locks it
        with transaction.atomic():
            Run.objects.select_for_update().get(pk=old.pk)
            locked.set()
            release.wait(10)
        connection.close()

    holder = threading.Thread(target=submit_holding_the_source)
    holder.start()
    assert locked.wait(10)
    try:
        report = prune_runs(older_than=WINDOW)
    finally:
        release.set()
        holder.join()
    assert report.runs == 0 and Run.objects.filter(pk=old.pk).exists()
    assert prune_runs(older_than=WINDOW).runs == 1  # released, the next prune takes it


def test_a_replay_of_a_pruned_run_stays_with_its_lineage_set_to_null(old, operator):
    replay = submit_replay(user=operator, run=old, request={"mode": "as_is"}).run
    Run.objects.filter(pk=replay.pk).update(status=Run.Status.COMPLETED, finished_at=timezone.now())
    prune_runs(older_than=WINDOW)
    replay.refresh_from_db()
    assert replay.replay_of_id is None and replay.replay_depth == 1 and replay.source_is_gone


def test_a_record_created_by_a_pruned_run_survives_it(old):
    record = Record.objects.create(workspace_id=old.workspace_id, kind="ticket", key="T-1", run=old, node_id="draft")
    prune_runs(older_than=WINDOW)
    record.refresh_from_db()
    assert record.run_id is None


def test_every_foreign_key_to_runs_and_steps_is_handled_by_the_prune():
    """Raw deletes skip on_delete: a new foreign key to Run or Step must be added to runs/retention.py."""
    handled = {("Run", "replay_of"), ("Step", "run"), ("OutboxMessage", "run"), ("Record", "run"), ("ToolCall", "step")}
    pointing = {
        (rel.related_model.__name__, rel.field.name) for model in (Run, Step) for rel in model._meta.related_objects
    }
    assert pointing == handled
    assert not ToolCall._meta.related_objects


def test_the_command_prints_what_it_deleted(old):
    out = StringIO()
    call_command("prune_runs", "--older-than", "30", stdout=out)
    assert "Deleted 1 run(s)" in out.getvalue() and "2 step(s) and 1 tool call(s), in 1 batch(es)" in out.getvalue()
    assert "longest batch" in out.getvalue()
    assert not Run.objects.filter(pk=old.pk).exists()


def test_the_command_dry_run_prints_what_it_would_delete_and_deletes_nothing(old):
    out = StringIO()
    call_command("prune_runs", "--older-than", "30", "--dry-run", stdout=out)
    assert (
        "Would delete 1 run(s)" in out.getvalue()
        and "in at least 1 batch(es); nothing was deleted (dry run)" in out.getvalue()
    )
    assert Run.objects.filter(pk=old.pk).exists()


def test_the_command_reads_the_window_from_run_retention_days(old, settings):
    settings.RUN_RETENTION_DAYS = 30
    call_command("prune_runs", stdout=StringIO())
    assert not Run.objects.filter(pk=old.pk).exists()


def test_the_command_without_a_window_says_what_to_do_and_deletes_nothing(old, settings):
    settings.RUN_RETENTION_DAYS = None
    with pytest.raises(CommandError, match=r"No retention window: set RUN_RETENTION_DAYS or pass --older-than DAYS"):
        call_command("prune_runs")
    assert Run.objects.filter(pk=old.pk).exists()


def test_the_command_refuses_a_window_of_zero_days(old):
    with pytest.raises(CommandError, match=r"--older-than: invalid whole number of 1 or more value: '0'"):
        call_command("prune_runs", "--older-than", "0")
    assert Run.objects.filter(pk=old.pk).exists()


def test_the_beat_task_prunes_with_the_setting_and_a_second_run_finds_nothing(old, settings):
    settings.RUN_RETENTION_DAYS = 30
    assert prune_old_runs() == 1
    assert prune_old_runs() == 0


def test_the_beat_task_does_nothing_once_the_setting_is_unset(old, settings):
    settings.RUN_RETENTION_DAYS = None
    assert prune_old_runs() == 0
    assert Run.objects.filter(pk=old.pk).exists()


def settings_in_a_fresh_process(**env) -> subprocess.CompletedProcess:
    code = (
        "import json, config.settings as s; print(json.dumps([s.RUN_RETENTION_DAYS, sorted(s.CELERY_BEAT_SCHEDULE)]))"
    )
    environment = {"PATH": "/usr/bin:/bin", "REPRISE_VAR_DIR": str(BASE_DIR / "var" / "test" / "retention-env"), **env}
    return subprocess.run([sys.executable, "-c", code], cwd=BASE_DIR, env=environment, capture_output=True, text=True)


def test_the_beat_schedule_prunes_only_when_run_retention_days_is_set():
    unset = json.loads(settings_in_a_fresh_process().stdout)
    assert unset == [None, ["cohort-tick", "sweep-stale-runs", "sweep-webhook-deliveries"]]
    set_ = json.loads(settings_in_a_fresh_process(RUN_RETENTION_DAYS="90").stdout)
    assert set_ == [90, ["cohort-tick", "prune-old-runs", "sweep-stale-runs", "sweep-webhook-deliveries"]]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ninety", "RUN_RETENTION_DAYS='ninety' is not a whole number."),
        ("0", "RUN_RETENTION_DAYS=0 must be 1 or more (leave it unset to keep every run)."),
    ],
)
def test_a_bad_run_retention_days_stops_start_up_naming_the_variable(value, message):
    result = settings_in_a_fresh_process(RUN_RETENTION_DAYS=value)
    assert result.returncode != 0 and f"ImproperlyConfigured: {message}" in result.stderr
