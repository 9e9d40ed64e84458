"""The blocking half of :class:`~dlserver.queues.RedisSlots`: redis-py calls, run in threads.

Nothing here touches the reactor or a Deferred: :class:`RedisStore` methods
block and are called from a worker thread; :meth:`RedisStore.listen` is a
thread's whole life, handing wake-ups to a callback (which the reactor side
routes through ``callFromThread``).  Every redis-py error leaves as a
:class:`SlotBackendError` naming the server, with any password hidden.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, cast

import redis

from dlserver import _slots_lua as lua
from dlserver._slots_core import ClientCounts, SlotBackendError, SlotStats

__all__ = ["HeartbeatReply", "RedisStore", "safe_url"]

_log = logging.getLogger("dlserver.queues")

# Seconds a blocking call may take before it fails: short enough that an
# unreachable server is reported quickly, long enough for a busy one.
_SOCKET_TIMEOUT = 5.0
# How often the listener wakes to see whether it was asked to stop.
_LISTEN_POLL = 0.2


def safe_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (for error messages)."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    """What a heartbeat learns.

    Attributes:
        states: For each id sent: its position, 0 if active, -1 if its lease
            is gone.
        stats: The counts of every process together.
    """

    states: list[int]
    stats: SlotStats


class RedisStore:
    """The queue's keys and scripts in one Redis; every method blocks.

    Args:
        url: ``redis://host:port/db``, ``rediss://...`` or ``unix:///path.sock``.
        namespace: Prefix of every key and channel.
        global_limit: The global cap.
        per_client_limit: The per-client cap.
        lease_ms: How long a ticket lives without a heartbeat.
        owner: This process's instance id (the wake channel's suffix).

    Raises:
        SlotBackendError: ``url`` is not a Redis URL.
    """

    def __init__(
        self,
        url: str,
        namespace: str,
        global_limit: int,
        per_client_limit: int,
        lease_ms: int,
        owner: str,
    ) -> None:
        self.url = safe_url(url)
        try:
            self._client = redis.Redis.from_url(
                url, socket_timeout=_SOCKET_TIMEOUT, socket_connect_timeout=_SOCKET_TIMEOUT
            )
        except ValueError as e:
            raise SlotBackendError(f"bad redis url {self.url!r}: {e}") from e
        self._keys = [f"{namespace}:{name}" for name in lua.KEY_NAMES]
        prefix = f"{namespace}:wake:"
        self.channel = prefix + owner
        self._head: list[str | int] = [global_limit, per_client_limit, lease_ms, prefix]
        self._owner = owner
        self._limits = (global_limit, per_client_limit)
        self._acquire = self._client.register_script(lua.ACQUIRE)
        self._release = self._client.register_script(lua.RELEASE)
        self._heartbeat = self._client.register_script(lua.HEARTBEAT)
        self._positions = self._client.register_script(lua.POSITIONS)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except redis.RedisError as e:
            raise SlotBackendError(f"redis at {self.url}: {doing} failed: {e}") from e

    def _run(self, script: Any, doing: str, *args: str | int) -> Any:
        with self._errors(doing):
            return script(keys=self._keys, args=[*self._head, *args])

    def ping(self) -> None:
        """Check that the server answers."""
        with self._errors("connecting"):
            self._client.ping()

    def acquire(self, client_id: str) -> tuple[int, int]:
        """Queue a ticket; return its id and position (0: granted at once)."""
        ticket, place = self._run(self._acquire, "acquire", self._owner, client_id)
        return int(ticket), int(place)

    def release(self, ids: Sequence[int]) -> int:
        """Forget tickets (released or cancelled); return how many Redis still knew."""
        return int(self._run(self._release, "release", *ids))

    def heartbeat(self, ids: Sequence[int]) -> HeartbeatReply:
        """Renew the leases of ``ids`` and read their states and the counts."""
        states, active, waiting, cactive, cwaiting = self._run(self._heartbeat, "heartbeat", *ids)
        held = _pairs(cactive)
        queued = _pairs(cwaiting)
        clients = {
            name: ClientCounts(held.get(name, 0), queued.get(name, 0))
            for name in sorted(held.keys() | queued.keys())
        }
        stats = SlotStats(int(active), int(waiting), *self._limits, clients=clients)
        return HeartbeatReply([int(s) for s in states], stats)

    def positions(self, client_id: str) -> list[int]:
        """Return the positions of ``client_id``'s waiting tickets, every process's."""
        return [int(p) for p in self._run(self._positions, "positions", client_id)]

    def listen(
        self,
        on_wake: Callable[[int], None],
        on_subscribed: Callable[[], None],
        stopping: threading.Event,
    ) -> None:
        """Deliver grant messages for this owner until ``stopping`` is set.

        Reconnects after errors (Redis restarting); ``on_subscribed`` is called
        each time a subscription is in place, so the caller can catch up on
        what was published while it was not.
        """
        while not stopping.is_set():
            try:
                self._listen_once(on_wake, on_subscribed, stopping)
            except (redis.RedisError, OSError) as e:
                _log.warning("redis at %s: wake-up channel lost (%s); retrying", self.url, e)
                stopping.wait(0.5)

    def _listen_once(
        self,
        on_wake: Callable[[int], None],
        on_subscribed: Callable[[], None],
        stopping: threading.Event,
    ) -> None:
        pubsub = self._client.pubsub()  # type: ignore[no-untyped-call]  # unannotated upstream
        try:
            pubsub.subscribe(self.channel)
            while not stopping.is_set():
                message = cast("dict[str, Any] | None", pubsub.get_message(timeout=_LISTEN_POLL))
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    on_subscribed()
                elif message["type"] == "message":
                    on_wake(int(message["data"]))
        finally:
            pubsub.close()

    def close(self) -> None:
        """Close the connections."""
        self._client.close()


def _pairs(flat: Sequence[bytes]) -> dict[str, int]:
    # HGETALL through a script arrives as a flat [field, value, ...] list.
    return {flat[i].decode(): int(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}
