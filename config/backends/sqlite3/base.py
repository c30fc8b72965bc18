"""SQLite for the embedded default: the writers of one process queue on a lock instead of in SQLite's busy handler.

SQLite admits one writer at a time (every transaction here begins IMMEDIATE, so every transaction is a writer). A
second one waits in SQLite's busy handler, which sleeps 1, 2, 5, 10 ms and more between tries, however soon the
first commits: with many threads writing short transactions, most of the time waited is sleep after the lock was
free. The embedded default's worker executes its runs in the threads of one process (and gunicorn its requests in
the threads of one), so most writers wait for a thread of their own process. Here they queue on a lock of the
process, and the next one begins the moment the last one commits or rolls back. Writers of other processes still
meet in SQLite's busy handler, as before; the same timeout bounds both waits.
"""

import threading
from typing import Any

from django.db.backends.sqlite3 import base
from django.db.utils import OperationalError

_writers: dict[str, threading.Lock] = {}
_writers_guard = threading.Lock()


def writer_lock(name: str) -> threading.Lock:
    """The lock the transactions of this process on database file `name` take in turn."""
    with _writers_guard:
        return _writers.setdefault(name, threading.Lock())


# Its private transaction methods, which this class wraps, are not in django-stubs.
SQLiteWrapper: Any = base.DatabaseWrapper


class DatabaseWrapper(SQLiteWrapper):
    holds_writer_lock = False

    def _start_transaction_under_autocommit(self):
        if self.is_in_memory_db():
            return super()._start_transaction_under_autocommit()
        timeout = self.settings_dict["OPTIONS"].get("timeout", 5)
        if not writer_lock(self.settings_dict["NAME"]).acquire(timeout=timeout):
            raise OperationalError("database is locked")  # SQLite's own words after its busy timeout
        self.holds_writer_lock = True
        try:
            super()._start_transaction_under_autocommit()
        except BaseException:
            self._release_writer_lock()
            raise

    def _release_writer_lock(self) -> None:
        if self.holds_writer_lock:
            self.holds_writer_lock = False
            writer_lock(self.settings_dict["NAME"]).release()

    def _commit(self):
        try:
            return super()._commit()
        finally:
            self._release_writer_lock()

    def _rollback(self):
        try:
            return super()._rollback()
        finally:
            self._release_writer_lock()

    def _close(self):
        try:
            return super()._close()
        finally:
            self._release_writer_lock()
