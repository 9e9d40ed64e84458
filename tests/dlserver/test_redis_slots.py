"""RedisSlots against a real redis-server (Debian package redis-server) started per test.

The server listens on a UNIX socket in a private directory (``--port 0``: no
TCP port to pick or collide on).  Several RedisSlots in one test stand for
several processes; one test runs real child processes.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from dlserver._slots_core import SlotQueue
from dlserver._slots_redis_io import RedisStore
from dlserver.queues import (
    ClientCounts,
    RedisSlots,
    Slot,
    SlotBackendError,
    SlotsError,
    Ticket,
)
from torsion.defer import CancelledError, Deferred
from torsion.task import deferLater
from torsion.threads import deferToThreadPool

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(
    REDIS is None, reason="redis-server is not installed (Debian package: redis-server)"
)

# Fast leases for the tests: a crashed holder's slot is back within ~1.2 s.
FAST = {"lease_seconds": 1.0, "heartbeat_seconds": 0.2}


async def started(slots: RedisSlots) -> RedisSlots:
    await slots.start()
    return slots


def make(reactor: Any, url: str, g: int, c: int, **kw: Any) -> RedisSlots:
    return RedisSlots(url, g, c, reactor=reactor, namespace="t", **{**FAST, **kw})


async def answered(slots: RedisSlots) -> None:
    """Wait until every acquire sent so far was answered (the worker is FIFO)."""
    await slots.refresh()


def watch(ticket: Ticket) -> list[Any]:
    """Record the grant (or the failure) of ``ticket`` in a list."""
    seen: list[Any] = []
    ticket.granted.addCallbacks(seen.append, seen.append)
    return seen


async def wait_for(reactor: Any, condition: Any, timeout: float = 5.0) -> float:
    """Turn the reactor until ``condition()``; return how long it took."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, "condition not met in time"
        await deferLater(reactor, 0.005)
    return time.monotonic() - start


async def test_caps_and_fifo_across_two_processes(reactor: Any, redis_url: str) -> None:
    """Two managers share one global cap and one FIFO queue; a release wakes the other fast."""
    # Slow heartbeats: a wake-up that had to wait for one would take ~2 s.
    a = await started(make(reactor, redis_url, 2, 1, lease_seconds=10, heartbeat_seconds=2))
    b = await started(make(reactor, redis_url, 2, 1, lease_seconds=10, heartbeat_seconds=2))
    try:
        held_a = await a.acquire("c1", "x").granted
        held_b = await b.acquire("c2", "x").granted
        waits = []
        for slots, client in [(a, "c3"), (b, "c4"), (a, "c5")]:
            # across processes, queue order is the order of arrival at Redis
            waits.append(slots.acquire(client, "x"))
            await answered(slots)
        seen = [watch(t) for t in waits]
        await answered(a)  # refresh a's cached positions
        assert [t.position() for t in waits] == [1, 2, 3]
        assert not any(seen)
        stats = a.stats()
        assert (stats.active, stats.waiting) == (2, 3)
        assert stats.clients["c4"] == ClientCounts(0, 1)

        held_b.release()  # frees a slot in b: the first waiter is in a
        took = await wait_for(reactor, lambda: bool(seen[0]))
        assert took < 0.15, took  # pub/sub, not polling (typically a few ms)
        assert not seen[1] and not seen[2]
        held_a.release()  # frees a slot in a: the next waiter is in b
        took = await wait_for(reactor, lambda: bool(seen[1]))
        assert took < 0.15, took
        assert not seen[2]
        await b.refresh()
        assert b.stats().active == 2 and b.stats().waiting == 1
        for s in seen[:2]:
            s[0].release()
        await wait_for(reactor, lambda: bool(seen[2]))
        seen[2][0].release()
        await a.refresh()
        stats = a.stats()
        assert (stats.active, stats.waiting, dict(stats.clients)) == (0, 0, {})
    finally:
        await a.close()
        await b.close()


async def test_per_client_cap_is_shared_and_blocked_client_is_passed(
    reactor: Any, redis_url: str
) -> None:
    """A client's cap counts its slots in every process; others pass its blocked ticket."""
    a = await started(make(reactor, redis_url, 3, 1))
    b = await started(make(reactor, redis_url, 3, 1))
    try:
        first = await a.acquire("x", "1").granted
        blocked = b.acquire("x", "2")
        seen = watch(blocked)
        other = await b.acquire("y", "1").granted  # passes the blocked ticket
        await answered(b)
        assert blocked.position() == 1 and not seen
        assert b.positions_for("x") == [1]
        assert await a.query_positions("x") == [1]
        assert await a.query_positions("y") == []
        first.release()
        await wait_for(reactor, lambda: bool(seen))
        assert isinstance(seen[0], Slot) and seen[0].client_id == "x"
        other.release()
        seen[0].release()
    finally:
        await a.close()
        await b.close()


