"""The figures that need Celery workers: submit or trigger to completed, from outside through gunicorn against a
bare Celery chain, sustained throughput, worker memory and many slow model calls at once."""

import json
import os
import queue
import statistics
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack, nullcontext
from pathlib import Path

from django.db import connection
from django.test import Client

from replay.services import submit_replay
from runs.models import ApiToken, Run
from runs.token_membership import token_membership

from .data import BenchData
from .figures import Figure, ms, p95

TERMINAL = ("completed", "failed", "cancelled")


class WorkerFigures:
    """Bench's worker section; `Bench` sets the attributes and `add` below."""

    data: BenchData
    log: Callable[[str], None]
    figures: list[Figure]
    poll_round_trips: list[float]
    api: Client
    add: Callable[..., None]
    submit: Callable[[], str]

    def wait_terminal(self, run_id: str, timeout: float = 30.0) -> str:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            status = Run.objects.filter(pk=run_id).values_list("status", flat=True).first()
            if status in TERMINAL:
                return status
            time.sleep(0.001)
        raise AssertionError(f"{run_id} did not finish within {timeout}s")

    def seconds_to_completed(self, start: Callable[[], str], *, warmup: int, times: int) -> list[float]:
        """Each of `times` runs from `start()` (which returns its run id) until completed, after `warmup` runs."""
        for _ in range(warmup):
            self.wait_terminal(start())
        samples = []
        for _ in range(times):
            began = time.perf_counter()
            status = self.wait_terminal(start())
            samples.append(time.perf_counter() - began)
            assert status == "completed", status
        return samples

    def submit_to_completed(self, broker: str) -> None:
        self.add(
            f"submit -> completed, 10-step simulated replay, warm worker, {broker}",
            self.seconds_to_completed(self.submit, warmup=5, times=40),
            target_ms=50,
            target="median <= 50 ms",
        )

    def submit_to_completed_recorded(self, broker: str) -> None:
        """Issue 29: an as-is replay of a 10-step run (5 LLM steps, 5 tool calls) with recorded tools, against the
        same replay with live tools (read-only calls sent, mutating ones dry-run), interleaved: within 10 %."""
        url = f"/api/v1/{self.data.workspace.slug}/runs/{self.data.tools_source.run_id}/replays"

        def submit(tools: str) -> str:
            body = json.dumps({"mode": "as_is", "tools": tools})
            response = self.api.post(url, data=body, content_type="application/json")
            assert response.status_code == 201, response.content
            return response.json()["run_id"]

        samples: dict[str, list[float]] = {"live": [], "recorded": []}
        for i in range(45):
            for tools, kept in samples.items():
                began = time.perf_counter()
                status = self.wait_terminal(submit(tools))
                assert status == "completed", status
                if i >= 5:
                    kept.append(time.perf_counter() - began)
        live, recorded = (statistics.median(samples[t]) for t in ("live", "recorded"))
        self.add(f"submit -> completed, 10-step as-is replay with tools live, warm worker, {broker}", samples["live"])
        self.figures.append(
            Figure(
                f"submit -> completed, the same replay with tools recorded, {broker}",
                ms(recorded),
                ms(p95(samples["recorded"])),
                "",
                f"<= 110 % of live ({ms(live * 1.1)})",
                recorded <= live * 1.1,
            )
        )
        self.log(f"  recorded tools: median {ms(recorded)}, {recorded / live:.0%} of live tools ({ms(live)})")

    def trigger_to_completed(self, broker: str) -> None:
        url = f"/api/v1/{self.data.workspace.slug}/workflows/{self.data.chain_source.workflow.workflow_id}/runs"

        def trigger() -> str:
            response = self.api.post(
                url, data=json.dumps({"payload": {"name": "Dana"}}), content_type="application/json"
            )
            assert response.status_code == 201, response.content
            return response.json()["run_id"]

        self.add(
            f"trigger -> completed, 10-step simulated run (API), warm worker, {broker}",
            self.seconds_to_completed(trigger, warmup=3, times=20),
            target_ms=50,
            target="median <= 50 ms (as replays)",
        )

    def through_the_server_and_a_bare_chain(self, broker: str) -> None:
        """From outside through the `make run` server vs. a bare 10-task Celery chain, interleaved in one run."""
        import httpx
        import redis

        from tests.reliability.gunicorn import gunicorn
        from tests.worker import celery_worker

        chain_too = broker.startswith("Redis")
        if not chain_too:
            self.log("  (the bare chain runs on the Redis broker: measured on PostgreSQL + Redis only)")
        signal = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]) if chain_too else None
        outside: list[float] = []
        timelines: list[tuple[str, float, float, float]] = []
        bare: list[float] = []
        long_polled: list[float] = []
        long_timelines: list[tuple[str, float, float, float]] = []
        with (
            gunicorn() as base,
            httpx.Client(base_url=base, headers={"Authorization": f"Bearer {self.data.token}"}, timeout=30) as http,
            celery_worker(app="bench.chain", pool="solo") if chain_too else nullcontext(),
        ):
            for i in range(45):  # the first 5 of each warm the processes, connections and caches
                sample, phases = self.replay_from_outside(http)
                outside += [sample] if i >= 5 else []
                timelines += [phases] if i >= 5 else []
                if signal is not None:
                    sample = bare_chain(signal)
                    bare += [sample] if i >= 5 else []
                sample, phases = self.replay_from_outside(http, long_poll=True)
                long_polled += [sample] if i >= 5 else []
                long_timelines += [phases] if i >= 5 else []
        ratio = statistics.median(outside) / statistics.median(bare) if bare else None
        self.figures.append(
            Figure(
                f"submit -> completed from outside: 10-step replay through the make-run server (gunicorn), "
                f"polling the run API every 5 ms, {broker}",
                ms(statistics.median(outside)),
                ms(p95(outside)),
                "",
                "<= 2x the bare chain" if ratio is not None else "none here (the chain is measured on Redis)",
                ratio is None or ratio <= 2,
            )
        )
        self.log(f"  from outside: median {ms(statistics.median(outside))}, p95 {ms(p95(outside))}")
        self.log_phases(timelines)
        if ratio is not None:
            self.figures.append(
                Figure(
                    "bare Celery chain, 10 trivial tasks, warm solo worker, same Redis, nothing persisted",
                    ms(statistics.median(bare)),
                    ms(p95(bare)),
                    "",
                    "reference",
                    True,
                )
            )
            self.figures.append(
                Figure("ratio: from outside / bare chain (medians)", f"{ratio:.2f}x", "", "", "<= 2x", ratio <= 2)
            )
            self.log(f"  bare chain: median {ms(statistics.median(bare))}, p95 {ms(p95(bare))}; ratio {ratio:.2f}x")
        long_ratio = statistics.median(long_polled) / statistics.median(bare) if bare else None
        self.figures.append(
            Figure(
                f"submit -> completed from outside, the same replay, one long poll of the run API (?wait=30), {broker}",
                ms(statistics.median(long_polled)),
                ms(p95(long_polled)),
                "" if long_ratio is None else f"{long_ratio:.2f}x the bare chain",
                "reference: one request instead of a poll every 5 ms",
                True,
            )
        )
        self.log(f"  long poll: median {ms(statistics.median(long_polled))}, p95 {ms(p95(long_polled))}")
        self.log_phases(long_timelines, polls=False)

    def replay_from_outside(self, http, long_poll: bool = False) -> tuple[float, tuple[str, float, float, float]]:
        """Submit over HTTP, then poll the run API every 5 ms until the replay is final (`long_poll`: ask once with
        ?wait=30, again only if the wait ended first).

        Returns seconds to completed, and the run id with the wall-clock times of the submit, its answer and the
        poll that saw the run final, which `log_phases` sets against the run's own timestamps.
        """
        slug = self.data.workspace.slug
        began, submitted_at = time.perf_counter(), time.time()
        response = http.post(f"/api/v1/{slug}/runs/{self.data.chain_source.run_id}/replays", json={"mode": "as_is"})
        answered_at = time.time()
        assert response.status_code == 201, response.text
        run_id = response.json()["run_id"]
        polls = []
        while True:
            poll_began = time.perf_counter()
            status = http.get(f"/api/v1/{slug}/runs/{run_id}", params={"wait": 30} if long_poll else None).json()[
                "status"
            ]
            polls.append(time.perf_counter() - poll_began)
            if status in TERMINAL:
                break
            if not long_poll:
                time.sleep(0.005)
        assert status == "completed", status
        if not long_poll:
            self.poll_round_trips += polls
        return time.perf_counter() - began, (run_id, submitted_at, answered_at, time.time())

    def log_phases(self, timelines: list[tuple[str, float, float, float]], polls: bool = True) -> None:
        """Where the time from outside goes: the submit's round trip, the wait for a worker, the execution, and
        the polls until one saw the run final (medians; the run's timestamps are the server's, on this clock)."""
        times = Run.objects.in_bulk([t[0] for t in timelines])
        phases: dict[str, list[float]] = {"submit answered": [], "picked up": [], "executed": [], "seen final": []}
        for run_id, submitted_at, answered_at, seen_at in timelines:
            run = times[run_id]
            started, finished = run.started_at.timestamp(), run.finished_at.timestamp()
            phases["submit answered"].append(answered_at - submitted_at)
            phases["picked up"].append(started - run.created_at.timestamp())
            phases["executed"].append(finished - started)
            phases["seen final"].append(seen_at - finished)
        self.log("  where it goes: " + ", ".join(f"{name} {ms(statistics.median(v))}" for name, v in phases.items()))
        if polls:
            self.log(f"  one poll of the run API: median {ms(statistics.median(self.poll_round_trips))}")

    def submit_replays(self, count: int) -> None:
        """Each replay as an API request submits it: its token's membership looked up, then the submit."""
        d = self.data
        token_hash = ApiToken.hash(d.token)
        for _ in range(count):
            found = token_membership(d.workspace.slug, token_hash)
            assert found is not None
            submit_replay(membership=found[0], run_id=d.chain_source.pk, fields={"mode": "as_is"})

    def finished_count(self) -> int:
        return Run.objects.filter(replay_of=self.data.chain_source, status__in=TERMINAL).count()

    def keep_busy(
        self, seconds: float, backlog: int = 60, submitters: int = 4, at_end: Callable[[], object] | None = None
    ) -> list[float]:
        """Submit replays so the workers never run dry; returns completions per second for each 10 s bucket.

        `at_end` is called once the submitters have stopped and before they close their connections: a snapshot of
        the PostgreSQL backends taken there still counts theirs (a backend that exits between two snapshots is lost).

        Several submitter threads, as several API processes would be: one thread submitting alone waits on
        its round trips (a submit is ~3 ms of CPU but 5-8 ms of wall time on a loaded machine) and was the
        ceiling of the throughput figure (the workers found no run waiting at most looks).
        """
        # Only the bench's replays are in flight here: counting by status reads the in-flight runs alone
        # (run_status_heartbeat_idx), where counting the source's replays read every one of them, 20 times a second.
        pending = lambda: Run.objects.filter(status__in=("pending", "running")).count()  # noqa: E731
        wanted: queue.Queue[None] = queue.Queue()
        stop, measured, idle = threading.Event(), threading.Event(), threading.Semaphore(0)
        failures: list[
            BaseException
        ] = []  # a submitter that fails stops the figure: fewer submitters would understate it

        def submitter() -> None:
            try:
                while not stop.is_set():
                    try:
                        wanted.get(timeout=0.05)
                    except queue.Empty:
                        continue
                    self.submit_replays(1)
            except BaseException as exc:
                failures.append(exc)
                stop.set()
            finally:
                idle.release()
                measured.wait()
                connection.close()  # each thread's own connection

        threads = [threading.Thread(target=submitter, daemon=True) for _ in range(submitters)]
        for thread in threads:
            thread.start()
        began = time.perf_counter()
        bucket_start, bucket_done = began, self.finished_count()
        rates = []
        try:
            while time.perf_counter() - began < seconds and not stop.is_set():
                for _ in range(backlog - pending() - wanted.qsize()):
                    wanted.put(None)
                # Counting is not free on a 2-core machine: look again in 0.05 s, the backlog lasts longer than that.
                time.sleep(0.05)
                now = time.perf_counter()
                if now - bucket_start >= 10:
                    done = self.finished_count()
                    rates.append((done - bucket_done) / (now - bucket_start))
                    bucket_start, bucket_done = now, done
        finally:
            stop.set()
            try:
                for _ in threads:
                    if not idle.acquire(timeout=30):
                        raise RuntimeError("a submitter did not stop within 30 s")
                if at_end is not None and not failures:
                    at_end()
            finally:
                measured.set()
                for thread in threads:
                    thread.join(timeout=30)
        if failures:
            raise RuntimeError("a submitter failed, so the figure would be understated") from failures[0]
        return rates

    def throughput(self, seconds: float, workers: str, worker_groups: set[int]) -> None:
        """Issue 16, item 7: zero-latency throughput with several worker processes, each with its threads."""
        from . import cpu

        self.keep_busy(5)  # warm every pool process and thread
        churn_before = run_table_churn()
        before, began, cpu_before = self.finished_count(), time.perf_counter(), cpu.snapshot(worker_groups)
        ended = []  # the count, the time and the CPU as the submitters stop

        def at_end() -> None:
            ended.append((self.finished_count(), time.perf_counter(), cpu.snapshot(worker_groups)))

        rates = self.keep_busy(seconds, at_end=at_end)
        ((finished_at_end, ended_at, cpu_after),) = ended
        finished, elapsed = finished_at_end - before, ended_at - began
        overall, spent = finished / elapsed, cpu.spent(cpu_before, cpu_after)
        rates = rates or [overall]
        self.figures.append(
            Figure(
                f"throughput, 10-step simulated replays, {workers}, {seconds:.0f} s",
                f"{statistics.median(rates):.1f} /s",
                f"worst 10 s: {min(rates):.1f} /s",
                "",
                ">= 200 replays/s sustained (issue 35)",
                overall >= 200 and min(rates) >= 180,
            )
        )
        # One row a process role, named alike on both stacks, so the side-by-side table sets them against each other.
        per_replay = {role: s / max(finished, 1) * 1000 for role, s in spent.items()}
        total = sum(per_replay.values())
        load = os.getloadavg()[0]
        for role, value in per_replay.items():
            self.figures.append(
                Figure(f"CPU per replay meanwhile: {role}", f"{value:.1f} ms", "", "", "reference", True)
            )
        self.figures.append(
            Figure(
                "CPU per replay meanwhile: every process above",
                f"{total:.1f} ms",
                f"load {load:.1f}; {os.cpu_count()} idle cores: <= {os.cpu_count() * 1000 / total:.0f} /s",
                "",
                "reference: N cores allow N / CPU per replay replays/s at most",
                True,
            )
        )
        self.log(f"  throughput: {overall:.1f} replays/s overall, 10 s buckets {[round(r, 1) for r in rates]}")
        self.log(f"  CPU per replay: {per_replay}, total {total:.1f} ms; load average {load:.2f}")
        if churn_before is not None and (churn := run_table_churn()) is not None:
            updates, hot = churn[0] - churn_before[0], churn[1] - churn_before[1]
            self.log(f"  runs_run meanwhile: {updates} updates, {hot} in place (HOT), {churn[2]} dead row versions now")

    def message_floor(self, seconds: float, processes: int, threads: int) -> None:
        """What one Celery message costs alone, with the throughput figure's broker, acks and worker shape: a no-op
        task published and run as fast as the machine allows. A replay is at least one such message besides its
        own work, so the CPU per message here is part of every replay's CPU in the throughput figure."""
        import redis

        from tests.worker import celery_worker

        from . import cpu
        from .chain import QUEUE, noop

        client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
        counter = f"bench-noop:{time.perf_counter_ns()}"
        done = lambda: int(client.get(counter) or 0)  # noqa: E731
        stop = threading.Event()

        def publisher() -> None:
            while not stop.is_set():
                if client.llen(QUEUE) > 60:  # a backlog, as the throughput figure keeps one
                    time.sleep(0.002)
                else:
                    noop.delay(counter)

        with ExitStack() as workers:
            started = [
                workers.enter_context(celery_worker(app="bench.chain", pool="threads", concurrency=threads))
                for _ in range(processes)
            ]
            groups = {worker.proc.pid for worker in started}
            publishers = [threading.Thread(target=publisher, daemon=True) for _ in range(4)]
            for thread in publishers:
                thread.start()
            try:
                time.sleep(3)  # warm
                before, began, cpu_before = done(), time.perf_counter(), cpu.snapshot(groups)
                time.sleep(seconds)
                after, elapsed, cpu_after = done(), time.perf_counter() - began, cpu.snapshot(groups)
            finally:
                stop.set()
                for thread in publishers:
                    thread.join(timeout=10)
            client.delete(QUEUE, counter)
        messages = max(after - before, 1)
        spent = cpu.spent(cpu_before, cpu_after)
        workers_ms = spent["worker processes"] / messages * 1000
        publisher_ms = spent["submitter"] / messages * 1000
        self.figures.append(
            Figure(
                f"no-op Celery tasks, {processes} x {threads} threads, same broker and acks, {seconds:.0f} s",
                f"{messages / elapsed:.0f} /s",
                f"CPU per message: workers {workers_ms:.2f} ms, publisher {publisher_ms:.2f} ms",
                "",
                "reference: the floor of one message, inside every replay's CPU above",
                True,
            )
        )
        self.log(
            f"  no-op tasks: {messages / elapsed:.0f}/s; CPU per message: workers {workers_ms:.2f} ms,"
            f" publisher {publisher_ms:.2f} ms; load {os.getloadavg()[0]:.1f}"
        )

    def worker_memory(self, worker, runs: int) -> None:
        baseline = group_rss(worker.proc.pid)
        start = self.finished_count()
        while self.finished_count() - start < runs:
            self.keep_busy(10)
            self.log(
                f"  memory: {self.finished_count() - start} of {runs} runs, RSS {group_rss(worker.proc.pid) / 2**20:.1f} MB"
            )
        final = group_rss(worker.proc.pid)
        growth = (final - baseline) / baseline * 100
        self.figures.append(
            Figure(
                f"worker memory over {runs:,} runs (RSS, main + pool)",
                f"{baseline / 2**20:.1f} -> {final / 2**20:.1f} MB",
                f"{growth:+.1f} %",
                "",
                "RSS growth <= 10 %",
                growth <= 10,
            )
        )

    def parallel_branches(self) -> None:
        """Issue 35: a run takes as long as its critical path. Trigger (and replay) -> completed, 1 s a model call."""
        from django.conf import settings

        from tests.worker import celery_worker

        from . import parallel

        fan, layered = parallel.workflows(self.data)
        slug = self.data.workspace.slug
        ran: list[str] = []

        def trigger(workflow) -> str:
            response = self.api.post(
                f"/api/v1/{slug}/workflows/{workflow.workflow_id}/runs",
                data=json.dumps({"payload": {"name": "Dana"}}),
                content_type="application/json",
            )
            assert response.status_code == 201, response.content
            ran.append(response.json()["run_id"])
            return ran[-1]

        def replay() -> str:
            response = self.api.post(
                f"/api/v1/{slug}/runs/{ran[0]}/replays",
                data=json.dumps({"mode": "as_is"}),
                content_type="application/json",
            )
            assert response.status_code == 201, response.content
            return response.json()["run_id"]

        shape = f"RUN_MAX_PARALLEL {settings.RUN_MAX_PARALLEL}, 1 s a simulated call, shared machine"
        self.log(f"Starting a Celery worker (4 threads) whose simulated model calls take {parallel.LATENCY} s...")
        with celery_worker(env={"SIMULATED_LATENCY": parallel.LATENCY}, concurrency=4):
            figures = (
                ("trigger -> completed, 4 independent model calls and a join", lambda: trigger(fan), 1300, 5),
                ("replay -> completed, the same run replayed as-is", replay, 1300, 5),
                ("trigger -> completed, 20 model calls in 4 layers of 5", lambda: trigger(layered), 4500, 3),
            )
            for name, start, target_ms, times in figures:
                self.add(
                    f"{name} ({shape})",
                    self.seconds_to_completed(start, warmup=1, times=times),
                    target_ms=target_ms,
                    target=f"median <= {target_ms / 1000:.1f} s",
                )

    def slow_calls(self, *, processes: int, concurrency: int) -> None:
        """Item 7's figures: replays of a 5-step run, 1 s a model call, submitted together, until all complete."""
        from tests.worker import celery_worker

        from . import slow_calls

        one = slow_calls.sources(self.data, 1, "slow-one")
        ten = slow_calls.sources(self.data, 10, "slow-ten")
        with slow_calls.provider_server() as server:
            env = slow_calls.worker_env(server, concurrency)
            self.log(f"Starting {processes} Celery worker processes, {concurrency} threads each, 1 s per model call...")
            with ExitStack() as workers:
                for _ in range(processes):
                    workers.enter_context(celery_worker(env=env, concurrency=concurrency))
                slow_calls.replays_together(self.data, one, 4)  # warm every thread's connection
                for count, targets, target_s in ((20, one, 8), (200, ten, 20)):
                    elapsed = slow_calls.replays_together(self.data, targets, count)
                    where = "one workspace" if len(targets) == 1 else f"{len(targets)} workspaces"
                    self.figures.append(
                        Figure(
                            f"{count} replays of a 5-step run, 1 s a model call, submitted together ({where}),"
                            f" {processes} x {concurrency} threads",
                            f"{elapsed:.1f} s",
                            "",
                            "",
                            f"<= {target_s} s",
                            elapsed <= target_s,
                        )
                    )
                    self.log(f"  {count} slow replays: {elapsed:.1f} s")


def bare_chain(signal) -> float:
    from .chain import run_chain

    began = time.perf_counter()
    run_chain(signal, f"bench-chain:{time.perf_counter_ns()}")
    return time.perf_counter() - began


def group_rss(pgid: int) -> int:
    """Resident memory of every process in the worker's process group (main process and pool children)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            continue
    return total


def run_table_churn() -> tuple[int, int, int] | None:
    """PostgreSQL's counters for runs_run (updates, heap-only updates, dead row versions); None on SQLite.

    Backends report them within a second or so, so they lag the figure a little."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd, n_dead_tup FROM pg_stat_user_tables WHERE relid = %s::regclass",
            [Run._meta.db_table],
        )
        return cursor.fetchone()


def throughput_seconds() -> float:
    return float(os.environ.get("BENCH_THROUGHPUT_SECONDS", "60"))


def memory_runs() -> int:
    return int(os.environ.get("BENCH_MEMORY_RUNS", "10000"))
