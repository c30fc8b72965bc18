"""The embedded default's SQLite: the transactions of one process take the writer lock in turn, and always give it
back, whether they commit, roll back or lose their connection."""

import threading

import pytest
from django.db import OperationalError, connection, transaction

from config.backends.sqlite3.base import writer_lock
from runs.models import Account

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the embedded default's SQLite backend"),
]


def lock():
    return writer_lock(connection.settings_dict["NAME"])


def test_a_transaction_holds_the_writer_lock_until_it_commits():
    with transaction.atomic():
        Account.objects.create(name="a")
        assert lock().locked()
    assert not lock().locked()


def test_a_transaction_that_fails_gives_the_writer_lock_back():
    with pytest.raises(LookupError), transaction.atomic():
        Account.objects.create(name="a")
        raise LookupError("the transaction fails")
    assert not lock().locked() and not Account.objects.exists()


def test_a_connection_closed_in_a_transaction_gives_the_writer_lock_back():
    transaction.set_autocommit(False)
    try:
        Account.objects.create(name="a")
    finally:
        connection.close()
    assert not lock().locked()


def test_a_writer_that_waits_longer_than_the_timeout_is_told_the_database_is_locked(monkeypatch):
    """As SQLite says it after its busy timeout; nothing of its transaction begins."""
    raised = []
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "timeout", 0.05)  # every thread's, until the test ends

    def writer():
        try:
            with transaction.atomic():
                Account.objects.create(name="late")
        except OperationalError as exc:
            raised.append(str(exc))
        finally:
            connection.close()

    with transaction.atomic():
        Account.objects.create(name="first")
        thread = threading.Thread(target=writer)
        thread.start()
        thread.join(10)
    assert raised == ["database is locked"]
    assert list(Account.objects.values_list("name", flat=True)) == ["first"]
