"""`python -m bench`: builds its own data, measures every figure, prints one table."""

import os
import platform
import sys
import time

from .environment import BENCH_DB, configure, setup_django


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


def main() -> int:
    stack = configure()
    log(f"Setting up a fresh benchmark database ({stack})...")
    setup_django()

    from tests.worker import celery_worker

    from . import data as bench_data
    from .suite import Bench, memory_runs, throughput_seconds

    began = time.perf_counter()
    data = bench_data.build()
    log(
        f"Built the data in {time.perf_counter() - began:.1f} s (runs of 10, 1,000 and 10,000 steps; 1,000-node versions)."
    )
    bench = Bench(data, log)
    log("Pages and in-process figures:")
    bench.trace_viewer()
    bench.mapping_dialog()
    bench.detection()
    bench.save_mapping()
    bench.engine_overhead()
    bench.engine_overhead_sdk()
    bench.pricing()
    bench.replay_submit()
    bench.discard_queued_replays()
    broker = "Redis broker" if BENCH_DB == "postgres" else "filesystem broker"
    log(f"Starting 2 Celery worker processes of 4 threads each ({broker})...")
    with celery_worker(concurrency=4) as worker, celery_worker(concurrency=4):
        bench.submit_to_completed(broker)
        bench.trigger_to_completed(broker)
        bench.throughput(throughput_seconds())
        bench.worker_memory(worker, memory_runs())
    bench.slow_calls(processes=2, concurrency=40)
    print(table(stack, bench.figures))
    failed = [f.name for f in bench.figures if not f.passed]
    if failed:
        log(f"{len(failed)} figure(s) missed their target: " + "; ".join(failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
