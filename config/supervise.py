"""`make run`'s processes: gunicorn, one Celery worker and beat, supervised together (`python -m config.supervise`).

- A worker or beat that dies is reported and restarted; one that keeps dying (5 times in a minute) stops everything.
- gunicorn exiting, Ctrl-C or SIGTERM stop everything: SIGTERM to each process group (the worker drains, gunicorn
  finishes its requests), SIGKILL to what is left after STOP_TIMEOUT seconds. Each child leads its own process group,
  so its own children (gunicorn's workers) go with it, and is told by the kernel to stop if the supervisor dies first.
- One beat per var directory: beat starts only under the lock `var/beat.lock`; a second `make run` on the same
  directory serves and executes runs but starts no beat while the first holds it.
"""

import contextlib
import ctypes
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
RESTARTS, RESTART_WINDOW = 5, 60.0  # a child dying this often within the window is not coming back
STOP_TIMEOUT = 45.0  # the worker's drain (WORKER_DRAIN_SECONDS, 30 s) and gunicorn's graceful timeout fit in it
PR_SET_PDEATHSIG = 1


def say(message: str) -> None:
    print(f"[make run] {message}", flush=True)


def _die_with_the_supervisor() -> None:
    """In the child, before exec: the kernel sends it SIGTERM if the supervisor dies (even by SIGKILL)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    def __init__(self, name: str, argv: list[str], env: dict, restart: bool):
        self.name, self.argv, self.env, self.restart = name, argv, env, restart
        self.proc: subprocess.Popen | None = None
        self.deaths: deque[float] = deque(maxlen=RESTARTS)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv, cwd=BASE_DIR, env=self.env, start_new_session=True, preexec_fn=_die_with_the_supervisor
        )
        say(f"{self.name} started (pid {self.proc.pid})")

    def signal_group(self, sig: int) -> None:
        if self.proc is not None:
            with contextlib.suppress(ProcessLookupError):  # the group is already gone
                os.killpg(self.proc.pid, sig)

    def keeps_dying(self) -> bool:
        self.deaths.append(time.monotonic())
        return len(self.deaths) == RESTARTS and self.deaths[-1] - self.deaths[0] < RESTART_WINDOW


def describe(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"


def beat_lock(var_dir: Path):
    """The open lock file if this process now holds the var directory's beat lock, else None."""
    handle = open(var_dir / "beat.lock", "a")  # noqa: SIM115 (held for the supervisor's lifetime)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def children(with_beat: bool) -> list[Child]:
    python, env = sys.executable, dict(os.environ)
    celery = [python, "-m", "celery", "-A", "config"]
    found = [
        Child("web server", [python, "-m", "gunicorn", "-c", "config/gunicorn.py", "config.wsgi"], env, restart=False),
        Child("worker", [*celery, "worker", "--loglevel=INFO"], env, restart=True),
    ]
    if with_beat:
        found.append(Child("beat", [*celery, "beat", "--loglevel=INFO"], env, restart=True))
    return found


def stop_all(procs: list[Child]) -> None:
    for child in procs:
        child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in procs:
        if child.proc is None:
            continue
        try:
            child.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            say(f"{child.name} did not stop within {STOP_TIMEOUT:.0f} s: killing it")
        child.signal_group(signal.SIGKILL)  # whatever is left in its group (a grandchild that ignored SIGTERM)
        child.proc.wait()


def supervise(var_dir: Path) -> int:
    lock = beat_lock(var_dir)
    if lock is None:
        say(f"another `make run` holds {var_dir / 'beat.lock'}: its beat schedules the sweep, this one starts none")
    procs = children(with_beat=lock is not None)
    stopping: list[int] = []

    def on_signal(signum, _frame):
        stopping.append(signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    code = 0
    try:
        for child in procs:
            child.start()
        while not stopping:
            for child in procs:
                assert child.proc is not None
                exit_code = child.proc.poll()
                if exit_code is None:
                    continue
                child.signal_group(signal.SIGKILL)  # its own children, if it left any
                if not child.restart:
                    say(f"{child.name} {describe(exit_code)}: stopping everything")
                    code = exit_code if exit_code > 0 else 1
                    stopping.append(0)
                    break
                if child.keeps_dying():
                    say(f"{child.name} {describe(exit_code)}, {RESTARTS} times within {RESTART_WINDOW:.0f} s: stopping")
                    code = 1
                    stopping.append(0)
                    break
                say(f"{child.name} (pid {child.proc.pid}) {describe(exit_code)}: restarting it")
                child.start()
            time.sleep(0.2)
    finally:
        say("stopping the web server, the worker and beat")
        stop_all([child for child in procs if child.proc is not None])
        if lock is not None:
            lock.close()
    return code


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    return supervise(settings.VAR_DIR)


if __name__ == "__main__":
    sys.exit(main())
