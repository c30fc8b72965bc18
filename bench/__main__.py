"""`python -m bench`: builds its own data, measures every figure, prints one table."""

import json
import os
import platform
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import asdict

from .environment import BENCH_DB, BROKERS, PG_NAME, STACK_LABELS, STACKS, configure, setup_django
from .figures import Figure


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def markdown(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) + " |"  # noqa: E731
    out = [title, line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    return "\n".join(out + [line(row) for row in rows])


def title(stacks: str) -> str:
    return f"Reprise benchmarks: {stacks}; Python {platform.python_version()}, {os.cpu_count()} cores"


def table(stack: str, figures) -> str:
    header = ("figure", "median", "p95", "queries", "target", "result")
    return markdown(title(stack), header, [(f.name, f.median, f.p95, f.queries, f.target, f.result) for f in figures])


def side_by_side(measured: dict[str, list[Figure]]) -> str:
    """One row a figure, each stack's median, p95, queries and result beside the other's ("—": not measured there).

    A worker figure names its stack's broker; the row drops it, as the columns name the stack."""
    by_stack = {
        stack: {f.name.replace(f", {BROKERS[stack]}", ""): f for f in figures} for stack, figures in measured.items()
    }
    names: list[str] = []
    for figures in by_stack.values():  # in the order measured; a figure of one stack only after its predecessor
        at = 0
        for name in figures:
            if name in names:
                at = names.index(name) + 1
            else:
                names.insert(at, name)
                at += 1
    header = ("figure",)
    for stack in measured:
        header += (f"{stack} median", "p95", "queries", "result")
    rows = []
    for name in names:
        shown = [by_stack[stack].get(name) for stack in measured]
        cells: tuple[str, ...] = (name,)
        for f in shown:
            cells += (f.median, f.p95, f.queries, f.result) if f else ("—", "", "", "")
        targets = list(dict.fromkeys(f.target for f in shown if f))
        rows.append((*cells, " / ".join(targets)))
    stacks = " beside ".join(f"{stack}: {STACK_LABELS[stack]}" for stack in measured)
    return markdown(title(stacks), (*header, "target"), rows)


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
POSTGRES_ONLY = OWN_DATABASE + SCALE
FIGURE_MARK = "bench-figure "  # a stdout line of a stack's child process that the parent reads as a figure


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
    if BENCH_DB == "both":
        return both_stacks(names)
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
    if os.environ.get("BENCH_CHILD"):
        for figure in figures:
            print(FIGURE_MARK + json.dumps(asdict(figure)), flush=True)
    failed = [f.name for f in figures if not f.passed]
    if failed:
        log(f"{len(failed)} figure(s) missed their target: " + "; ".join(failed))
    return 0


def both_stacks(names: list[str]) -> int:
    """Each stack in a child process of its own (its own settings and database), one after the other, so neither
    measures while the other loads the machine; then every figure of both, side by side."""
    measured: dict[str, list[Figure]] = {}
    for stack in STACKS:
        wanted = [n for n in names if stack == "postgres" or n not in POSTGRES_ONLY]
        if not wanted:
            continue
        log(f"=== {STACK_LABELS[stack]} (BENCH_DB={stack}) ===")
        env = {**os.environ, "BENCH_DB": stack, "BENCH_CHILD": "1"}
        child = subprocess.run(
            [sys.executable, "-m", "bench", *wanted], env=env, stdout=subprocess.PIPE, text=True, check=False
        )
        lines = child.stdout.splitlines()
        log("\n".join(line for line in lines if not line.startswith(FIGURE_MARK)))
        measured[stack] = [
            Figure(**json.loads(line[len(FIGURE_MARK) :])) for line in lines if line.startswith(FIGURE_MARK)
        ]
        if child.returncode != 0:
            log(
                f"The {stack} benchmark failed (exit {child.returncode}): its figures are missing below, its log says why."
            )
    print(side_by_side(measured))
    failed = [f"{f.name} ({stack})" for stack, figures in measured.items() for f in figures if not f.passed]
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
    broker = BROKERS[BENCH_DB]
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
    if any(name in WITH_WORKER for name in names):
        # The throughput figure leaves its backlog queued when its workers stop: a figure with a worker of its own
        # (1 s a call) would first run those replays, each ten seconds long, and time out behind them.
        bench.discard_queued_replays()
    if "throughput" in names and broker.startswith("Redis"):
        processes, threads, _ = worker_shape()
        bench.message_floor(min(throughput_seconds(), 20), processes, threads)
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
