"""The Redis cache backend keeps one client per pool; it must behave exactly like Django's."""

import pytest
from django.conf import settings

from config.cache import RedisCache

REDIS_URL = settings.REDIS_URL or "redis://127.0.0.1:6379/15"


@pytest.fixture
def redis_cache():
    try:
        import redis

        redis.Redis.from_url(REDIS_URL).ping()
    except Exception:
        pytest.skip("no Redis server at " + REDIS_URL)
    cache = RedisCache(REDIS_URL, {"KEY_PREFIX": "reprise-test-cache"})
    yield cache
    cache.delete_many(["counter", "value"])


def test_the_cache_reuses_one_client_per_pool(redis_cache):
    assert redis_cache._cache.get_client() is redis_cache._cache.get_client(write=True)


def test_the_cache_adds_increments_and_reads_like_djangos(redis_cache):
    assert redis_cache.add("counter", 0, 60)
    assert not redis_cache.add("counter", 5, 60)
    assert redis_cache.incr("counter") == 1
    redis_cache.set("value", {"a": [1, 2]}, 60)
    assert redis_cache.get("value") == {"a": [1, 2]}
    with pytest.raises(ValueError):
        redis_cache.incr("missing")


def test_the_reused_client_borrows_from_the_pool_djangos_own_client_would_use(redis_cache):
    from django.core.cache.backends.redis import RedisCacheClient

    django_client = RedisCacheClient([REDIS_URL])
    assert hasattr(django_client, "_get_connection_pool") and hasattr(django_client, "_client")
    ours = redis_cache._cache.get_client(write=True)
    assert type(ours) is django_client._client
    assert ours.connection_pool is redis_cache._cache._get_connection_pool(True)


def test_an_increment_is_one_round_trip_and_keeps_the_expiry(redis_cache):
    redis_cache.add("counter", 0, 60)
    redis_cache.incr("counter")  # a server that never saw the script loads it once
    client = redis_cache._cache.get_client(write=True)
    sent = []
    execute = client.execute_command

    def counting(*args, **options):
        sent.append(args[0])
        return execute(*args, **options)

    client.execute_command = counting
    try:
        assert redis_cache.incr("counter", 2) == 3
    finally:
        del client.execute_command
    assert sent == ["EVALSHA"]
    assert 0 < client.ttl(redis_cache.make_key("counter")) <= 60


def test_the_long_polls_redis_client_is_the_caches_own(shared_redis_cache, settings):
    """shared_redis reads Django's private cache internals too: pinned to the client and pool the cache uses."""
    from django.core.cache import caches

    from config.cache import shared_redis

    client = shared_redis()
    assert client is caches["default"]._cache.get_client(write=True)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    assert shared_redis() is None
