"""The server as `make run` starts it (collectstatic, then gunicorn -c config/gunicorn.py), on the test database."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx
from django.conf import settings

from ..worker import BASE_DIR, wait_for, worker_database_url

_collected: set[str] = set()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(port: int, workers: int | None, threads: int | None, env: dict | None) -> dict:
    full_env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DATABASE_URL": worker_database_url(),
        "DEBUG": "false",
        "SECURE_COOKIES": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "HOST": "127.0.0.1",
        "PORT": str(port),
        **(env or {}),
    }
    if workers is not None:
        full_env["WEB_CONCURRENCY"] = str(workers)
    if threads is not None:
        full_env["WEB_THREADS"] = str(threads)
    return full_env


def collectstatic(env: dict) -> None:
    """As `make run` does, once per STATIC_ROOT: the manifest storage serves nothing it has not collected."""
    root = str(settings.STATIC_ROOT)
    if root not in _collected:
        subprocess.run(
            [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
            cwd=BASE_DIR,
            env=env,
            check=True,
        )
        _collected.add(root)


@contextmanager
def gunicorn(workers: int | None = None, threads: int | None = None, env: dict | None = None):
    """Yields the base URL. workers and threads default to config/gunicorn.py's own choice, as in `make run`.

    Processes share the database and, when REDIS_URL is set, the Redis cache.
    """
    port = free_port()
    log_dir = settings.VAR_DIR / "worker-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"gunicorn-{port}.log"
    full_env = server_env(port, workers, threads, env)
    collectstatic(full_env)
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"],
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
            wait_for(up, timeout=90, message="gunicorn to serve")  # 4 processes booting on a loaded machine
            time.sleep(0.3 * (workers or 2))  # every process has booted, not only the first
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