async def test_cancel_while_waiting_and_after_grant(reactor: Any, redis_url: str) -> None:
    """Cancel leaves the shared queue (those behind move up); after a grant it frees the slot."""
    a = await started(make(reactor, redis_url, 1, 1))
    b = await started(make(reactor, redis_url, 1, 1))
    try:
        running = a.acquire("c1", "x")
        await running.granted
        leaving = b.acquire("c2", "x")
        leaving.granted.addErrback(lambda f: f.trap(CancelledError))
        await answered(b)
        staying = a.acquire("c3", "x")
        await answered(a)
        assert staying.position() == 2
        leaving.cancel()
        assert leaving.position() == 0
        await b.refresh()  # b's release went before this heartbeat
        await a.refresh()
        assert staying.position() == 1
        seen = watch(staying)
        running.cancel()  # the client went away mid-download
        await wait_for(reactor, lambda: bool(seen))
        seen[0].release()
        stats = await a.refresh()
        assert (stats.active, stats.waiting) == (0, 0)
    finally:
        await a.close()
        await b.close()


async def test_cancel_before_redis_answers(reactor: Any, redis_url: str) -> None:
    """A ticket cancelled before its acquire is answered is given back once it is."""
    a = await started(make(reactor, redis_url, 1, 1))
    try:
        ticket = a.acquire("c1", "x")
        ticket.cancel()
        failure = None
        try:
            await ticket.granted
        except CancelledError as e:
            failure = e
        assert failure is not None
        await answered(a)
        stats = await a.refresh()
        assert (stats.active, stats.waiting) == (0, 0)
        assert (await a.acquire("c2", "y").granted).client_id == "c2"
    finally:
        await a.close()


async def test_crashed_process_slots_expire(reactor: Any, redis_url: str) -> None:
    """A process that stops heartbeating loses its slots after the lease; waiters go on."""
    crashed = await started(make(reactor, redis_url, 1, 1))
    alive = await started(make(reactor, redis_url, 1, 1))
    try:
        await crashed.acquire("c1", "x").granted
        waiter = alive.acquire("c2", "x")
        seen = watch(waiter)
        await answered(alive)
        crashed._halt()  # no release: as if killed
        start = time.monotonic()
        await wait_for(reactor, lambda: bool(seen), timeout=5.0)
        took = time.monotonic() - start
        assert isinstance(seen[0], Slot)
        assert 0.5 < took < 2.5, took  # lease 1 s, reaped at the next heartbeat
        seen[0].release()
    finally:
        await alive.close()


async def test_close_cancels_waiters_and_frees_slots(reactor: Any, redis_url: str) -> None:
    """close() fails waiting tickets, gives slots back, and refuses new acquires."""
    a = await started(make(reactor, redis_url, 1, 1))
    b = await started(make(reactor, redis_url, 1, 1))
    try:
        await a.acquire("c1", "x").granted
        waiting = a.acquire("c2", "x")
        seen = watch(waiting)
        await answered(a)
        other = b.acquire("c3", "x")
        got = watch(other)
        await answered(b)
        await a.close()
        assert seen and isinstance(seen[0].value, SlotsError)
        with pytest.raises(SlotsError, match="closed"):
            a.acquire("c4", "x")
        await wait_for(reactor, lambda: bool(got))
        got[0].release()
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize(
    "url",
    ["unix:///nonexistent/dir/redis.sock", "redis://127.0.0.1:1/0"],
)
async def test_unreachable_redis_is_a_clear_error(reactor: Any, url: str) -> None:
    """start() fails with SlotBackendError naming the server and what failed."""
    slots = RedisSlots(url, 1, 1, reactor=reactor)
    with pytest.raises(SlotBackendError, match="connecting failed") as caught:
        await slots.start()
    where = url.split("://", 1)[1].rsplit("/", 1)[0]  # host:port, or the socket's folder
    assert where in str(caught.value)
    with pytest.raises(SlotsError):
        slots.acquire("c", "x")


