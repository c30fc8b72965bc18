"""The run detail's long poll: it answers as soon as the run is final, holding no database connection meanwhile.

With Redis the end is announced and wakes the waiter; the embedded default polls the status. The Redis tests use
the PostgreSQL pass's Redis (REDIS_URL) or a local server, and are skipped when there is none.
"""

import threading

import pytest
from django.db import connection

from runs import services
from runs.models import Run
from runs.waiting import final_channel, wait_until_final

from .builders import run_in_status, support_workflow
from .worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

LOCAL_MEMORY = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def subscribed(client, run_id: str) -> bool:
    return dict(client.pubsub_numsub(final_channel(run_id))).get(final_channel(run_id).encode(), 0) > 0


def test_without_redis_the_wait_polls_the_status_holding_no_connection_meanwhile(acme, settings):
    settings.CACHES = LOCAL_MEMORY
    run = run_in_status(support_workflow(acme)[0], Run.Status.PENDING)
    held = []

    def sleep(seconds):
        held.append(connection.connection is not None)
        if len(held) == 2:
            Run.objects.filter(pk=run.pk).update(status=Run.Status.COMPLETED)

    assert wait_until_final(run.run_id, 30, sleep=sleep) is True
    assert held == [False, False] and connection.connection is None


def test_with_redis_a_cancel_wakes_the_waiter_at_once(acme, shared_redis_cache):
    """The status is read only before the wait and once per `recheck` (30 s here): only the announcement of the
    cancel can end this wait within the test's bound."""
    run = run_in_status(support_workflow(acme)[0], Run.Status.PENDING)
    answered = []
    waiter = threading.Thread(target=lambda: answered.append(wait_until_final(run.run_id, 30, recheck=30)))
    waiter.start()
    try:
        wait_for(lambda: subscribed(shared_redis_cache, run.run_id), timeout=10, message="the waiter's subscription")
        services.cancel_run(run=run)
    finally:
        waiter.join(timeout=10)
    assert answered == [True]
    assert not subscribed(shared_redis_cache, run.run_id)  # the waiter let go of its subscription


def test_with_redis_a_run_that_ended_before_the_subscription_answers_at_once(acme, shared_redis_cache):
    run = run_in_status(support_workflow(acme)[0], Run.Status.COMPLETED)
    answered = []
    waiter = threading.Thread(target=lambda: answered.append(wait_until_final(run.run_id, 30, recheck=30)))
    waiter.start()
    waiter.join(timeout=10)
    assert answered == [True]


def test_with_redis_the_wait_holds_no_database_connection(acme, shared_redis_cache, monkeypatch):
    """The request's connection is open when the wait begins (the view has read the run); it is let go once the
    status is read after subscribing, and none is held while the waiter listens."""
    from redis.client import PubSub

    run = run_in_status(support_workflow(acme)[0], Run.Status.PENDING)
    listening, held = PubSub.get_message, []

    def get_message(self, *args, **kwargs):
        held.append(connection.connection is not None)  # the waiter thread's own connection
        return listening(self, *args, **kwargs)

    monkeypatch.setattr(PubSub, "get_message", get_message)
    answered = []

    def wait():
        connection.ensure_connection()
        answered.append(wait_until_final(run.run_id, 30, recheck=30))
        connection.close()

    waiter = threading.Thread(target=wait)
    waiter.start()
    try:
        wait_for(lambda: subscribed(shared_redis_cache, run.run_id), timeout=10, message="the waiter's subscription")
        wait_for(lambda: len(held) >= 2, timeout=10, message="the waiter to listen")
        services.cancel_run(run=run)
    finally:
        waiter.join(timeout=10)
    assert answered == [True]
    assert held[0] is True and not any(held[1:])  # held while Redis confirms the subscription only


def test_with_redis_down_the_wait_polls_the_status_instead(acme, settings):
    settings.CACHES = {"default": {"BACKEND": "config.cache.RedisCache", "LOCATION": "redis://127.0.0.1:9/0"}}
    run = run_in_status(support_workflow(acme)[0], Run.Status.PENDING)
    polls = []

    def sleep(seconds):
        polls.append(seconds)
        Run.objects.filter(pk=run.pk).update(status=Run.Status.COMPLETED)

    assert wait_until_final(run.run_id, 30, sleep=sleep) is True
    assert polls == [0.05]
