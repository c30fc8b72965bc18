"""`make soak`: 200 replays across 10 workspaces through gunicorn (4 processes) and Celery workers on PostgreSQL,
while the broker is stopped for 10 s, a worker is SIGKILLed mid-run and another started, and the worker's
database connection is cut. Prints one table; exits non-zero if a replay was lost or a side effect duplicated.
Then the SIGTERM drain (`sigterm_drain`): a worker told to stop mid-run exits after its current steps, and the
runs it hands on complete on the next worker with every step run once. `make soak SCENARIOS=sigterm_drain` runs that alone.

`cohort_kill` SIGKILLs the worker while beat's tick admits a cohort's members, then while their replays execute.

A second scenario (`parallel_kill`) SIGKILLs the worker while runs are in parallel steps (RUN_MAX_PARALLEL),
two of them mutating http.post calls to a local receiver that counts what it was sent.
`python -m tests.reliability.soak parallel_kill` runs one scenario alone (default: every one).

The broker is a Redis of its own (port 6390) so that stopping it leaves the cache (port 6379) alone.
"""

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
BROKER_PORT = int(os.environ.get("SOAK_BROKER_PORT", "6390"))
DB_NAME = os.environ.get("SOAK_DB_NAME", "reprise_soak")
DB_URL = f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
WORKSPACES, REPLAYS = 10, 200
SWEEP = {"RUN_STALE_AFTER": "3", "RUN_SWEEP_INTERVAL": "1", "RUN_PENDING_REDISPATCH_AFTER": "3"}
SETTLE_TIMEOUT = 240
CACHE_DB = int(os.environ.get("SOAK_REDIS_CACHE_DB", "11"))  # flushed at the start: one no other session uses


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def configure() -> None:
    var = BASE_DIR / "var" / "soak"
    var.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "REPRISE_VAR_DIR": str(var),
            "DEBUG": "false",
            "DATABASE_URL": DB_URL,
            "CELERY_BROKER_URL": f"redis://127.0.0.1:{BROKER_PORT}/0",
            "REDIS_URL": f"redis://127.0.0.1:6379/{CACHE_DB}",
            "REPLAY_QUOTA_RATE": "1000/m",
            "SIMULATED_LATENCY": "0.02",
            "LOG_LEVEL": "WARNING",
            "SECURE_COOKIES": "false",
            **SWEEP,
        }
    )
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=CACHE_DB).flushdb()


