"""Django's Redis cache, keeping one client per connection pool, with an increment in one round trip.

Django's RedisCacheClient builds a new ``redis.Redis`` for every call, and each build copies the
client's ~500 response callbacks: a third of a millisecond per cache call, three calls per replay
submit (the quota's add, exists and incr). A client is thread-safe and only borrows connections
from its pool, so one per pool does the same work; the pool still resets itself after a fork.

Django's incr asks EXISTS, then INCRBY: two round trips, and a key that expires between them comes
back without its expiry. One Lua script does both on the server, atomically, in one round trip.
"""

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


def pool_and_client_class(client: RedisCacheClient, *, write: bool) -> tuple[Any, Any]:
    """One of the two readers of Django's private Redis cache internals (shared_redis is the other): the pool for a
    call and the client class.

    tests/test_cache.py pins that Django still has them and that the client built here uses Django's pool.
    """
    return client._get_connection_pool(write), client._client  # type: ignore[attr-defined]


def shared_redis():
    """The Redis client of the default cache, shared by every process of the deployment; None on the embedded
    default (a local-memory cache, one process's own). Its connection pool is the cache's (tests/test_cache.py)."""
    from django.core.cache import caches

    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(write=True)


# Django's contract: a missing key is a ValueError, not a new counter.
INCR_IF_EXISTS = """
if redis.call('exists', KEYS[1]) == 1 then
    return redis.call('incrby', KEYS[1], ARGV[1])
end
return false
"""


class ReusingRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[Any, Any] = {}
        self._incr_scripts: dict[Any, Any] = {}

    def get_client(self, key=None, *, write=False):
        pool, client_class = pool_and_client_class(self, write=write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = client_class(connection_pool=pool)
        return client

    def incr(self, key, delta):
        client = self.get_client(key, write=True)
        script = self._incr_scripts.get(client)
        if script is None:  # EVALSHA of a script hashed once; redis-py loads it again after a server restart
            script = self._incr_scripts[client] = client.register_script(INCR_IF_EXISTS)
        value = script(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return value


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient
