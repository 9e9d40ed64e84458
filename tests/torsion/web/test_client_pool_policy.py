"""The connection pool's policy as a table: each decision, its new state and its plan.

No sockets, no clock, no Deferreds: ``PoolPolicy`` is pure (decide, then act). Two
scenarios pin the httpcore bugs named in STYLE.md section 6.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torsion.web._client_pool_policy import (
    ConnState,
    Limits,
    PooledConnection,
    PoolPolicy,
)

A = ("http", "a", 80)
B = ("http", "b", 80)
LIMITS = Limits()


def open_one(policy: PoolPolicy, key: object, waiter: object, now: float = 0.0,
             limits: Limits = LIMITS) -> PooledConnection:
    plan = policy.acquire(key, waiter, now, limits)  # type: ignore[arg-type]
    assert plan.open and plan.open[0][0] == waiter, plan
    conn = plan.open[0][1]
    policy.connected(conn)
    return conn


def test_first_request_opens_a_connection() -> None:
    """With nothing idle and no limit, a request opens a new CONNECTING connection."""
    policy = PoolPolicy()
    plan = policy.acquire(A, "r1", 0.0, LIMITS)
    assert plan.use == [] and plan.close == []
    [(waiter, conn)] = plan.open
    assert waiter == "r1" and conn.state is ConnState.CONNECTING and conn.key == A
    policy.connected(conn)
    assert conn.state is ConnState.ACTIVE and conn.requests == 1
    assert policy.statistics().active == 1


def test_released_connection_is_reused_by_the_next_request() -> None:
    """A reusable connection becomes IDLE, and the next request of its host takes it."""
    policy = PoolPolicy()
    conn = open_one(policy, A, "r1")
    plan = policy.release(conn, True, 1.0, LIMITS)
    assert not plan and conn.state is ConnState.IDLE and conn.idle_since == 1.0
    plan = policy.acquire(A, "r2", 2.0, LIMITS)
    assert plan.use == [("r2", conn)] and conn.state is ConnState.ACTIVE
    assert conn.requests == 2
    stats = policy.statistics()
    assert (stats.opened, stats.reused, stats.idle, stats.active) == (1, 1, 0, 1)


def test_idle_connection_of_another_host_is_not_used() -> None:
    """Connections are kept per (scheme, host, port)."""
    policy = PoolPolicy()
    conn = open_one(policy, A, "r1")
    policy.release(conn, True, 1.0, LIMITS)
    plan = policy.acquire(B, "r2", 2.0, LIMITS)
    assert plan.use == [] and len(plan.open) == 1 and plan.open[0][1].key == B


def test_most_recently_used_idle_connection_is_taken_first() -> None:
    """LIFO: the freshest idle connection is the least likely to be closed by the server."""
    policy = PoolPolicy()
    c1, c2 = open_one(policy, A, "r1"), open_one(policy, A, "r2")
    policy.release(c1, True, 1.0, LIMITS)
    policy.release(c2, True, 2.0, LIMITS)
    assert policy.acquire(A, "r3", 3.0, LIMITS).use == [("r3", c2)]


@dataclass(frozen=True)
class IdleCase:
    max_idle: int
    opened: int
    released: int
    closed_expected: int


@pytest.mark.parametrize("case", [
    IdleCase(max_idle=2, opened=1, released=1, closed_expected=0),
    IdleCase(max_idle=2, opened=3, released=3, closed_expected=1),
    IdleCase(max_idle=1, opened=3, released=3, closed_expected=2),
    IdleCase(max_idle=0, opened=2, released=2, closed_expected=2),
    # httpcore#1000: five busy, one released: 1 idle <= 2, nothing is closed.
    IdleCase(max_idle=2, opened=5, released=1, closed_expected=0),
    IdleCase(max_idle=2, opened=5, released=2, closed_expected=0),
])
def test_idle_limit_counts_idle_connections_only(case: IdleCase) -> None:
    """maxPersistentPerHost bounds the idle list; busy connections don't count (#1000)."""
    policy = PoolPolicy()
    limits = Limits(max_idle_per_host=case.max_idle)
    conns = [open_one(policy, A, f"r{i}", limits=limits) for i in range(case.opened)]
    closed: list[PooledConnection] = []
    for i, conn in enumerate(conns[: case.released]):
        closed += policy.release(conn, True, float(i), limits).close
    assert len(closed) == case.closed_expected
    assert all(c.state is ConnState.CLOSED for c in closed)
    # The oldest idle ones go first.
    assert closed == conns[: len(closed)]
    stats = policy.statistics()
    assert stats.idle == min(case.released, case.max_idle)
    assert stats.active == case.opened - case.released