class Broker:
    def __init__(self):
        self.dir = BASE_DIR / "var" / "soak"

    def start(self) -> None:
        subprocess.run(
            [
                "redis-server",
                "--port",
                str(BROKER_PORT),
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "yes",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(50):
            if subprocess.run(["redis-cli", "-p", str(BROKER_PORT), "ping"], capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise SystemExit("the soak broker did not start")

    def stop(self) -> None:
        subprocess.run(["redis-cli", "-p", str(BROKER_PORT), "shutdown", "nosave"], capture_output=True)


def build():
    from django.contrib.auth import get_user_model

    from runs import services
    from runs.engine.executor import execute
    from runs.models import Account, ApiToken, Membership, Role, Run, Workspace

    sources = []
    for i in range(WORKSPACES):
        account = Account.objects.create(name=f"Soak {i}")
        workspace = Workspace.objects.create(account=account, slug=f"soak{i}", name=f"Soak {i}")
        user = get_user_model().objects.create_user(f"soak-operator-{i}")
        Membership.objects.create(user=user, workspace=workspace, role=Role.OPERATOR)
        _, token = ApiToken.issue(user)
        revision = services.create_prompt(workspace=workspace, name="reply", content="Reply to {{ trigger.name }}")
        prompt = {"artifact_id": revision.artifact.artifact_id, "content_hash": revision.content_hash}
        nodes = [
            {
                "id": f"think{n}",
                "type": "llm",
                "model": "anthropic:claude-opus-4-7",
                "prompt": prompt,
                "after": [f"think{n - 1}"] if n else [],
            }
            for n in range(6)
        ]
        notify = {
            "id": "notify",
            "type": "tool",
            "tool": "messages.send",
            "after": ["think5"],
            "args": {"to": "{{ trigger.email }}", "body": "{{ nodes.think5.output }}"},
        }
        if i == 0:  # one workspace opted in: its replays really send
            notify["policies"] = {"replay": {"allowMutations": True}}
        nodes.append(notify)
        version = services.create_workflow(workspace=workspace, name="Support", nodes=nodes)
        run = Run.objects.create(
            workspace=workspace,
            workflow=version.workflow,
            version=version,
            version_number=1,
            trigger_payload={"name": "Dana", "email": "dana@example.com"},
            steps_total=len(nodes),
        )
        execute(run.run_id)
        sources.append((workspace.slug, run.run_id, token, i == 0))
    return sources


def submit_all(base: str, sources, results: list) -> None:
    import httpx

    def one(n: int):
        slug, run_id, token, opted_in = sources[n % WORKSPACES]
        with httpx.Client(base_url=base, timeout=30) as client:
            try:
                response = client.post(
                    f"/api/v1/{slug}/runs/{run_id}/replays",
                    # The opted-in workspace's replays invoke messages.send: submit confirms it, as an operator would.
                    json={"mode": "as_is", "confirm_invoke": opted_in},
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"soak-{n}"},
                )
                body = (
                    response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
                )
                results.append((n, response.status_code, body.get("run_id")))
            except httpx.HTTPError as exc:
                results.append((n, f"error: {type(exc).__name__}", None))

    with ThreadPoolExecutor(4) as pool:
        for n in range(REPLAYS):
            pool.submit(one, n)
            time.sleep(0.12)  # about 8 per second: the stream spans every fault


def cut_worker_db_connections() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'reprise-soak-worker' AND datname = %s",
            [DB_NAME],
        )
        return cursor.rowcount


def faults(worker_env: dict, broker: Broker, workers: list) -> None:
    from tests.worker import Worker

    time.sleep(4)
    log("fault (a): stopping the broker for 10 s")
    broker.stop()
    time.sleep(10)
    broker.start()
    log("broker back")
    time.sleep(5)
    log("fault (b): SIGKILL worker 1 mid-run, starting worker 2")
    workers[0].kill()
    workers.append(Worker(worker_env, concurrency=2, beat=True))
    time.sleep(4)
    log(f"fault (c): cut the worker's database connections ({cut_worker_db_connections()} cut)")


def report(results, sources) -> int:
    from django.db.models import Count, F, Max
    from django.utils import timezone

    from runs.models import OutboxMessage, Run

    accepted = {run_id for _, status, run_id in results if status == 201}
    refused = [status for _, status, _ in results if status != 201]
    # A fault may cost a request (an error or the quota's 429); a refusal for any other reason is a defect.
    wrongly_refused = sum(1 for status in refused if isinstance(status, int) and status != 429)
    runs = Run.objects.filter(pk__in=accepted)
    by_status = dict(runs.values_list("status").annotate(n=Count("pk")))
    lost = runs.exclude(status__in=("completed", "failed", "cancelled")).count() + (len(accepted) - runs.count())
    duplicated = OutboxMessage.objects.values("run_id", "node_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    opted_in = [run_id for slug, run_id, _, opted in sources if opted]
    unexpected = OutboxMessage.objects.filter(run__in=runs).exclude(run__replay_of__in=opted_in).count()
    incomplete = runs.filter(status="completed").annotate(n=Count("steps")).exclude(n=F("steps_total")).count()
    waits = [(r.started_at or timezone.now()) - r.created_at for r in runs.only("created_at", "started_at")]
    max_pending = max(waits).total_seconds() if waits else 0.0
    failures = dict(runs.filter(status="failed").values_list("error").annotate(n=Count("pk")))
    rows = [
        ("replays submitted", REPLAYS),
        ("accepted (201)", len(accepted)),
        ("refused or errored", f"{len(refused)} {sorted(set(map(str, refused)))}" if refused else 0),
        ("completed", by_status.get("completed", 0)),
        ("failed", by_status.get("failed", 0)),
        ("refused other than by the quota (must be 0)", wrongly_refused),
        ("lost (must be 0)", lost),
        ("duplicated side effects (must be 0)", duplicated),
        ("outbox writes without opt-in (must be 0)", unexpected),
        ("completed runs missing steps (must be 0)", incomplete),
        ("max time a run stayed pending", f"{max_pending:.1f} s"),
        ("sweep interval / stale after", f"{SWEEP['RUN_SWEEP_INTERVAL']} s / {SWEEP['RUN_STALE_AFTER']} s"),
    ]
    print_table(rows)
    for error, n in failures.items():
        print(f"failed x{n}: {error}")
    latest = Run.objects.filter(pk__in=accepted).aggregate(Max("finished_at"))
    log(f"last replay finished at {latest['finished_at__max']}")
    return 1 if lost or duplicated or unexpected or incomplete or wrongly_refused else 0


DRAIN_RUNS, DRAIN_STEPS, DRAIN_STEP_SECONDS = 4, 10, 1.0


def sigterm_drain(worker_env: dict) -> tuple[list, bool]:
    """SIGTERM a worker while it executes runs of one-second http.get steps: it exits once its current steps end,
    each run handed on at that boundary; a second worker completes them, and the server counts every step's call."""
    from runs import services
    from runs.models import Run, Step, Workspace
    from tests.http_server import LocalServer
    from tests.worker import Worker, wait_for

    with LocalServer() as server:
        nodes = [
            {
                "id": f"s{n}",
                "type": "tool",
                "tool": "http.get",
                "args": {"url": f"{server.url}/slow?s={DRAIN_STEP_SECONDS}&call={{{{ trigger.key }}}}-s{n}"},
                "after": [f"s{n - 1}"] if n else [],
            }
            for n in range(DRAIN_STEPS)
        ]
        workspace = Workspace.objects.order_by("pk").first()
        version = services.create_workflow(workspace=workspace, name="Drain", nodes=nodes)
        env = {**worker_env, "TOOL_HTTP_ALLOWED_HOSTS": "127.0.0.1"}
        first = Worker(env, concurrency=DRAIN_RUNS, beat=False)
        runs = [services.trigger_run(workflow=version.workflow, payload={"key": f"r{n}"}).pk for n in range(DRAIN_RUNS)]
        in_flight = Run.objects.filter(pk__in=runs)
        wait_for(lambda: all(n >= 2 for n in in_flight.values_list("steps_completed", flat=True)), timeout=60)
        log(f"scenario sigterm_drain: SIGTERM to a worker executing {DRAIN_RUNS} runs")
        exit_seconds = first.terminate(timeout=120)
        handed_on = in_flight.filter(status="pending", lease="").count()
        done_at_exit = sum(in_flight.values_list("steps_completed", flat=True))
        second = Worker(env, concurrency=DRAIN_RUNS, beat=True)
        try:
            wait_for(lambda: not in_flight.exclude(status="completed").exists(), timeout=120, interval=0.5)
        except AssertionError:
            pass  # reported below as runs not completed
        finally:
            second.stop()
        calls = [r["query"].split("call=")[1] for r in server.requests if r["path"] == "/slow"]
    twice = len(calls) - len(set(calls))
    missing = DRAIN_RUNS * DRAIN_STEPS - len(set(calls))
    not_completed = in_flight.exclude(status="completed").count()
    not_recorded = DRAIN_RUNS * DRAIN_STEPS - Step.objects.filter(run__in=runs, status="completed").count()
    rows = [
        (
            "sigterm drain: runs in flight at SIGTERM",
            f"{DRAIN_RUNS} ({done_at_exit} of {DRAIN_RUNS * DRAIN_STEPS} steps done at exit)",
        ),
        ("sigterm drain: worker exit after SIGTERM", f"{exit_seconds:.1f} s (steps of {DRAIN_STEP_SECONDS:.0f} s)"),
        ("sigterm drain: runs handed on at exit", f"{handed_on} of {DRAIN_RUNS}"),
        ("sigterm drain: steps run twice (must be 0)", twice),
        ("sigterm drain: steps never run (must be 0)", missing + not_recorded),
        ("sigterm drain: runs not completed (must be 0)", not_completed),
    ]
    return rows, bool(twice or missing or not_recorded or not_completed or handed_on != DRAIN_RUNS)


def print_table(rows) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"| {'figure'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name.ljust(width)} | {value} |")


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"Unknown scenario(s): {', '.join(unknown)}. Choose from: {', '.join(SCENARIOS)}.")
    configure()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    broker = Broker()
    broker.stop()
    broker.start()
    try:
        return max(SCENARIOS[name]() for name in names or SCENARIOS)
    finally:
        broker.stop()


