"""kombu's transports as Reprise uses them: filesystem messages that appear whole, a Redis publish without a new client.

kombu's filesystem transport writes a message file in place; a worker polling the folder can move it away after
`open()` created it and before the payload was written, read zero bytes, and die on the JSON
error: the message is lost and the worker gone. Here a message is written under a staging
folder on the same filesystem and renamed into the queue folder, and rename is atomic.
"""

import logging
import os
import uuid
from time import monotonic
from typing import Any

from kombu.transport import filesystem
from kombu.transport import redis as redis_transport
from kombu.transport.virtual import Empty
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

log = logging.getLogger(__name__)


class Channel(filesystem.Channel):
    @property
    def staging_folder(self) -> str:
        return self.transport_options.get("staging_folder") or os.path.join(self.data_folder_out, ".staging")

    def _put(self, queue, payload, **kwargs):  # type: ignore[override]  # kombu's filesystem.Channel signature
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        os.makedirs(self.staging_folder, exist_ok=True)
        staged = os.path.join(self.staging_folder, name)
        try:
            with open(staged, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(staged, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {name!r} to the queue folder") from exc

    def _get(self, queue, timeout=None):
        try:
            return super()._get(queue)
        except ValueError:
            # Not a message (a stray or foreign file): skip it rather than kill the worker.
            # A run it would have started stays pending and the sweep dispatches it again.
            log.error("skipped an unreadable message file in queue %s", queue)
            raise Empty() from None


class Transport(filesystem.Transport):
    Channel = Channel


class RedisChannel(redis_transport.Channel):
    """kombu builds a new redis.Redis (copying its ~500 response callbacks) for every message it publishes.

    A client is thread-safe and only borrows connections from its pool, so one per pool does the same work;
    after a fork kombu drops the pool (`_disconnect_pools`), and the next call builds a client on the new one.
    The consumer's asynchronous client is kombu's own.
    """

    _sync_client: Any = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._sync_client
        if client is None or client.connection_pool is not self.pool:
            client = self._sync_client = super()._create_client()
        return client


class RedisTransport(redis_transport.Transport):
    Channel = RedisChannel
