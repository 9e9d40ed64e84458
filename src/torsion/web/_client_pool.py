"""``HTTPConnectionPool``: keep-alive connections per ``(scheme, host, port)``.

The pool carries out what its policy (:mod:`torsion.web._client_pool_policy`) decides:
it opens connections through the endpoint it is given, hands them to requests, starts
and stops idle timers, and closes what the policy says to close. Every decision is
taken first, in one step; the I/O follows.

Mirrors ``twisted.web.client.HTTPConnectionPool``: ``persistent``,
``maxPersistentPerHost`` (2), ``cachedConnectionTimeout`` (240 s) and
``retryAutomatically`` are attributes that may be changed after construction;
``maxConnectionsPerHost`` (torsion's) bounds busy plus idle connections per host,
queueing the requests beyond it.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

from torsion.defer import Deferred, DeferredList
from torsion.failure import Failure
from torsion.interfaces import IDelayedCall
from torsion.protocol import Factory

from ._client_pool_policy import (
    ConnState,
    Limits,
    Plan,
    PooledConnection,
    PoolPolicy,
    PoolStatistics,
)
from ._client_protocol import HTTP11ClientProtocol

__all__ = ["HTTPConnectionPool"]


class _Waiter:
    """A request waiting for a connection."""

    __slots__ = ("connecting", "deferred", "endpoint", "key")

    def __init__(self, key: Hashable, endpoint: Any) -> None:
        self.key = key
        self.endpoint = endpoint
        self.deferred: Deferred[HTTP11ClientProtocol] = Deferred()
        self.connecting: Deferred[Any] | None = None


class _PoolFactory(Factory):
    """Builds the protocol of one pooled connection and ties it to its record."""

    def __init__(self, pool: HTTPConnectionPool, conn: PooledConnection) -> None:
        self._pool = pool
        self._conn = conn

    def buildProtocol(self, addr: Any) -> HTTP11ClientProtocol:
        proto = HTTP11ClientProtocol(
            self._pool._quiescent, clock=self._pool._reactor, lostCallback=self._pool._lost
        )
        self._conn.handle = proto
        self._pool._records[proto] = self._conn
        return proto


class HTTPConnectionPool:
    """Connections kept open between requests, per ``(scheme, host, port)``.

    Example::

        pool = HTTPConnectionPool(reactor, maxPersistentPerHost=4)
        agent = Agent(reactor, pool=pool)
        ...
        await pool.closeCachedConnections()   # at shutdown

    Args:
        reactor: the reactor (``callLater``, ``seconds``).
        persistent: keep connections open for reuse (``False``: one request per
            connection, sent with ``Connection: close``).
        maxPersistentPerHost: idle connections kept per host.
        cachedConnectionTimeout: seconds an idle connection is kept.
        retryAutomatically: retry once, on a new connection, an idempotent request
            that failed on a reused connection before any byte of the response came
            (the server had closed it meanwhile).
        maxConnectionsPerHost: open connections per host, or None for no limit;
            requests beyond it wait for a connection.
    """

    def __init__(
        self,
        reactor: Any,
        persistent: bool = True,
        *,
        maxPersistentPerHost: int = 2,
        cachedConnectionTimeout: float = 240,
        retryAutomatically: bool = True,
        maxConnectionsPerHost: int | None = None,
    ) -> None:
        if maxPersistentPerHost < 0:
            raise ValueError("maxPersistentPerHost must be >= 0")
        if maxConnectionsPerHost is not None and maxConnectionsPerHost < 1:
            raise ValueError("maxConnectionsPerHost must be >= 1 or None")
        self._reactor = reactor
        self.persistent = persistent
        self.maxPersistentPerHost = maxPersistentPerHost
        self.cachedConnectionTimeout = cachedConnectionTimeout
        self.retryAutomatically = retryAutomatically
        self.maxConnectionsPerHost = maxConnectionsPerHost
        self._policy = PoolPolicy()
        self._records: dict[HTTP11ClientProtocol, PooledConnection] = {}
        self._timers: dict[PooledConnection, IDelayedCall] = {}

    def __repr__(self) -> str:
        s = self.statistics()
        return (
            f"<HTTPConnectionPool persistent={self.persistent} idle={s.idle} active={s.active}"
            f" connecting={s.connecting} waiting={s.waiting}>"
        )

    def _limits(self) -> Limits:
        return Limits(
            persistent=self.persistent,
            max_idle_per_host=self.maxPersistentPerHost,
            idle_timeout=self.cachedConnectionTimeout,
            max_per_host=self.maxConnectionsPerHost,
        )

    def _now(self) -> float:
        return float(self._reactor.seconds())

    # -- the API ----------------------------------------------------------------------

    def getConnection(
        self, key: Hashable, endpoint: Any, *, fresh: bool = False
    ) -> Deferred[HTTP11ClientProtocol]:
        """A connection to ``key``: an idle one, a new one through ``endpoint``, or the
        next one free.

        Args:
            key: ``(scheme, host, port)``.
            endpoint: what to connect with (``connect(factory)``) when a new one is needed.
            fresh: always open a new connection (a retry).

        Returns:
            A Deferred firing with an ``HTTP11ClientProtocol`` ready for a request, or
            failing with the endpoint's error. Cancelling it gives up the place in the
            queue, or the connection attempt.
        """
        waiter = _Waiter(key, endpoint)
        waiter.deferred = Deferred(lambda _: self._cancelWaiter(waiter))
        self._act(self._policy.acquire(key, waiter, self._now(), self._limits(), fresh=fresh))
        return waiter.deferred

    def closeCachedConnections(self) -> Deferred[None]:
        """Close every idle connection; the Deferred fires once they are closed."""
        plan = self._policy.close_idle()
        closing = [self._close(conn) for conn in plan.close]
        done: Deferred[Any] = DeferredList(closing, consumeErrors=True)
        return done.addCallback(lambda _: None)

    def statistics(self) -> PoolStatistics:
        """A snapshot: idle, active, connecting, waiting; connections opened, reuses."""
        return self._policy.statistics()

    # -- acting on plans --------------------------------------------------------------

    def _act(self, plan: Plan) -> None:
        for conn in plan.close:
            self._close(conn)
        for waiter, conn in plan.use:
            self._use(waiter, conn)
        for waiter, conn in plan.open:
            self._open(waiter, conn)

    def _close(self, conn: PooledConnection) -> Deferred[None]:
        self._stopTimer(conn)
        proto = conn.handle
        if isinstance(proto, HTTP11ClientProtocol):
            return proto.abort()
        done: Deferred[None] = Deferred()
        done.callback(None)
        return done

    def _use(self, waiter: object, conn: PooledConnection) -> None:
        assert isinstance(waiter, _Waiter)
        self._stopTimer(conn)
        if waiter.deferred.called:
            # Cancelled after the decision: the connection goes back.
            self._afterRelease(conn, self._policy.release(conn, True, self._now(), self._limits()))
            return
        waiter.deferred.callback(conn.handle)

    def _open(self, waiter: object, conn: PooledConnection) -> None:
        assert isinstance(waiter, _Waiter)

        def connected(proto: HTTP11ClientProtocol) -> None:
            waiter.connecting = None
            lost = proto._lostReason
            if lost is not None:
                # Lost before the endpoint reported it connected (a TLS handshake
                # failure, say): the pool has forgotten it already; say why.
                if not waiter.deferred.called:
                    waiter.deferred.errback(lost)
                return
            self._policy.connected(conn)
            if waiter.deferred.called:
                self._afterRelease(
                    conn, self._policy.release(conn, True, self._now(), self._limits())
                )
                return
            waiter.deferred.callback(proto)

        def failed(failure: Failure) -> None:
            waiter.connecting = None
            plan = self._policy.connect_failed(conn, self._limits())
            if not waiter.deferred.called:
                waiter.deferred.errback(failure)
            self._act(plan)

        try:
            connecting: Deferred[Any] = waiter.endpoint.connect(_PoolFactory(self, conn))
        except Exception:
            failed(Failure())
            return
        waiter.connecting = connecting
        connecting.addCallbacks(connected, failed)

    def _cancelWaiter(self, waiter: _Waiter) -> None:
        if self._policy.cancel(waiter):
            return
        connecting = waiter.connecting
        if connecting is not None:
            connecting.cancel()

    def _afterRelease(self, conn: PooledConnection, plan: Plan) -> None:
        if conn.state is ConnState.IDLE:
            self._startTimer(conn)
        self._act(plan)

    # -- what the connections tell us -------------------------------------------------

    def _quiescent(self, proto: HTTP11ClientProtocol) -> None:
        conn = self._records.get(proto)
        if conn is None:
            return
        self._afterRelease(conn, self._policy.release(conn, True, self._now(), self._limits()))

    def _lost(self, proto: HTTP11ClientProtocol) -> None:
        conn = self._records.pop(proto, None)
        if conn is None:
            return
        self._stopTimer(conn)
        self._act(self._policy.lost(conn, self._limits()))

    # -- idle timers ------------------------------------------------------------------

    def _startTimer(self, conn: PooledConnection) -> None:
        self._stopTimer(conn)
        self._timers[conn] = self._reactor.callLater(
            self.cachedConnectionTimeout, self._expire, conn
        )

    def _stopTimer(self, conn: PooledConnection) -> None:
        timer = self._timers.pop(conn, None)
        if timer is not None and timer.active():
            timer.cancel()

    def _expire(self, conn: PooledConnection) -> None:
        self._timers.pop(conn, None)
        self._act(self._policy.expire(conn, self._now(), self._limits()))