def faults_scenario() -> int:
    """The broker stopped, a worker SIGKILLed and its database connections cut, during 200 replays."""
    from runs.models import Run
    from tests.reliability.gunicorn import gunicorn
    from tests.worker import Worker

    broker = Broker()
    sources = build()
    log(f"built {WORKSPACES} workspaces, each with a finished 7-step source run")
    worker_env = {"DATABASE_URL": DB_URL + "?application_name=reprise-soak-worker", **SWEEP}
    workers = [Worker(worker_env, concurrency=2, beat=True)]
    results: list = []
    try:
        with gunicorn(workers=4, env={"DATABASE_URL": DB_URL}) as base:
            log(f"submitting {REPLAYS} replays through gunicorn (4 processes) at {base}")
            chaos = threading.Thread(target=faults, args=(worker_env, broker, workers))
            chaos.start()
            submit_all(base, sources, results)
            chaos.join()
        log("all submitted; waiting for every accepted replay to finish")
        accepted = [run_id for _, status, run_id in results if status == 201]
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline:
            left = Run.objects.filter(pk__in=accepted).exclude(status__in=("completed", "failed", "cancelled")).count()
            if not left:
                break
            time.sleep(1)
        for worker in workers:
            worker.stop()  # the scenarios below start their own
        return report(results, sources)
    finally:
        for worker in workers:
            worker.stop()


