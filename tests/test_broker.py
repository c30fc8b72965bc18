"""The Redis broker transport publishes through one client per connection pool, and behaves as kombu's."""

import pytest
from django.conf import settings
from kombu import Connection

from config.broker import RedisTransport


@pytest.fixture
def connection():
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the broker is not Redis")
    with Connection(settings.CELERY_BROKER_URL, transport=RedisTransport) as connection:
        yield connection


def test_a_redis_broker_uses_the_transport():
    from config.celery import app

    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("the broker is not Redis")
    with app.connection_for_write() as connection:
        assert isinstance(connection.transport, RedisTransport)


def test_publishes_reuse_one_client_and_arrive_in_order(connection):
    channel = connection.default_channel
    assert channel._create_client() is channel._create_client()
    queue = connection.SimpleQueue("reprise-test-broker")
    try:
        queue.put({"n": 1})
        queue.put({"n": 2})
        received = [queue.get(timeout=1) for _ in range(2)]
        assert [m.payload for m in received] == [{"n": 1}, {"n": 2}]
        for message in received:
            message.ack()
    finally:
        queue.clear()
        queue.close()


def test_a_new_pool_gets_a_new_client(connection):
    channel = connection.default_channel
    first = channel._create_client()
    channel._disconnect_pools()  # what kombu does in a forked child
    second = channel._create_client()
    assert second is not first and second.connection_pool is channel.pool
    assert second.ping()
