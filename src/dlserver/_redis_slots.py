"""Download slots shared by processes and machines through one Redis server.

The policy is :mod:`dlserver._slots_core`'s, run atomically as Lua scripts
(:mod:`dlserver._slots_lua`); this module is the reactor side.

Design notes:

* redis-py blocks, so its calls run in a private one-thread
  :class:`~torsion.threadpool.ThreadPool`.  One thread keeps the calls in
  the order they were made (a cancel never overtakes its own acquire); a
  script takes well under a millisecond, so one thread carries thousands of
  acquires a second, far more than a download server starts.
* Wake-ups use pub/sub: each grant publishes the ticket id on the owning
  process's channel, which a listener thread (one per process, on its own
  connection) hands to the reactor.  A freed slot reaches a waiter in
  another process within a round trip or two (milliseconds), where polling
  would cost every process a query per poll interval, busy or not, and still
  lag by half an interval.  Pub/sub may lose messages (a dropped
  connection), so the heartbeat doubles as a poll: it returns each ticket's
  state, and a grant missed on the channel is picked up there.
* Leases: every ticket, waiting or active, has a lease in Redis that the
  heartbeat renews (every ``heartbeat_seconds``).  A crashed process's
  tickets expire after ``lease_seconds``; the next script any live process
  runs reaps them and grants the freed slots.
* What is read synchronously (``position()``, ``stats()``,
  ``positions_for``) is a cache refreshed by each heartbeat, so it may be up
  to ``heartbeat_seconds`` old; ``refresh()`` and ``query_positions()`` ask
  Redis now.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Protocol, TypeVar

from dlserver._slots_core import (
    LeaseLostError,
    OnceReleasedSlot,
    Slot,
    SlotBackendError,
    SlotManager,
    SlotsError,
    SlotStats,
    Ticket,
    check_limits,
)
from torsion.defer import CancelledError, Deferred, DeferredList, fail, succeed
from torsion.failure import Failure
from torsion.interfaces import IReactorFromThreads, IReactorTime
from torsion.task import LoopingCall
from torsion.threadpool import ThreadPool
from torsion.threads import deferToThreadPool

if TYPE_CHECKING:
    from dlserver._slots_redis_io import HeartbeatReply, RedisStore

__all__ = ["RedisSlots"]

_log = logging.getLogger("dlserver.queues")
_T = TypeVar("_T")


class _Reactor(IReactorTime, IReactorFromThreads, Protocol):
    """What RedisSlots needs of a reactor: timers and ``callFromThread``."""


class _State(Enum):
    PENDING = "pending"  # acquire sent, Redis has not answered
    WAITING = "waiting"
    ACTIVE = "active"
    DONE = "done"  # cancelled, released, failed or lost


class _RedisSlot(OnceReleasedSlot):
    def __init__(self, manager: RedisSlots, ticket: _RedisTicket) -> None:
        super().__init__(ticket.client_id, ticket.item)
        self._manager = manager
        self._ticket = ticket

    def _give_back(self) -> None:
        self._ticket.state = _State.DONE
        if self._ticket.id is not None:
            self._manager._finish(self._ticket.id)

    def __repr__(self) -> str:
        return f"<RedisSlot #{self._ticket.id} {self.client_id!r} {self.item!r}>"


class _RedisTicket(Ticket):
    def __init__(self, client_id: str, item: str, guess: int) -> None:
        self.client_id = client_id
        self.item = item
        self.id: int | None = None
        self.state = _State.PENDING
        self.place = guess
        self.slot: _RedisSlot | None = None
        self.manager: RedisSlots | None = None
        self.granted = Deferred(self._cancel_waiting)

    def position(self) -> int:
        return self.place if self.state in (_State.PENDING, _State.WAITING) else 0

    def cancel(self) -> None:
        if self.slot is not None:
            self.slot.release()
        elif self.state in (_State.PENDING, _State.WAITING):
            self.granted.cancel()

    def _cancel_waiting(self, d: Deferred[Slot]) -> None:
        # A PENDING ticket has no id yet: the acquire's answer sees DONE and
        # gives the ticket back then.
        self.state = _State.DONE
        if self.id is not None and self.manager is not None:
            self.manager._finish(self.id)

    def __repr__(self) -> str:
        return f"<RedisTicket #{self.id} {self.client_id!r} {self.state.value} at {self.place}>"


class RedisSlots(SlotManager):
    """Download slots whose queue and caps are shared through Redis.

    Call :meth:`start` (and wait for it) before relying on the manager, and
    :meth:`close` when done.  ``granted`` Deferreds fire in the reactor
    thread once Redis has decided; see the module docstring for what is
    cached.  Every process sharing a ``namespace`` must use the same limits.

    Args:
        url: ``redis://host:port/db``, ``rediss://...`` or ``unix:///path.sock``.
        global_limit: At most this many downloads at once, all processes together.
        per_client_limit: At most this many per client, all processes together.
        reactor: Runs timers and receives results from the Redis threads.
        namespace: Prefix of the keys and channels (several servers may share
            one Redis under different namespaces).
        lease_seconds: How long a ticket outlives its process's last heartbeat.
        heartbeat_seconds: How often leases are renewed and caches refreshed;
            a fifth of ``lease_seconds`` by default.

    Raises:
        ValueError: A limit is below 1, or the heartbeat is not shorter than the lease.
        SlotBackendError: ``url`` is not a Redis URL.
    """

    def __init__(
        self,
        url: str,
        global_limit: int,
        per_client_limit: int,
        *,
        reactor: _Reactor,
        namespace: str = "dlserver:slots",
        lease_seconds: float = 15.0,
        heartbeat_seconds: float | None = None,
    ) -> None:
        check_limits(global_limit, per_client_limit)
        beat = lease_seconds / 5 if heartbeat_seconds is None else heartbeat_seconds
        if not 0 < beat < lease_seconds:
            raise ValueError(
                f"heartbeat_seconds must be > 0 and < lease_seconds ({lease_seconds}), not {beat}"
            )
        self._reactor = reactor
        self._interval = beat
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._store = _store_class()(
            url, namespace, global_limit, per_client_limit, int(lease_seconds * 1000), self.owner
        )
        self._pool = ThreadPool(1, 1, name="dlserver-redis-slots")
        self._tickets: dict[int, _RedisTicket] = {}
        self._early: set[int] = set()  # grants heard of before their acquire's answer
        self._waiting_answers: list[_RedisTicket] = []  # acquires Redis has not answered
        self._dead = False  # the thread pool was stopped: nothing more reaches Redis
        self._inflight: set[Deferred[None]] = set()
        self._stats = SlotStats(0, 0, global_limit, per_client_limit)
        self._heartbeat = LoopingCall(self._beat)
        self._heartbeat.clock = reactor
        self._stopping = threading.Event()
        self._subscribed: Deferred[None] = Deferred()
        self._listener: threading.Thread | None = None
        self._closed = False
        self._started = False

    # -- life cycle ---------------------------------------------------------------

    def start(self) -> Deferred[None]:
        """Connect, subscribe to wake-ups and start the heartbeat.

        Returns:
            A Deferred that fires once Redis answered and the wake-up channel is
            in place, or fails with :class:`SlotBackendError` (the message names
            the server and the cause) if Redis cannot be reached.
        """
        if self._started or self._closed:
            raise SlotsError("start() was already called")
        self._started = True
        return Deferred.fromCoroutine(self._start())

    async def _start(self) -> None:
        self._pool.start()
        try:
            await self._call(self._store.ping)
        except SlotsError:
            self._closed = True
            self._stop_threads()
            raise
        self._listener = threading.Thread(
            target=self._store.listen,
            args=(self._wake_from_thread, self._subscribed_from_thread, self._stopping),
            name=f"dlserver-redis-wake-{self.owner}",
            # Daemon: it only reads a socket, and must not hold up exit when
            # close() was never called; close() stops it within 0.2 s.
            daemon=True,
        )
        self._listener.start()
        await self._subscribed
        if self._closed:  # close() was called while starting
            return
        self._heartbeat.start(self._interval, now=True).addErrback(_log_failure, "heartbeat")

    def close(self) -> Deferred[None]:
        """Cancel this process's waiting tickets, give its slots back, disconnect.

        Waiting tickets fail with :class:`SlotsError`.  Returns a Deferred that
        fires once Redis has been told and the threads have stopped.
        """
        if self._closed:
            return succeed(None)
        self._closed = True
        if not self._started:
            self._store.close()
            return succeed(None)
        return Deferred.fromCoroutine(self._close())

    async def _close(self) -> None:
        if self._heartbeat.running:
            self._heartbeat.stop()
        for ticket in [*self._tickets.values(), *self._unanswered()]:
            if ticket.state in (_State.PENDING, _State.WAITING):
                ticket.state = _State.DONE
                ticket.granted.errback(SlotsError("the slot manager was closed"))
            elif ticket.slot is not None:
                ticket.slot._released = True
                ticket.state = _State.DONE
        while self._inflight:  # acquires in flight answer, then give back
            await DeferredList(list(self._inflight))
        ids, self._tickets = list(self._tickets), {}
        if ids:
            await self._call(self._store.release, ids).addErrback(_log_failure, "release")
        self._stopping.set()
        await self._call(self._join_listener)  # in the worker: the reactor never blocks
        self._stop_threads()

    def _join_listener(self) -> None:
        # Before the connections close: the listener must not read a closed socket.
        if self._listener is not None:
            self._listener.join()

    def _stop_threads(self) -> None:
        self._dead = True
        self._stopping.set()
        self._join_listener()
        self._pool.stop()
        self._store.close()

    def _unanswered(self) -> list[_RedisTicket]:
        return [t for t in self._waiting_answers if t.state is _State.PENDING]

    def _halt(self) -> None:
        """Stop as a crashed process would: no release, leases left to expire (tests)."""
        self._closed = True
        if self._heartbeat.running:
            self._heartbeat.stop()
        self._tickets.clear()
        self._stop_threads()

    # -- SlotManager ------------------------------------------------------------------

    def acquire(self, client_id: str, item: str) -> Ticket:
        """Queue a request in Redis; ``granted`` fires once Redis grants it.

        Until Redis has answered, ``position()`` is a guess (one behind the
        last known queue length).

        Raises:
            SlotsError: :meth:`start` was not called, or the manager was closed.
        """
        if self._closed:
            raise SlotsError("the slot manager was closed")
        if not self._started:
            raise SlotsError("call start() before acquire()")
        ticket = _RedisTicket(client_id, item, self._stats.waiting + 1)
        ticket.manager = self
        self._waiting_answers.append(ticket)
        d = self._call(self._store.acquire, client_id)
        self._track(
            d.addCallbacks(
                self._acquired, self._acquire_failed, callbackArgs=(ticket,), errbackArgs=(ticket,)
            )
        )
        return ticket

    def stats(self) -> SlotStats:
        """Return the counts of all processes as of the last heartbeat or :meth:`refresh`."""
        return self._stats

    def positions_for(self, client_id: str) -> list[int]:
        """Return the cached positions of ``client_id``'s tickets in this process.

        A client's tickets held by other processes are not included: use
        :meth:`query_positions` for those.
        """
        return sorted(
            t.place
            for t in self._tickets.values()
            if t.client_id == client_id and t.state is _State.WAITING
        )

    def refresh(self) -> Deferred[SlotStats]:
        """Run a heartbeat now: renew leases, refresh positions; fire with the counts."""
        return self._beat().addCallback(lambda _: self._stats)

    def query_positions(self, client_id: str) -> Deferred[list[int]]:
        """Ask Redis for the positions of ``client_id``'s tickets, in every process."""
        return self._call(self._store.positions, client_id)

    # -- reactor-thread handlers ------------------------------------------------------

    def _acquired(self, answer: tuple[int, int], ticket: _RedisTicket) -> None:
        self._answered(ticket)
        ticket_id, place = answer
        ticket.id = ticket_id
        if ticket.state is _State.DONE:  # cancelled (or closed) while pending
            self._early.discard(ticket_id)
            self._send_release([ticket_id])
            return
        self._tickets[ticket_id] = ticket
        if place == 0 or ticket_id in self._early:
            self._early.discard(ticket_id)
            self._grant(ticket)
        else:
            ticket.state = _State.WAITING
            ticket.place = place

    def _acquire_failed(self, failure: Failure, ticket: _RedisTicket) -> None:
        self._answered(ticket)
        if ticket.state is _State.DONE:
            return
        ticket.state = _State.DONE
        ticket.granted.errback(failure)

    def _answered(self, ticket: _RedisTicket) -> None:
        self._waiting_answers.remove(ticket)
        if not self._waiting_answers:
            # Wake-ups for ids nobody here waits for (given back already).
            self._early.clear()

    def _grant(self, ticket: _RedisTicket) -> None:
        ticket.state = _State.ACTIVE
        ticket.place = 0
        ticket.slot = _RedisSlot(self, ticket)
        ticket.granted.callback(ticket.slot)

    def _wake(self, ticket_id: int) -> None:
        ticket = self._tickets.get(ticket_id)
        if ticket is None:
            if self._waiting_answers:
                self._early.add(ticket_id)
        elif ticket.state is _State.WAITING:
            self._grant(ticket)

    def _wake_from_thread(self, ticket_id: int) -> None:
        self._reactor.callFromThread(self._wake, ticket_id)

    def _subscribed_from_thread(self) -> None:
        self._reactor.callFromThread(self._on_subscribed)

    def _on_subscribed(self) -> None:
        if not self._subscribed.called:
            self._subscribed.callback(None)
        elif not self._closed:
            # Subscribed again after a lost connection: grants published in
            # between were missed; the heartbeat's states catch them up.
            self._track(self._beat())

    def _finish(self, ticket_id: int) -> None:
        self._tickets.pop(ticket_id, None)
        if not self._closed:
            self._send_release([ticket_id])

    def _send_release(self, ids: list[int]) -> None:
        d = self._call(self._store.release, ids)
        # A lost release costs a slot for one lease length, not for ever.
        self._track(d.addCallbacks(_ignore, _log_failure, errbackArgs=("release",)))

    def _beat(self) -> Deferred[None]:
        ids = list(self._tickets)
        d = self._call(self._store.heartbeat, ids)
        return d.addCallbacks(
            self._apply, _log_failure, callbackArgs=(ids,), errbackArgs=("heartbeat",)
        )

    def _apply(self, reply: HeartbeatReply, ids: list[int]) -> None:
        self._stats = reply.stats
        for ticket_id, state in zip(ids, reply.states, strict=True):
            ticket = self._tickets.get(ticket_id)
            if ticket is None or ticket.state not in (_State.WAITING, _State.ACTIVE):
                continue
            if state < 0:
                self._lost(ticket_id, ticket)
            elif state == 0 and ticket.state is _State.WAITING:
                self._grant(ticket)
            elif state > 0:
                ticket.place = state

    def _lost(self, ticket_id: int, ticket: _RedisTicket) -> None:
        del self._tickets[ticket_id]
        if ticket.state is _State.WAITING:
            ticket.state = _State.DONE
            ticket.granted.errback(LeaseLostError(f"ticket {ticket_id}: lease expired in redis"))
        else:
            _log.warning(
                "slot %d of %r expired in redis while in use (heartbeats too late?)",
                ticket_id,
                ticket.client_id,
            )

    # -- helpers ----------------------------------------------------------------------

    def _call(self, f: Callable[..., _T], *args: object) -> Deferred[_T]:
        if self._dead:
            return fail(SlotsError("the slot manager was closed"))
        return deferToThreadPool(self._reactor, self._pool, f, *args)

    def _track(self, d: Deferred[None]) -> None:
        self._inflight.add(d)

        def done(result: object) -> object:
            self._inflight.discard(d)
            return result

        d.addBoth(done)

    def __repr__(self) -> str:
        s = self._stats
        return (
            f"<RedisSlots {self._store.url} owner={self.owner} active={s.active}/"
            f"{s.global_limit} waiting={s.waiting} local={len(self._tickets)}>"
        )


def _store_class() -> type[RedisStore]:
    # Imported here: dlserver.queues (and LocalSlots) must work without redis-py.
    try:
        from dlserver._slots_redis_io import RedisStore  # noqa: PLC0415
    except ImportError as e:
        raise SlotBackendError(
            f"RedisSlots needs the redis package (pip install 'torsion[redis]'): {e}"
        ) from e
    return RedisStore


def _ignore(_: object) -> None:
    return None


def _log_failure(failure: Failure, doing: str) -> None:
    if failure.check(CancelledError):
        return
    _log.warning("redis slots: %s failed: %s", doing, failure.getErrorMessage())
