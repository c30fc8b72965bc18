"""Real Celery worker subprocesses for integration tests (never task_always_eager)."""

import ast
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent
# A worker whose http tools may reach local_server (they refuse loopback by default).
TOOLS_REACH_LOCAL_SERVER = {"TOOL_HTTP_ALLOWED_HOSTS": "127.0.0.1"}
FAST_SWEEP = {"RUN_STALE_AFTER": "2", "RUN_SWEEP_INTERVAL": "0.5", "RUN_PENDING_REDISPATCH_AFTER": "1"}


def worker_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return "sqlite:///" + str(Path(db["NAME"]).resolve())
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def wait_for(predicate, timeout=20.0, interval=0.05, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


class Worker:
    def __init__(self, env: dict, concurrency: int, beat: bool, app: str = "config", pool: str | None = None):
        self.name = f"test-{uuid.uuid4().hex[:8]}"
        log_dir = settings.VAR_DIR / "worker-logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{self.name}.log"
        cmd = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "-n",
            f"{self.name}@%h",
            f"--concurrency={concurrency}",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
        ]
        if beat:
            cmd += ["--beat", "--schedule", str(log_dir / f"{self.name}-beat")]
        if pool:
            cmd += ["--pool", pool]
        full_env = {**os.environ, "DATABASE_URL": worker_database_url(), **env}
        self.log = open(self.log_path, "w")  # noqa: SIM115 (open for the worker's lifetime, closed in stop())
        self.proc = subprocess.Popen(
            cmd, cwd=BASE_DIR, env=full_env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for(self._ready, timeout=40, message=f"worker {self.name} to be ready")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
        return " ready." in self.log_path.read_text()

    def kill(self):
        """SIGKILL the whole worker (main process and pool children): nothing gets to clean up."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 60) -> float:
        """SIGTERM the worker alone, as an orchestrator does, and wait for it to exit: the seconds it took."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=timeout)
        return time.monotonic() - started

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


@contextmanager
def celery_worker(
    env: dict | None = None, concurrency: int = 1, beat: bool = False, app: str = "config", pool: str | None = None
):
    worker = Worker(env or {}, concurrency, beat, app, pool)
    try:
        yield worker
    finally:
        worker.stop()


def purge_broker():
    """Start from an empty queue so a previous session's messages do not slow this one."""
    url = settings.CELERY_BROKER_URL
    if url.startswith("filesystem"):
        for folder in ("out", "processed"):
            for path in (settings.BROKER_DIR / folder).glob("*"):
                path.unlink(missing_ok=True)
    elif url.startswith("redis"):
        import redis

        redis.Redis.from_url(url).flushdb()


def dispatched_run_ids(task: str = "runs.tasks.execute_run") -> list[str]:
    """The run ids of the `task` messages waiting in the broker, taken off the queue (no worker runs them)."""
    from config.celery import app

    run_ids = []
    with app.connection_for_read() as connection:
        queue = connection.SimpleQueue("celery")
        try:
            while True:
                message = queue.get(timeout=1)
                if message.headers.get("task") == task:
                    run_ids.append(message.payload[0][0])
                message.ack()
        except queue.Empty:
            pass
        finally:
            queue.close()
    return run_ids


def modules_loaded_at_start_up(*prefixes: str) -> list[str]:
    """The modules under `prefixes` that a fresh process has loaded once the web process and the worker would have
    started (settings, URLconf, Celery app, tasks, executor): what every start-up pays for."""
    code = (
        "import sys, django; django.setup(); import config.urls, config.celery, config.openapi, runs.tasks, "
        "runs.engine.executor; from django.urls import resolve; resolve('/api/v1/acme/runs');"
        f"print([m for m in sys.modules if m.startswith({prefixes!r})])"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env={"DJANGO_SETTINGS_MODULE": "config.settings", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])
