"""A real gunicorn serving the test database, for proofs that need several web processes."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
from django.conf import settings

from ..worker import BASE_DIR, wait_for, worker_database_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(workers: int = 4, threads: int = 1, env: dict | None = None):
    """Yields the base URL. Processes share the database and, when REDIS_URL is set, the Redis cache."""
    port = free_port()
    log_dir = settings.VAR_DIR / "worker-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"gunicorn-{port}.log"
    full_env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DATABASE_URL": worker_database_url(),
        "DEBUG": "false",
        "SECURE_COOKIES": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        **(env or {}),
    }
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--threads",
                str(threads),
                "--preload",
                "--timeout",
                "60",
            ],
            cwd=BASE_DIR,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"

        def up():
            if proc.poll() is not None:
                raise AssertionError(f"gunicorn exited:\n{log_path.read_text()[-3000:]}")
            try:
                return httpx.get(base + "/login/", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_for(up, timeout=30, message="gunicorn to serve")
            time.sleep(0.3 * workers)  # every process has booted, not only the first
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