# --- SIGKILL during parallel steps (issue 35) ---------------------------------------------------------------------

PARALLEL_RUNS = 40
RECEIVER_PORT = int(os.environ.get("SOAK_RECEIVER_PORT", "6391"))
PARALLEL_LATENCY = "0.4"  # seconds a simulated model call takes: the kill lands while branches are in their calls


class Receiver:
    """Where the mutating http.post branches send: counts each (run number, node) it was sent, answering slowly."""

    def __init__(self):
        import json
        from collections import Counter
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.sent: Counter = Counter()
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
                with lock:
                    receiver.sent[(str(body.get("n")), body.get("node"))] += 1
                time.sleep(0.3)  # a call in flight when the worker is killed: sent, never recorded
                data = b'{"ok": true}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", RECEIVER_PORT), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def parallel_workflow():
    """Four model calls and two mutating http.post calls side by side, then a join that reads them all."""
    from runs import services
    from runs.models import Account, Workspace

    account = Account.objects.create(name="Soak parallel")
    workspace = Workspace.objects.create(account=account, slug="soak-parallel", name="Soak parallel")
    revision = services.create_prompt(workspace=workspace, name="think", content="Think about {{ trigger.n }}")
    prompt = {"artifact_id": revision.artifact.artifact_id, "content_hash": revision.content_hash}
    model = "anthropic:claude-opus-4-7"
    branches = [{"id": f"think{i}", "type": "llm", "model": model, "prompt": prompt} for i in range(4)]
    url = f"http://127.0.0.1:{RECEIVER_PORT}/hook"
    branches += [
        {
            "id": hook,
            "type": "tool",
            "tool": "http.post",
            "args": {"url": url, "json": {"n": "{{ trigger.n }}", "node": hook}},
        }
        for hook in ("hook_a", "hook_b")
    ]
    join = {"id": "join", "type": "llm", "model": model, "prompt": prompt, "after": [b["id"] for b in branches]}
    return services.create_workflow(workspace=workspace, name="Parallel", nodes=[*branches, join]).workflow


