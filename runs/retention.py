"""Retention: finished runs older than a window are deleted with what they recorded, in short batches."""

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from runs.models import OutboxMessage, Record, Run, Step, ToolCall

DEFAULT_BATCH_SIZE = 500  # ≈150 ms a batch on PostgreSQL (bench/prune.py)
# A batch holds its locks until it commits. One slower than this halves the next (a loaded database, wide runs),
# so no batch comes near the limit of one second; fast ones grow back up to the batch size asked for.
LOCK_BUDGET_S = 0.4
# Runs differ in width (up to 10,000 steps): a batch also stops at this many steps (by steps_total), taking at
# least one run, so a batch of wide runs is as short as one of narrow runs.
STEP_BUDGET = 5000


@dataclass
class PruneReport:
    """What a prune deleted (or, dry, would delete), and how long its longest batch held its locks."""

    cutoff: datetime
    dry_run: bool
    runs: int = 0
    steps: int = 0
    tool_calls: int = 0
    batches: int = 0
    longest_batch_s: float = 0.0
    batch_seconds: list[float] = field(default_factory=list, repr=False)
    batch_runs: list[int] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        counts = (
            f"{self.runs} run(s) finished before {self.cutoff:%Y-%m-%d %H:%M:%S} UTC, "
            f"{self.steps} step(s) and {self.tool_calls} tool call(s)"
        )
        if self.dry_run:  # the step budget may split batches further: at least this many
            return f"Would delete {counts}, in at least {self.batches} batch(es); nothing was deleted (dry run)."
        return f"Deleted {counts}, in {self.batches} batch(es); longest batch {self.longest_batch_s * 1000:.0f} ms."


def prunable(cutoff: datetime) -> QuerySet[Run]:
    """Finished runs that finished before `cutoff`, except the source of a replay still in flight.

    That replay still reads its source (recorded results for dry-run calls, steps it reuses): its source
    waits for the next prune once it has finished.
    """
    in_flight_replay = Run.objects.filter(replay_of=OuterRef("pk"), status__in=Run.IN_FLIGHT_STATUSES)
    return Run.objects.filter(status__in=Run.FINAL_STATUSES, finished_at__lt=cutoff).exclude(Exists(in_flight_replay))


def prune_runs(*, older_than: timedelta, dry_run: bool = False, batch_size: int = DEFAULT_BATCH_SIZE) -> PruneReport:
    """Delete finished runs whose `finished_at` is older than `older_than`, at most `batch_size` per transaction."""
    if batch_size < 1:
        raise ValueError("batch_size must be 1 or more")
    report = PruneReport(cutoff=timezone.now() - older_than, dry_run=dry_run)
    if dry_run:
        return _count(report, batch_size)
    size = batch_size
    while True:
        began = time.perf_counter()
        with transaction.atomic():
            ids = _claim_batch(report.cutoff, size)
            if not ids:
                break
            steps, tool_calls = _delete_batch(ids)
        elapsed = time.perf_counter() - began
        if elapsed > LOCK_BUDGET_S:
            size = max(1, size // 2)
        elif elapsed < LOCK_BUDGET_S / 4:
            size = min(batch_size, size * 2)
        report.batch_runs.append(len(ids))
        report.runs += len(ids)
        report.steps += steps
        report.tool_calls += tool_calls
        report.batches += 1
        report.batch_seconds.append(elapsed)
        report.longest_batch_s = max(report.longest_batch_s, elapsed)
    return report


def _count(report: PruneReport, batch_size: int) -> PruneReport:
    runs = prunable(report.cutoff).values("pk")
    report.runs = runs.count()
    report.steps = Step.objects.filter(run_id__in=runs).count()
    report.tool_calls = ToolCall.objects.filter(step__run_id__in=runs).count()
    report.batches = -(-report.runs // batch_size)
    return report


def claim_query(cutoff: datetime, batch_size: int) -> QuerySet:
    """The keys of the oldest prunable runs, to lock. A run a replay submit holds (it locks its source) is
    skipped, and a second prune running at once takes other runs: neither waits, no run is deleted twice."""
    batch = prunable(cutoff).order_by("finished_at").select_for_update(skip_locked=True)
    return batch.values_list("pk", "steps_total")[:batch_size]


def _claim_batch(cutoff: datetime, batch_size: int) -> list[str]:
    """The claimed runs up to STEP_BUDGET steps; the others claimed stay as they are, unlocked at commit."""
    ids: list[str] = []
    steps = 0
    for pk, steps_total in claim_query(cutoff, batch_size):
        if ids and steps + steps_total > STEP_BUDGET:
            break
        ids.append(pk)
        steps += steps_total
    return ids


def _delete_batch(ids: list[str]) -> tuple[int, int]:
    """Delete the runs `ids` and what points at them, children first, by primary key: no row is loaded.

    Raw deletes skip Django's on_delete handling, so each foreign key to Run or Step is done here as its
    model declares it (tests/test_retention.py checks that this list covers every one of them).
    """
    using = Run.objects.db
    # SET_NULL: a replay of a pruned run keeps working; its lineage says the source no longer exists.
    Run.objects.filter(replay_of_id__in=ids).exclude(pk__in=ids).update(replay_of=None)
    # SET_NULL: a business record outlives the run that created it.
    Record.objects.filter(run_id__in=ids).update(run=None)
    # CASCADE, deepest first.
    # The step keys as a list, not a subquery: given one, PostgreSQL scans every step rather than the run_id index.
    step_ids = list(Step.objects.filter(run_id__in=ids).values_list("pk", flat=True))
    tool_calls = ToolCall.objects.filter(step_id__in=step_ids)._raw_delete(using)
    steps = Step.objects.filter(run_id__in=ids)._raw_delete(using)
    OutboxMessage.objects.filter(run_id__in=ids)._raw_delete(using)
    Run.objects.filter(pk__in=ids)._raw_delete(using)
    return steps, tool_calls
