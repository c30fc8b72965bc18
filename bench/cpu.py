"""CPU seconds by role while a figure runs: the worker processes, the database's backends, the submitter.

What a replay costs in CPU, whoever spends it, bounds the throughput a machine can reach: on N cores,
at most N / (CPU seconds per replay) replays a second, however the workers are shaped.
"""

import os
from pathlib import Path

from django.db import connection

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _cpu(pid: int) -> float:
    fields = _stat(pid)
    return (int(fields[11]) + int(fields[12])) / TICKS if fields else 0.0


def _in_groups(groups: set[int]) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and int(fields[2]) in groups:
            pids.append(int(entry.name))
    return pids


def _backends() -> list[int]:
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        return [row[0] for row in cursor.fetchall()]


def snapshot(worker_groups: set[int]) -> dict[str, dict[int, float]]:
    """Cumulative CPU seconds of each process, by role (a process that exits between two snapshots is lost)."""
    me = os.times()
    roles = {"worker processes": {pid: _cpu(pid) for pid in _in_groups(worker_groups)}}
    if connection.vendor == "postgresql":  # SQLite's work is done inside the workers and the submitter
        roles["PostgreSQL backends"] = {pid: _cpu(pid) for pid in _backends()}
    roles["submitter"] = {os.getpid(): me.user + me.system}
    return roles


def spent(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict[str, float]:
    return {role: sum(s - before[role].get(pid, 0.0) for pid, s in after[role].items()) for role in after}
