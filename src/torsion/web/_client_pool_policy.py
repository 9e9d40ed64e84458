"""The connection pool's policy, sans I/O: which connection serves which request.

Decide, then act. Every method updates the pool's state in one synchronous step and
returns a :class:`Plan`: the connections to hand to waiting requests, the connections to
open (each for one request) and the connections to close. The caller (the
``HTTPConnectionPool``) does that I/O afterwards. Nothing here touches a socket, a
timer or a Deferred, so the policy is tested as a table.

Two bugs of httpcore's pool are ruled out by construction, and pinned by tests:

* encode/httpcore#1000, the keep-alive limit compared with *all* connections rather
  than the idle ones: here ``maxPersistentPerHost`` bounds the idle list of a host and
  nothing else (busy connections are never closed to make room).
* encode/httpcore#1110, a connection handed to a queued request still looked idle and
  was closed by the expiry sweep: here the hand-over is recorded at decision time (the
  connection is ``ACTIVE`` before the plan is returned), and expiry only closes a
  connection that is ``IDLE`` and idle for long enough.

Policy:

* A request takes the most recently used idle connection of its host (the one least
  likely to have been closed by the server), else opens a new one if the host has
  fewer than ``maxConnectionsPerHost`` (no limit by default, as Twisted), else waits in
  a FIFO queue.
* A connection finished with a reusable response goes to the first waiter of its host,
  else becomes idle; past ``maxPersistentPerHost`` idle connections the oldest idle one
  is closed. A non-reusable one is closed, and frees a place for a waiter.
* Idle connections are closed after ``cachedConnectionTimeout`` seconds.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

__all__ = ["ConnState", "Limits", "Plan", "PoolPolicy", "PoolStatistics", "PooledConnection"]


class ConnState(Enum):
    """Where a pooled connection is in its life."""

    CONNECTING = "CONNECTING"
    """Being opened for one request."""
    ACTIVE = "ACTIVE"
    """Carrying a request (or handed to one)."""
    IDLE = "IDLE"
    """Open and unused, waiting in the pool."""
    CLOSED = "CLOSED"
    """Closed or being closed: out of the pool."""


@dataclass(eq=False)
class PooledConnection:
    """The pool's record of one connection.

    Attributes:
        key: the host it talks to (``(scheme, host, port)``).
        state: where it is in its life.
        requests: how many requests it was given.
        idle_since: when it last became idle (the caller's clock), or None.
        handle: the I/O side's object (the protocol), opaque to the policy.
    """

    key: Hashable
    state: ConnState = ConnState.CONNECTING
    requests: int = 0
    idle_since: float | None = None
    handle: Any = None

    def is_idle(self) -> bool:
        """Whether it waits in the pool, unused."""
        return self.state is ConnState.IDLE

    def has_expired(self, now: float, timeout: float) -> bool:
        """Whether it has been idle for ``timeout`` seconds or more."""
        return (
            self.state is ConnState.IDLE
            and self.idle_since is not None
            and now - self.idle_since >= timeout
        )

    def __repr__(self) -> str:
        return f"<PooledConnection {self.key!r} {self.state.value} requests={self.requests}>"


@dataclass(frozen=True, slots=True)
class Limits:
    """The pool's settings, read at each decision.

    Attributes:
        persistent: whether connections are kept for reuse at all.
        max_idle_per_host: idle connections kept per host (``maxPersistentPerHost``).
        idle_timeout: seconds an idle connection is kept (``cachedConnectionTimeout``).
        max_per_host: open connections per host (busy, idle and opening), or None.
    """

    persistent: bool = True
    max_idle_per_host: int = 2
    idle_timeout: float = 240.0
    max_per_host: int | None = None


@dataclass
class Plan:
    """The I/O to do after a decision, in this order: close, hand over, open.

    Attributes:
        close: connections to close.
        use: ``(waiter, connection)``: give this (now ``ACTIVE``) connection to this waiter.
        open: ``(waiter, connection)``: open this (``CONNECTING``) connection for this waiter.
    """

    close: list[PooledConnection] = field(default_factory=list)
    use: list[tuple[object, PooledConnection]] = field(default_factory=list)
    open: list[tuple[object, PooledConnection]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.close or self.use or self.open)


@dataclass(frozen=True, slots=True)
class PoolStatistics:
    """A snapshot of the pool.

    Attributes:
        idle: idle connections.
        active: connections carrying a request.
        connecting: connections being opened.
        waiting: requests queued for a connection.
        opened: connections opened since the pool was made.
        reused: requests served by a connection that had served one before.
    """

    idle: int
    active: int
    connecting: int
    waiting: int
    opened: int
    reused: int


@dataclass
class _Host:
    idle: list[PooledConnection] = field(default_factory=list)  # oldest first
    busy: set[PooledConnection] = field(default_factory=set)  # CONNECTING or ACTIVE
    waiters: deque[object] = field(default_factory=deque)

    def open_count(self) -> int:
        return len(self.idle) + len(self.busy)

    def empty(self) -> bool:
        return not (self.idle or self.busy or self.waiters)


class PoolPolicy:
    """The pool's state and its rules (see the module docstring).

    Example:
        >>> policy, limits = PoolPolicy(), Limits()
        >>> plan = policy.acquire("a", "req1", now=0.0, limits=limits)
        >>> waiter, conn = plan.open[0]
        >>> policy.connected(conn)
        >>> policy.release(conn, reusable=True, now=1.0, limits=limits).close
        []
        >>> policy.acquire("a", "req2", now=2.0, limits=limits).use[0][1] is conn
        True
    """

    def __init__(self) -> None:
        self._hosts: dict[Hashable, _Host] = {}
        self._opened = 0
        self._reused = 0

    def _host(self, key: Hashable) -> _Host:
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host()
        return host

    def _tidy(self, key: Hashable) -> None:
        host = self._hosts.get(key)
        if host is not None and host.empty():
            del self._hosts[key]

    # -- decisions --------------------------------------------------------------------

    def acquire(
        self, key: Hashable, waiter: object, now: float, limits: Limits, *, fresh: bool = False
    ) -> Plan:
        """A request for ``key`` wants a connection.

        Args:
            key: the host.
            waiter: the request (opaque; handed back in the plan).
            now: the current time.
            limits: the settings.
            fresh: open a new connection whatever the limits (a retry after a stale
                keep-alive connection failed: it replaces the one that just died).
        """
        plan = Plan()
        host = self._host(key)
        self._close_expired(host, now, limits, plan)
        if fresh:
            plan.open.append((waiter, self._new(host, key)))
            return plan
        if host.idle:
            conn = host.idle.pop()  # the most recently used
            self._activate(host, conn)
            plan.use.append((waiter, conn))
        elif limits.max_per_host is None or host.open_count() < limits.max_per_host:
            plan.open.append((waiter, self._new(host, key)))
        else:
            host.waiters.append(waiter)
        return plan

    def connected(self, conn: PooledConnection) -> None:
        """The connection opened for a request is up and now carries it."""
        if conn.state is ConnState.CONNECTING:
            conn.state = ConnState.ACTIVE
            conn.requests += 1

    def connect_failed(self, conn: PooledConnection, limits: Limits) -> Plan:
        """Opening the connection failed (its request fails with the error)."""
        return self._drop(conn, limits)

    def release(
        self, conn: PooledConnection, reusable: bool, now: float, limits: Limits
    ) -> Plan:
        """The connection's request is over; ``reusable`` if it may carry another."""
        plan = Plan()
        if conn.state is not ConnState.ACTIVE:
            return plan
        host = self._host(conn.key)
        if not reusable or not limits.persistent:
            plan.close.append(conn)
            plan.open.extend(self._drop(conn, limits).open)
            return plan
        if host.waiters:
            conn.requests += 1
            self._reused += 1
            plan.use.append((host.waiters.popleft(), conn))
            return plan
        host.busy.discard(conn)
        conn.state = ConnState.IDLE
        conn.idle_since = now
        host.idle.append(conn)
        while len(host.idle) > limits.max_idle_per_host:
            oldest = host.idle.pop(0)
            oldest.state = ConnState.CLOSED
            plan.close.append(oldest)
        return plan

    def lost(self, conn: PooledConnection, limits: Limits) -> Plan:
        """The connection closed (the server closed it, it broke, or we closed it)."""
        if conn.state is ConnState.CLOSED:
            return Plan()
        return self._drop(conn, limits)

    def expire(self, conn: PooledConnection, now: float, limits: Limits) -> Plan:
        """A connection's idle timer fired: close it if it is still idle and expired."""
        plan = Plan()
        if conn.has_expired(now, limits.idle_timeout):
            host = self._host(conn.key)
            host.idle.remove(conn)
            conn.state = ConnState.CLOSED
            plan.close.append(conn)
            self._tidy(conn.key)
        return plan

    def cancel(self, waiter: object) -> bool:
        """Forget a queued request; False if it is not queued."""
        for key, host in self._hosts.items():
            if waiter in host.waiters:
                host.waiters.remove(waiter)
                self._tidy(key)
                return True
        return False

    def close_idle(self) -> Plan:
        """Close every idle connection (``closeCachedConnections``)."""
        plan = Plan()
        for key, host in list(self._hosts.items()):
            for conn in host.idle:
                conn.state = ConnState.CLOSED
                plan.close.append(conn)
            host.idle.clear()
            self._tidy(key)
        return plan

    # -- looking ----------------------------------------------------------------------

    def statistics(self) -> PoolStatistics:
        """A snapshot: counts of idle, active, connecting and waiting, opened and reused."""
        idle = active = connecting = waiting = 0
        for host in self._hosts.values():
            idle += len(host.idle)
            waiting += len(host.waiters)
            for conn in host.busy:
                if conn.state is ConnState.CONNECTING:
                    connecting += 1
                else:
                    active += 1
        return PoolStatistics(idle, active, connecting, waiting, self._opened, self._reused)

    def idle_connections(self, key: Hashable) -> list[PooledConnection]:
        """The idle connections of ``key``, oldest first (a copy)."""
        host = self._hosts.get(key)
        return list(host.idle) if host is not None else []

    # -- helpers ----------------------------------------------------------------------

    def _new(self, host: _Host, key: Hashable) -> PooledConnection:
        conn = PooledConnection(key)
        host.busy.add(conn)
        self._opened += 1
        return conn

    def _activate(self, host: _Host, conn: PooledConnection) -> None:
        conn.state = ConnState.ACTIVE
        conn.idle_since = None
        conn.requests += 1
        self._reused += 1
        host.busy.add(conn)

    def _close_expired(self, host: _Host, now: float, limits: Limits, plan: Plan) -> None:
        for conn in [c for c in host.idle if c.has_expired(now, limits.idle_timeout)]:
            host.idle.remove(conn)
            conn.state = ConnState.CLOSED
            plan.close.append(conn)

    def _drop(self, conn: PooledConnection, limits: Limits) -> Plan:
        """Take ``conn`` out of the pool; a freed place goes to a waiter."""
        plan = Plan()
        host = self._host(conn.key)
        host.busy.discard(conn)
        if conn in host.idle:
            host.idle.remove(conn)
        conn.state = ConnState.CLOSED
        while host.waiters and (
            limits.max_per_host is None or host.open_count() < limits.max_per_host
        ):
            plan.open.append((host.waiters.popleft(), self._new(host, conn.key)))
        self._tidy(conn.key)
        return plan