def parallel_kill_scenario() -> int:
    """Runs triggered while a worker executes them in parallel steps; SIGKILLed when several runs are mid-branch."""
    from django.db.models import Count

    from runs import services
    from runs.engine.executor import INTERRUPTED
    from runs.models import Run, Step
    from tests.worker import Worker, wait_for

    receiver = Receiver()
    worker_env = {
        "DATABASE_URL": DB_URL,
        "SIMULATED_LATENCY": PARALLEL_LATENCY,
        "RUN_MAX_PARALLEL": "8",
        "TOOL_HTTP_ALLOWED_HOSTS": f"127.0.0.1:{RECEIVER_PORT}",
        **SWEEP,
    }
    workers = [Worker(worker_env, concurrency=4, beat=True)]
    try:
        workflow = parallel_workflow()
        run_ids = []
        for n in range(PARALLEL_RUNS):
            run_ids.append(services.trigger_run(workflow=workflow, payload={"n": n}).run_id)
            time.sleep(0.05)  # a stream of triggers, so the kill finds runs at every stage

        def mid_branch() -> list[str]:
            busy = Step.objects.filter(run_id__in=run_ids, status=Step.Status.RUNNING).values("run_id")
            caught = [row["run_id"] for row in busy.annotate(n=Count("pk")).filter(n__gte=2)]
            return caught if len(caught) >= 2 else None  # several runs, each with two or more steps running

        caught = wait_for(mid_branch, timeout=60, interval=0.02, message="runs in parallel steps")
        log(f"SIGKILL the worker while {len(caught)} runs have two or more steps running; starting another")
        workers[0].kill()
        workers.append(Worker(worker_env, concurrency=4, beat=True))
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while (
            time.monotonic() < deadline
            and Run.objects.filter(pk__in=run_ids, status__in=Run.IN_FLIGHT_STATUSES).exists()
        ):
            time.sleep(1)
        runs = Run.objects.filter(pk__in=run_ids)
        by_status = dict(runs.values_list("status").annotate(n=Count("pk")))
        lost = runs.filter(status__in=Run.IN_FLIGHT_STATUSES).count() + (len(run_ids) - runs.count())
        duplicated = sum(1 for count in receiver.sent.values() if count > 1)
        completed = list(runs.filter(status=Run.Status.COMPLETED).values_list("trigger_payload", flat=True))
        unsent = sum(
            1 for payload in completed for hook in ("hook_a", "hook_b") if not receiver.sent[(str(payload["n"]), hook)]
        )
        interrupted = runs.filter(status=Run.Status.FAILED, error__endswith=INTERRUPTED).count()
        left_running = Step.objects.filter(
            run__in=runs.exclude(status__in=Run.IN_FLIGHT_STATUSES), status="running"
        ).count()
        rows = [
            ("runs triggered (4 model calls + 2 mutating posts in parallel, then a join)", PARALLEL_RUNS),
            ("runs with 2+ steps running when the worker was SIGKILLed", len(caught)),
            ("completed", by_status.get("completed", 0)),
            ("failed: a mutating call interrupted (may have been sent; not sent again)", interrupted),
            ("failed otherwise (must be 0)", by_status.get("failed", 0) - interrupted),
            ("lost (must be 0)", lost),
            ("duplicated side effects: a post received twice (must be 0)", duplicated),
            ("completed runs whose posts never arrived (must be 0)", unsent),
            ("finished runs with a step left running (must be 0)", left_running),
        ]
        width = max(len(name) for name, _ in rows)
        print(f"| {'figure'.ljust(width)} | value |\n|{'-' * (width + 2)}|-------|")
        for name, value in rows:
            print(f"| {name.ljust(width)} | {value} |")
        bad = lost or duplicated or unsent or left_running or (by_status.get("failed", 0) - interrupted)
        return 1 if bad else 0
    finally:
        for worker in workers:
            worker.stop()
        receiver.stop()


COHORT_SOURCES = 60