def test_connection_handed_to_a_queued_request_is_not_expired() -> None:
    """httpcore#1110: the hand-over is recorded at decision time, so the expiry of the
    connection's old idle timer does not close it under its new request."""
    policy = PoolPolicy()
    limits = Limits(max_per_host=1, idle_timeout=10.0)
    conn = open_one(policy, A, "r1", limits=limits)
    assert policy.acquire(A, "r2", 0.0, limits).open == []  # queued: at the limit
    plan = policy.release(conn, True, 5.0, limits)
    assert plan.use == [("r2", conn)]
    assert conn.state is ConnState.ACTIVE and not conn.is_idle()
    assert not policy.expire(conn, 100.0, limits)
    assert conn.state is ConnState.ACTIVE


def test_stale_idle_timer_does_not_close_a_reidled_connection() -> None:
    """A timer from an earlier idle period fires: the connection, idle again since
    later, is not expired yet."""
    policy = PoolPolicy()
    limits = Limits(idle_timeout=10.0)
    conn = open_one(policy, A, "r1", limits=limits)
    policy.release(conn, True, 0.0, limits)
    policy.acquire(A, "r2", 5.0, limits)
    policy.release(conn, True, 8.0, limits)
    assert not policy.expire(conn, 10.0, limits)  # the first timer
    assert policy.expire(conn, 18.0, limits).close == [conn]
    assert conn.state is ConnState.CLOSED and policy.statistics().idle == 0


def test_expired_idle_connections_are_closed_on_acquire() -> None:
    """Idle past the timeout: closed instead of used, and a new one is opened."""
    policy = PoolPolicy()
    limits = Limits(idle_timeout=10.0)
    conn = open_one(policy, A, "r1", limits=limits)
    policy.release(conn, True, 0.0, limits)
    plan = policy.acquire(A, "r2", 10.0, limits)
    assert plan.close == [conn] and len(plan.open) == 1


@pytest.mark.parametrize(("reusable", "persistent"), [(False, True), (True, False), (False, False)])
def test_non_reusable_release_closes(reusable: bool, persistent: bool) -> None:
    """Not reusable, or a non-persistent pool: the connection is closed, not kept."""
    policy = PoolPolicy()
    limits = Limits(persistent=persistent)
    conn = open_one(policy, A, "r1", limits=limits)
    plan = policy.release(conn, reusable, 1.0, limits)
    assert plan.close == [conn] and conn.state is ConnState.CLOSED
    assert policy.statistics() == policy.statistics().__class__(0, 0, 0, 0, 1, 0)


def test_limit_queues_and_a_closed_connection_frees_a_place() -> None:
    """At maxConnectionsPerHost requests wait (FIFO); a lost connection opens one for
    the first waiter."""
    policy = PoolPolicy()
    limits = Limits(max_per_host=2)
    c1, _ = open_one(policy, A, "r1", limits=limits), open_one(policy, A, "r2", limits=limits)
    assert not policy.acquire(A, "r3", 0.0, limits)
    assert not policy.acquire(A, "r4", 0.0, limits)
    assert policy.statistics().waiting == 2
    plan = policy.lost(c1, limits)
    [(waiter, new)] = plan.open
    assert waiter == "r3" and new.state is ConnState.CONNECTING
    assert policy.statistics().waiting == 1


def test_failed_connect_frees_its_place_for_a_waiter() -> None:
    """A connection that could not be opened no longer counts against the limit."""
    policy = PoolPolicy()
    limits = Limits(max_per_host=1)
    plan = policy.acquire(A, "r1", 0.0, limits)
    conn = plan.open[0][1]
    policy.acquire(A, "r2", 0.0, limits)
    plan = policy.connect_failed(conn, limits)
    assert [w for w, _ in plan.open] == ["r2"]


