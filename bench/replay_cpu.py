"""CPU of one 10-step as-is replay, in process: its submit and its execution apart, and the PostgreSQL backend's.

`python -m bench.replay_cpu [COUNT] [--profile]` with BENCH_DB=postgres or sqlite (and BENCH_PG_NAME,
BENCH_REDIS_BROKER_DB, BENCH_REDIS_CACHE_DB as for `make bench`). What the throughput figure's CPU per replay
is made of, measured without Celery and on one connection, so a change is measured on its own: medians of
COUNT replays (after 10 to warm) of process CPU (time.process_time) and the mean of the backend's (/proc), which
a shared machine's load leaves far steadier than wall-clock time. --profile prints cProfile's top entries,
--queries the statements of one submit and one execution, --worker the CPU per replay of a Celery worker
(threads pool) executing them and of the PostgreSQL backends meanwhile.
"""

import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time

from .environment import BENCH_DB, configure

WARMUP = 10


def main(count: int, profile: bool) -> None:
    configure()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)

    from django.db import connection

    from bench import cpu
    from bench.data import chain, executed_run
    from replay.rules import membership_for_replay
    from replay.services import submit_replay
    from runs import services
    from runs.engine.executor import execute
    from runs.models import Account, Membership, Role, Run, Workspace

    account = Account.objects.create(name="Bench")
    workspace = Workspace.objects.create(account=account, slug="bench", name="Bench")
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user("bench-operator", password="bench-password-1")
    Membership.objects.create(user=user, workspace=workspace, role=Role.OPERATOR)
    revision = services.create_prompt(workspace=workspace, name="bench", content="Summarise: {{ trigger.name }}")
    source = executed_run(
        services.create_workflow(workspace=workspace, name="Chain 10", nodes=chain("n", revision, 10)), 10
    )

    def backend() -> float:
        if connection.vendor != "postgresql":
            return 0.0
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return cpu._cpu(cursor.fetchone()[0])

    def submit() -> str:
        membership = membership_for_replay(user, workspace.pk)
        return submit_replay(membership=membership, run_id=source.pk, fields={"mode": "as_is"}).run.pk

    def measured(work, into: list[float]):
        began = time.process_time()
        result = work()
        into.append(time.process_time() - began)
        return result

    for _ in range(WARMUP):
        execute(submit())
    figures: dict[str, list[float]] = {"submit": [], "execute": []}
    b0 = backend()
    ids = [measured(submit, figures["submit"]) for _ in range(count)]
    b1 = backend()
    for run_id in ids:
        measured(lambda run_id=run_id: execute(run_id), figures["execute"])
    b2 = backend()
    assert Run.objects.filter(replay_of=source).exclude(status="completed").count() == 0
    medians = {name: round(statistics.median(values) * 1000, 2) for name, values in figures.items()}
    # The backend's CPU is counted in ticks (10 ms): the mean over every replay of a phase.
    medians["submit backend"] = round((b1 - b0) / count * 1000, 2)
    medians["execute backend"] = round((b2 - b1) / count * 1000, 2)
    medians["total"] = round(sum(medians.values()), 2)
    load = os.getloadavg()[0]
    print(json.dumps({"stack": BENCH_DB, "count": count, "load": round(load, 2), "ms": medians}), flush=True)
    if "--worker" in sys.argv:
        through_a_worker(count, submit, source)
    if "--queries" in sys.argv:
        from django.test.utils import CaptureQueriesContext

        for name, work in (("submit", submit), ("execute", lambda: execute(submit()))):
            with CaptureQueriesContext(connection) as captured:
                work()
            print(f"--- {name}: {len(captured.captured_queries)} statements")
            for query in captured.captured_queries:
                print("  ", query["sql"][:200])
    if profile:
        for name, work in (("submit", lambda: [submit() for _ in range(50)]), ("execute", None)):
            if work is None:
                ids = [submit() for _ in range(50)]
                work = lambda ids=ids: [execute(run_id) for run_id in ids]  # noqa: E731
            profiler = cProfile.Profile(time.process_time)  # CPU, not the waits on the database
            profiler.runcall(work)
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
            print(f"--- {name}, 50 replays, by own time", out.getvalue(), sep="\n")
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
            print(f"--- {name}, 50 replays, cumulative", out.getvalue(), sep="\n")


def through_a_worker(count: int, submit, source) -> None:
    """The same replays executed by a Celery worker (threads pool, BENCH_WORKER_THREADS threads): its CPU per
    replay, the worker's side of the throughput figure, beside the in-process execute above."""
    from bench import cpu
    from runs.models import Run
    from tests.worker import celery_worker, wait_for

    threads = int(os.environ.get("BENCH_WORKER_THREADS", "4"))
    finished = lambda: Run.objects.filter(replay_of=source, status="completed").count()  # noqa: E731
    with celery_worker(concurrency=threads, pool="threads") as worker:
        for _ in range(WARMUP):
            submit()
        wait_for(lambda: Run.objects.filter(replay_of=source, status="pending").count() == 0, timeout=60)
        done, groups = finished(), {worker.proc.pid}
        before = cpu.snapshot(groups)
        for _ in range(count):
            submit()
        wait_for(lambda: finished() >= done + count, timeout=300, message="the replays to complete")
        spent = cpu.spent(before, cpu.snapshot(groups))
    per_replay = {role: round(value / count * 1000, 2) for role, value in spent.items() if role != "submitter"}
    print(
        json.dumps({"stack": BENCH_DB, "count": count, "load": round(os.getloadavg()[0], 2), "worker ms": per_replay})
    )


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 100, "--profile" in sys.argv)