def cohort_kill_scenario() -> int:
    """A cohort of 60 runs admitted by beat's tick: the worker SIGKILLed during admission, then again while the
    members' replays execute; every member ends once, with at most one child, and the counts add up."""
    from django.contrib.auth import get_user_model
    from django.db.models import Count

    from replay.cohorts.models import Cohort, CohortMember
    from replay.cohorts.services import create_cohort
    from replay.rules import membership_for_replay
    from runs import services
    from runs.engine.executor import execute
    from runs.models import Account, Membership, Role, Run, Workspace
    from tests.worker import Worker, wait_for

    account = Account.objects.create(name="Soak cohort")
    workspace = Workspace.objects.create(account=account, slug="soak-cohort", name="Soak cohort")
    user = get_user_model().objects.create_user("soak-cohort-operator")
    Membership.objects.create(user=user, workspace=workspace, role=Role.OPERATOR)
    revision = services.create_prompt(workspace=workspace, name="reply", content="Reply to {{ trigger.name }}")
    prompt = {"artifact_id": revision.artifact.artifact_id, "content_hash": revision.content_hash}
    nodes = [
        {
            "id": f"think{n}",
            "type": "llm",
            "model": "anthropic:claude-opus-4-7",
            "prompt": prompt,
            "after": [f"think{n - 1}"] if n else [],
        }
        for n in range(3)
    ]
    version = services.create_workflow(workspace=workspace, name="Cohort", nodes=nodes)
    sources = []
    for n in range(COHORT_SOURCES):
        run = Run.objects.create(
            workspace=workspace,
            workflow=version.workflow,
            version=version,
            version_number=1,
            trigger_payload={"name": f"N{n}"},
            steps_total=len(nodes),
        )
        execute(run.run_id)  # in this process: the sources are finished before the cohort is made
        sources.append(run.run_id)
    body = {
        "name": "Soak",
        "workflow_id": version.workflow.workflow_id,
        "run_ids": sources,
        "replay": {"mode": "as_is"},
        "baseline_percent": 10,
        "canary": 5,
    }
    cohort, _ = create_cohort(membership=membership_for_replay(user, workspace.pk), data=body, idempotency_key="")
    members = CohortMember.objects.filter(cohort=cohort)
    total = members.count()
    worker_env = {"DATABASE_URL": DB_URL, "SIMULATED_LATENCY": "0.2", "COHORT_TICK_INTERVAL": "0.3", **SWEEP}
    began = time.monotonic()
    workers = [Worker(worker_env, concurrency=4, beat=True)]
    try:
        wait_for(lambda: members.filter(status="admitted").exists(), timeout=60, interval=0.02, message="admissions")
        log("scenario cohort_kill: SIGKILL the worker during admission; starting another")
        workers[0].kill()
        first_kill = time.monotonic()
        workers.append(Worker(worker_env, concurrency=4, beat=True))
        wait_for(
            lambda: members.filter(status="completed").exists() and members.filter(status="admitted").exists(),
            timeout=120,
            interval=0.02,
            message="members executing",
        )
        log("scenario cohort_kill: SIGKILL the worker while members' replays execute; starting another")
        workers[1].kill()
        second_kill = time.monotonic()
        workers.append(Worker(worker_env, concurrency=4, beat=True))
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while time.monotonic() < deadline and not Cohort.objects.get(pk=cohort.pk).is_finished:
            time.sleep(0.2)
        settled = time.monotonic()
        cohort.refresh_from_db()
        by_status = dict(members.values_list("status").annotate(n=Count("pk")))
        unended = sum(n for status, n in by_status.items() if status in ("pending", "admitted"))
        children = [child for child in members.values_list("child_run_id", flat=True) if child]
        twice = len(children) - len(set(children))
        per_source = Run.objects.filter(replay_of__in=sources).values("replay_of").annotate(n=Count("pk"))
        extra = sum(run["n"] for run in per_source) - len(children)  # a child no member owns: a second admission
        rows = [
            ("cohort: members (candidates and baseline lane)", total),
            ("cohort: status after two SIGKILLs", cohort.status),
            ("cohort: members by status", ", ".join(f"{k} {v}" for k, v in sorted(by_status.items()))),
            ("cohort: counts add up to the members (must be yes)", "yes" if sum(by_status.values()) == total else "no"),
            ("cohort: members not ended (must be 0)", unended),
            ("cohort: a child owned by two members (must be 0)", twice),
            ("cohort: replays of a source no member owns (must be 0)", extra),
            (
                "cohort: seconds from the first SIGKILL to a replay completed (the second)",
                f"{second_kill - first_kill:.1f}",
            ),
            ("cohort: seconds from the second SIGKILL to the cohort finished", f"{settled - second_kill:.1f}"),
            ("cohort: seconds in all, with two worker start-ups", f"{settled - began:.1f}"),
        ]
        print_table(rows)
        bad = unended or twice or extra or sum(by_status.values()) != total or cohort.status != "completed"
        return 1 if bad else 0
    finally:
        for worker in workers:
            worker.stop()


def sigterm_drain_scenario() -> int:
    """SIGTERM to a worker mid-run: it exits at the next step boundaries, and no step runs twice."""
    from runs.models import Account, Workspace

    if not Workspace.objects.exists():
        Workspace.objects.create(account=Account.objects.create(name="Drain"), slug="drain", name="Drain")
    rows, failed = sigterm_drain({"DATABASE_URL": DB_URL, **SWEEP})
    print_table(rows)
    return 1 if failed else 0


SCENARIOS = {
    "faults": faults_scenario,
    "sigterm_drain": sigterm_drain_scenario,
    "parallel_kill": parallel_kill_scenario,
    "cohort_kill": cohort_kill_scenario,
}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
