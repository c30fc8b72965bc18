"""`make run`'s supervisor (config/supervise.py): a dead worker is restarted, stopping leaves no process behind,
and a second `make run` on the same directory starts no second beat."""

import os
import re
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from ..worker import BASE_DIR, wait_for
from .gunicorn import free_port, server_env

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


class Supervisor:
    def __init__(self, var_dir: Path, name: str):
        self.port = free_port()
        self.log_path = var_dir / f"{name}.log"
        env = server_env(self.port, None, None, {"REPRISE_VAR_DIR": str(var_dir)})
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "config.supervise"], cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.seen: set[int] = set()

    @property
    def output(self) -> str:
        return self.log_path.read_text()

    def started(self, name: str) -> list[int]:
        return [int(pid) for pid in re.findall(rf"\[make run\] {name} started \(pid (\d+)\)", self.output)]

    def serving(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def wait_until_up(self) -> None:
        wait_for(lambda: self.serving() and " ready." in self.output, timeout=90, message="web server and worker")
        self.note_processes()

    def note_processes(self) -> set[int]:
        """Every process below the supervisor now (remembered, to check later that none is left)."""
        below = descendants(self.proc.pid)
        self.seen |= below
        return below

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=90)


def descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@contextmanager
def supervised(var_dir: Path, name: str = "supervisor"):
    supervisor = Supervisor(var_dir, name)
    try:
        supervisor.wait_until_up()
        yield supervisor
    finally:
        supervisor.stop()


def test_a_killed_worker_is_reported_and_restarted_and_stopping_leaves_no_process(tmp_path):
    with supervised(tmp_path) as supervisor:
        (first,) = supervisor.started("worker")
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: len(supervisor.started("worker")) == 2, timeout=30, message="the worker to be restarted")
        assert f"worker (pid {first}) killed by SIGKILL: restarting it" in supervisor.output
        wait_for(lambda: supervisor.output.count(" ready.") == 2, timeout=90, message="the new worker to be ready")
        assert supervisor.serving()
        supervisor.note_processes()
        supervisor.proc.terminate()
        assert supervisor.proc.wait(timeout=90) == 0
    assert len(supervisor.seen) >= 4  # gunicorn, its worker, the Celery worker, beat
    assert [pid for pid in supervisor.seen if alive(pid)] == []


def test_the_processes_stop_when_the_supervisor_itself_is_killed(tmp_path):
    with supervised(tmp_path) as supervisor:
        supervisor.proc.kill()
        supervisor.proc.wait()
        wait_for(lambda: not any(alive(pid) for pid in supervisor.seen), timeout=60, message="no orphan left")


def test_a_second_make_run_on_the_same_directory_starts_no_second_beat(tmp_path):
    with supervised(tmp_path, "first") as first, supervised(tmp_path, "second") as second:
        assert first.started("beat") and not second.started("beat")
        assert "this one starts none" in second.output
        assert not [pid for pid in second.note_processes() if " beat" in command_line(pid)]
