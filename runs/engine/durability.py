"""Which step boundaries wait for PostgreSQL to flush their commit to disk, and which need not."""

from django.db import connection

# Appended to a boundary's final SELECT: synchronous_commit off for that statement's own transaction only.
ASYNC_COMMIT = ", set_config('synchronous_commit', 'off', true)"


def commit_waits_for_flush(*, recorded_call: dict | None, starts_mutating_call: bool, final: bool = False) -> bool:
    """Whether a step boundary's commit must wait for the WAL flush (PostgreSQL's synchronous_commit) before the
    worker goes on.

    A crash of PostgreSQL loses at most the last asynchronous commits (never corrupts, and any later synchronous
    commit flushes every earlier one), so losing a boundary that only recorded an LLM step or a read-only or
    dry-run tool call only means that step runs again on recovery. A boundary that records a mutating tool call
    really invoked, or starts one (its start is what recovery reads as "may have happened, do not repeat"), and
    the run's final transition are durable before anything else happens.
    """
    if final or starts_mutating_call:
        return True
    return (
        recorded_call is not None
        and recorded_call["mutating"]
        and not recorded_call["dry_run"]
        and recorded_call.get("source") != "recorded"
    )


def async_commit_column(waits: bool) -> str:
    """The final SELECT's extra column that lets this commit return before the flush ("" where it must wait)."""
    return "" if waits or connection.vendor != "postgresql" else ASYNC_COMMIT
