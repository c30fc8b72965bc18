"""gunicorn's settings for `make run` and production: `gunicorn -c config/gunicorn.py config.wsgi`.

Read from the environment like config/settings.py. gthread workers: each process serves WEB_THREADS requests
at once and queues the rest in the listen backlog, so a burst gets answers, not connection resets. On the
embedded default (no REDIS_URL) the replay quota counts in a local-memory cache, exact only within one process:
one process, several threads. With REDIS_URL the processes share the count and WEB_CONCURRENCY may be more.
"""

import os

from config.serving import address  # gunicorn puts its working directory on sys.path before reading this file


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit() or int(value) < 1:
        raise SystemExit(f"{name}={value!r} must be a whole number of at least 1.")
    return int(value)


SHARED_CACHE = bool(os.environ.get("REDIS_URL"))

bind = address()
worker_class = "gthread"
workers = _int("WEB_CONCURRENCY", min(os.cpu_count() or 1, 4) if SHARED_CACHE else 1)
# A long poll (GET …/runs/<run_id>?wait=) holds a thread while it waits: at most half of them wait at once
# (settings.LONG_POLL_WAITERS, runs/waiting.py), so other requests always have threads.
threads = _int("WEB_THREADS", 8)
if workers > 1 and not SHARED_CACHE:
    raise SystemExit(
        f"WEB_CONCURRENCY={workers} needs REDIS_URL: without it the replay quota is counted in each process's "
        "own memory and would allow that many times the limit. Set REDIS_URL or serve one process."
    )
backlog = 2048  # connections waiting for a thread; a burst beyond the threads waits here
timeout = _int("WEB_TIMEOUT", 60)
graceful_timeout = 10  # SIGTERM (and Ctrl-C in `make run`) lets requests in flight finish, this long at most
keepalive = 5
preload_app = True  # import the app once in the master: a broken settings file stops start-up, not each worker
accesslog = os.environ.get("WEB_ACCESS_LOG", "-") or None  # stdout, as runserver printed each request; empty: off
errorlog = "-"
# gunicorn 25+ opens a control socket at one fixed path per user: two servers on a machine would take it from
# each other, and nothing here uses gunicornc.
control_socket_disable = True