def test_cancelled_waiter_is_forgotten() -> None:
    """A queued request that gives up is not handed a connection later."""
    policy = PoolPolicy()
    limits = Limits(max_per_host=1)
    conn = open_one(policy, A, "r1", limits=limits)
    policy.acquire(A, "r2", 0.0, limits)
    assert policy.cancel("r2") and not policy.cancel("r2")
    plan = policy.release(conn, True, 1.0, limits)
    assert plan.use == [] and conn.state is ConnState.IDLE


def test_fresh_acquire_ignores_idle_and_limit() -> None:
    """A retry gets a new connection, not an idle one that may be stale as well."""
    policy = PoolPolicy()
    limits = Limits(max_per_host=1)
    conn = open_one(policy, A, "r1", limits=limits)
    policy.release(conn, True, 0.0, limits)
    plan = policy.acquire(A, "r2", 1.0, limits, fresh=True)
    assert plan.use == [] and len(plan.open) == 1


def test_lost_idle_connection_leaves_the_pool() -> None:
    """The server closing an idle connection removes it; losing it twice is harmless."""
    policy = PoolPolicy()
    conn = open_one(policy, A, "r1")
    policy.release(conn, True, 0.0, LIMITS)
    assert not policy.lost(conn, LIMITS)
    assert not policy.lost(conn, LIMITS)
    assert policy.statistics().idle == 0
    assert policy.acquire(A, "r2", 1.0, LIMITS).open


def test_close_idle_closes_only_idle() -> None:
    """closeCachedConnections: idle ones closed, busy ones left alone."""
    policy = PoolPolicy()
    c1, c2 = open_one(policy, A, "r1"), open_one(policy, B, "r2")
    policy.release(c1, True, 0.0, LIMITS)
    assert policy.close_idle().close == [c1]
    assert c2.state is ConnState.ACTIVE


def test_repr_shows_origin_state_and_count() -> None:
    """A connection's repr says where it goes, its state and its request count."""
    conn = PooledConnection(A, ConnState.IDLE, requests=3)
    assert repr(conn) == "<PooledConnection ('http', 'a', 80) IDLE requests=3>"


# -- invariants under random sequences -----------------------------------------------

_ops = st.lists(
    st.tuples(
        st.sampled_from(["acquire", "release", "release_bad", "lost", "expire", "cancel"]),
        st.sampled_from([A, B]),
        st.integers(0, 5),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(ops=_ops, max_idle=st.integers(0, 3), max_per_host=st.one_of(st.none(), st.integers(1, 3)))
def test_policy_invariants(ops: list[tuple[str, tuple[str, str, int], int]], max_idle: int,
                           max_per_host: int | None) -> None:
    """Whatever happens: idle <= maxPersistentPerHost per host, open <= the limit, a
    connection is never both handed out and idle, and the counts add up."""
    policy = PoolPolicy()
    limits = Limits(max_idle_per_host=max_idle, idle_timeout=3.0, max_per_host=max_per_host)
    conns: list[PooledConnection] = []
    waiters = 0
    now = 0.0
    for op, key, pick in ops:
        now += 1.0
        if op == "acquire":
            waiters += 1
            plan = policy.acquire(key, f"w{waiters}", now, limits)
        elif not conns:
            continue
        else:
            conn = conns[pick % len(conns)]
            if op == "release":
                plan = policy.release(conn, True, now, limits)
            elif op == "release_bad":
                plan = policy.release(conn, False, now, limits)
            elif op == "lost":
                plan = policy.lost(conn, limits)
            elif op == "expire":
                plan = policy.expire(conn, now, limits)
            else:
                policy.cancel(f"w{pick}")
                continue
        for _, new in plan.open:
            policy.connected(new)
            conns.append(new)
        handed = [c for _, c in plan.use]
        assert all(c.state is ConnState.ACTIVE for c in handed)
        assert all(c.state is ConnState.CLOSED for c in plan.close)
        for k in (A, B):
            idle = policy.idle_connections(k)
            assert len(idle) <= max_idle
            assert all(c.state is ConnState.IDLE for c in idle)
            live = [c for c in conns if c.key == k and c.state is not ConnState.CLOSED]
            if max_per_host is not None:
                assert len(live) <= max_per_host
        stats = policy.statistics()
        live_all = [c for c in conns if c.state is not ConnState.CLOSED]
        assert stats.idle + stats.active + stats.connecting == len(live_all)