def test_bad_url_and_bad_settings(reactor: Any) -> None:
    """A non-Redis URL and inconsistent timings are refused at construction."""
    with pytest.raises(SlotBackendError, match="bad redis url"):
        RedisSlots("http://example.invalid/", 1, 1, reactor=reactor)
    with pytest.raises(ValueError, match="heartbeat_seconds"):
        RedisSlots(
            "redis://127.0.0.1:1", 1, 1, reactor=reactor, lease_seconds=1, heartbeat_seconds=2
        )
    with pytest.raises(ValueError, match="global_limit"):
        RedisSlots("redis://127.0.0.1:1", 0, 1, reactor=reactor)


async def test_acquire_needs_start_and_close_without_start(reactor: Any) -> None:
    """acquire() before start() is refused; close() of a manager never started is quick."""
    slots = RedisSlots("redis://127.0.0.1:1", 1, 1, reactor=reactor)
    with pytest.raises(SlotsError, match="start"):
        slots.acquire("c", "x")
    await slots.close()
    with pytest.raises(SlotsError, match="closed"):
        slots.acquire("c", "x")


def test_password_hidden_in_errors(reactor: Any) -> None:
    """The password of a URL never shows in messages."""
    slots = RedisSlots("redis://user:s3cret@127.0.0.1:1/0", 1, 1, reactor=reactor)
    assert "s3cret" not in repr(slots) and "***" in repr(slots)


def test_lua_matches_the_python_policy(redis_url: str) -> None:
    """Random acquire/remove sequences: the Lua scripts and SlotQueue agree at every step."""
    rng = random.Random(8)
    for run in range(25):
        g, c = rng.randint(1, 4), rng.randint(1, 3)
        model = SlotQueue(g, c)
        store = RedisStore(redis_url, f"diff{run}", g, c, 60_000, "owner")
        ids: dict[int, int] = {}  # model id -> redis id
        try:
            for _ in range(40):
                live = model.waiting_ids() + model.active_ids()
                if live and rng.random() < 0.45:
                    victim = rng.choice(live)
                    model.remove(victim)
                    assert store.release([ids.pop(victim)]) == 1
                else:
                    client = rng.choice("abcd")
                    mine, _ = model.enqueue(client)
                    ids[mine], place = store.acquire(client)
                    assert place == model.position(mine)
                reply = store.heartbeat([ids[m] for m in ids])
                assert reply.states == [model.position(m) for m in ids]
                assert reply.stats == model.stats()
        finally:
            store.close()


CHILD = """
import sys
from torsion.defer import Deferred
from torsion.task import react
from dlserver.queues import RedisSlots

async def main(reactor, url, client, mode):
    slots = RedisSlots(url, 1, 1, reactor=reactor, namespace="t",
                       lease_seconds=1.0, heartbeat_seconds=0.2)
    await slots.start()
    ticket = slots.acquire(client, "item")
    await slots.refresh()
    print("queued", ticket.position(), flush=True)
    slot = await ticket.granted
    print("granted", flush=True)
    if mode == "hold":
        await Deferred()
    slot.release()
    await slots.close()

react(lambda reactor, *argv: Deferred.fromCoroutine(main(reactor, *argv)), sys.argv[1:])
"""


async def test_real_processes_fifo_and_crash(reactor: Any, redis_url: str, tmp_path: Path) -> None:
    """Child processes queue in order; a SIGKILLed holder's slot comes back after its lease."""
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    parent = await started(make(reactor, redis_url, 1, 1))
    children: list[subprocess.Popen[str]] = []

    def spawn(client: str, mode: str) -> subprocess.Popen[str]:
        child = subprocess.Popen(
            [sys.executable, str(script), redis_url, client, mode],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )
        children.append(child)
        return child

    def line(child: subprocess.Popen[str]) -> Deferred[str]:
        assert child.stdout is not None
        return deferToThreadPool(reactor, reactor.getThreadPool(), child.stdout.readline)

    try:
        held = await parent.acquire("p", "x").granted
        holder = spawn("c1", "hold")
        assert (await line(holder)).split() == ["queued", "1"]
        releaser = spawn("c2", "release")
        assert (await line(releaser)).split() == ["queued", "2"]
        held.release()
        assert (await line(holder)).strip() == "granted"  # first in, first served
        second = line(releaser)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        start = time.monotonic()
        assert (await second).strip() == "granted"
        assert time.monotonic() - start < 3.0
        assert await deferToThreadPool(reactor, reactor.getThreadPool(), releaser.wait) == 0
        stats = await parent.refresh()
        assert (stats.active, stats.waiting) == (0, 0)
        assert (await parent.acquire("p", "y").granted).item == "y"
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
            assert child.stdout is not None
            child.stdout.close()
        await parent.close()
