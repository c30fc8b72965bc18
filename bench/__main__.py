"""`python -m bench`: builds its own data, measures every figure, prints one table."""

import os
import platform
import sys
import time
from contextlib import ExitStack

from .environment import BENCH_DB, PG_NAME, configure, setup_django


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def table(stack: str, figures) -> str:
    header = ("figure", "median", "p95", "queries", "target", "result")
    rows = [header] + [(f.name, f.median, f.p95, f.queries, f.target, f.result) for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    line = lambda row: "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"  # noqa: E731
    out = [
        f"Reprise benchmarks: {stack}; Python {platform.python_version()}, {os.cpu_count()} cores",
        line(header),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    out += [line(row) for row in rows[1:]]
    return "\n".join(out)


# Every figure, in the order measured; `python -m bench NAME ...` (make bench FIGURES="...") measures only those;
# without names, every figure but the opt-in ones.
IN_PROCESS = (
    "trace_viewer",
    "mapping_dialog",
    "detection",
    "save_mapping",
    "suggestions",
    "engine_overhead",
    "engine_overhead_sdk",
    "pricing",
    "replay_submit",
    "compare_page",
    "replay_dialog",
    "checks",
    "replay_plan",
    "recorded_calls",
    "otlp_trace",
    "jsonl_export",
    "cohorts",
)
WITH_WORKER = (
    "submit_to_completed",
    "submit_to_completed_recorded",
    "trigger_to_completed",
    "through_the_server_and_a_bare_chain",
    "throughput",
    "worker_memory",
)
OWN_WORKERS = ("parallel_branches", "slow_calls", "cohort_speed")
# Measured only when named: cohort_speed makes 1,000 replays of 2 one-second calls each (about a minute).
OPT_IN = ("cohort_speed",)
OWN_DATABASE = ("prune",)  # bench/prune.py: 100,000 runs in a database of their own, PostgreSQL only
# PostgreSQL only, at BENCH_SCALE_RUNS runs in a database of its own (bench/scale.py); skipped on SQLite.
SCALE = ("scale",)
EVERY = IN_PROCESS + WITH_WORKER + OWN_WORKERS + OWN_DATABASE + SCALE


def selected(argv: list[str]) -> list[str]:
    unknown = [name for name in argv if name not in EVERY]
    if unknown:
        raise SystemExit(f"Unknown figure(s): {', '.join(unknown)}. Choose from: {', '.join(EVERY)}.")
    return [name for name in EVERY if name in argv or (not argv and name not in OPT_IN)]


def worker_shape() -> tuple[int, int, str]:
    """The workers of the worker figures: BENCH_WORKER_PROCESSES x BENCH_WORKER_THREADS in BENCH_WORKER_POOL."""
    processes = int(os.environ.get("BENCH_WORKER_PROCESSES", "2"))
    threads = int(os.environ.get("BENCH_WORKER_THREADS", "4"))
    return processes, threads, os.environ.get("BENCH_WORKER_POOL", "threads")


def main(argv: list[str]) -> int:
    names = selected(argv)
    others = any(name not in SCALE for name in names)
    stack = configure() if others else "PostgreSQL (the scale section's own database)"
    figures = measure(names, stack) if others else []
    if "scale" in names:
        if BENCH_DB == "postgres":
            from .scale import run_in_child

            figures += run_in_child(log)
        else:
            log("Skipped the scale section: it measures PostgreSQL at a million runs, and BENCH_DB is sqlite.")
    print(table(stack, figures))
    failed = [f.name for f in figures if not f.passed]
    if failed:
        log(f"{len(failed)} figure(s) missed their target: " + "; ".join(failed))
    return 0


def measure(names: list[str], stack: str) -> list:
    """Every selected figure but the scale section's, on a fresh benchmark database."""
    log(f"Setting up a fresh benchmark database ({stack})...")
    setup_django()

    from tests.worker import celery_worker

    from . import data as bench_data
    from .suite import Bench
    from .worker_figures import memory_runs, throughput_seconds

    began = time.perf_counter()
    data = bench_data.build()
    log(
        f"Built the data in {time.perf_counter() - began:.1f} s (runs of 10, 1,000 and 10,000 steps; 1,000-node versions)."
    )
    bench = Bench(data, log)
    broker = "Redis broker" if BENCH_DB == "postgres" else "filesystem broker"
    arguments = {
        "submit_to_completed": (broker,),
        "submit_to_completed_recorded": (broker,),
        "trigger_to_completed": (broker,),
        "through_the_server_and_a_bare_chain": (broker,),
    }
    log("Pages and in-process figures:")
    for name in (n for n in names if n in IN_PROCESS):
        getattr(bench, name)()
    bench.discard_queued_replays()
    if any(name in WITH_WORKER for name in names):
        processes, threads, pool = worker_shape()
        log(f"Starting {processes} Celery worker processes, {pool} pool of {threads} each ({broker})...")
        with ExitStack() as workers:
            started = [workers.enter_context(celery_worker(concurrency=threads, pool=pool)) for _ in range(processes)]
            arguments["worker_memory"] = (started[0], memory_runs())
            groups = {worker.proc.pid for worker in started}  # each worker leads its own process group
            arguments["throughput"] = (throughput_seconds(), f"{processes} x {threads} {pool}", groups)
            for name in (n for n in names if n in WITH_WORKER):
                getattr(bench, name)(*arguments.get(name, ()))
    if "parallel_branches" in names:
        bench.parallel_branches()  # its own worker, whose simulated calls take 1 s
    if "slow_calls" in names:
        bench.slow_calls(processes=2, concurrency=40)  # starts its own workers, with a slow provider
    if "cohort_speed" in names:
        bench.cohort_speed(processes=2, concurrency=40)  # its own workers too, beat's tick admitting
    if "prune" in names:
        from . import prune

        bench.figures += prune.figures(BENCH_DB, PG_NAME, log)
    return bench.figures


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
