"""LocalSlots: caps, the FIFO queue, the per-client skip rule, cancel and release.

No reactor: every Deferred fires synchronously inside the call that decided it.
"""

from __future__ import annotations

import pytest

from dlserver.queues import ClientCounts, LocalSlots, Slot, SlotManager, Ticket
from torsion.defer import CancelledError
from torsion.testing import assert_no_result, failure_result_of, success_result_of


def granted(ticket: Ticket) -> Slot:
    return success_result_of(ticket.granted)


def test_below_both_caps_granted_at_once() -> None:
    """A request below both caps is granted before acquire returns, at position 0."""
    slots = LocalSlots(global_limit=2, per_client_limit=2)
    ticket = slots.acquire("alice", "album/1.zip")
    slot = granted(ticket)
    assert ticket.position() == 0
    assert (slot.client_id, slot.item, slot.released) == ("alice", "album/1.zip", False)
    assert isinstance(slots, SlotManager)
    stats = slots.stats()
    assert (stats.active, stats.waiting) == (1, 0)
    assert stats.clients == {"alice": ClientCounts(active=1, waiting=0)}


def test_global_cap_queues_in_order_and_release_grants_in_the_same_call() -> None:
    """Above the global cap tickets wait with positions 1, 2; a release grants the first."""
    slots = LocalSlots(global_limit=1, per_client_limit=5)
    first = granted(slots.acquire("a", "x"))
    second = slots.acquire("b", "y")
    third = slots.acquire("c", "z")
    assert_no_result(second.granted)
    assert (second.position(), third.position()) == (1, 2)
    first.release()
    # granted before release() returned: no reactor turn needed
    assert granted(second).client_id == "b"
    assert (second.position(), third.position()) == (0, 1)
    assert_no_result(third.granted)


def test_waiter_blocked_by_its_own_cap_does_not_block_others() -> None:
    """A ticket blocked only by its client's cap is passed by eligible tickets behind it."""
    slots = LocalSlots(global_limit=3, per_client_limit=1)
    a1 = granted(slots.acquire("a", "1"))
    a2 = slots.acquire("a", "2")  # blocked by a's cap
    b1 = slots.acquire("b", "1")  # passes a2
    c1 = slots.acquire("c", "1")  # passes a2: global now full
    d1 = slots.acquire("d", "1")
    granted(b1), granted(c1)
    assert (a2.position(), d1.position()) == (1, 2)
    granted(b1).release()  # a2 is still blocked: d1 goes
    assert granted(d1).client_id == "d"
    assert_no_result(a2.granted)
    a1.release()  # a has room again: a2 goes
    assert granted(a2).item == "2"


def test_blocked_waiter_goes_first_when_its_client_has_room() -> None:
    """Once its client has room, the earlier ticket is served before later eligible ones."""
    slots = LocalSlots(global_limit=2, per_client_limit=1)
    a1 = granted(slots.acquire("a", "1"))
    granted(slots.acquire("b", "1"))
    a2 = slots.acquire("a", "2")
    c1 = slots.acquire("c", "1")
    assert (a2.position(), c1.position()) == (1, 2)
    a1.release()
    granted(a2)
    assert_no_result(c1.granted)
    assert c1.position() == 1


def test_new_request_may_pass_waiters_blocked_by_their_own_caps() -> None:
    """With a free global slot and only self-blocked waiters, a newcomer is granted at once."""
    slots = LocalSlots(global_limit=3, per_client_limit=1)
    granted(slots.acquire("a", "1"))
    a2 = slots.acquire("a", "2")
    newcomer = slots.acquire("b", "1")
    granted(newcomer)
    assert a2.position() == 1


def test_cancel_while_waiting_leaves_the_queue_without_reordering() -> None:
    """Cancel: granted fails with CancelledError; those behind move up, order kept."""
    slots = LocalSlots(global_limit=1, per_client_limit=1)
    holder = granted(slots.acquire("a", "1"))
    waiting = [slots.acquire(name, "x") for name in "bcde"]
    waiting[1].cancel()
    failure_result_of(waiting[1].granted, CancelledError)
    assert [t.position() for t in waiting] == [1, 0, 2, 3]
    assert slots.stats().waiting == 3
    waiting[1].cancel()  # again: nothing
    holder.release()
    assert granted(waiting[0]).client_id == "b"
    assert [t.position() for t in waiting] == [0, 0, 1, 2]


def test_cancelling_the_granted_deferred_is_cancel() -> None:
    """ticket.granted.cancel() leaves the queue just like ticket.cancel()."""
    slots = LocalSlots(global_limit=1, per_client_limit=1)
    holder = granted(slots.acquire("a", "1"))
    waiter = slots.acquire("b", "1")
    later = slots.acquire("c", "1")
    waiter.granted.cancel()
    failure_result_of(waiter.granted, CancelledError)
    assert later.position() == 1
    holder.release()
    granted(later)


def test_cancel_after_grant_frees_the_slot_at_once() -> None:
    """A client leaving mid-download: cancel() releases its slot, the next waiter starts."""
    slots = LocalSlots(global_limit=1, per_client_limit=1)
    running = slots.acquire("a", "1")
    slot = granted(running)
    waiter = slots.acquire("b", "1")
    running.cancel()
    assert slot.released
    granted(waiter)
    running.cancel()
    slot.release()  # all idempotent: nothing more is freed
    assert slots.stats().active == 1


def test_release_twice_frees_one_slot() -> None:
    """A second release does not free a second slot."""
    slots = LocalSlots(global_limit=1, per_client_limit=1)
    slot = granted(slots.acquire("a", "1"))
    b = slots.acquire("b", "1")
    c = slots.acquire("c", "1")
    slot.release()
    slot.release()
    granted(b)
    assert_no_result(c.granted)


def test_callbacks_may_reenter() -> None:
    """A grant callback that releases at once chains to the next waiter, state consistent."""
    slots = LocalSlots(global_limit=1, per_client_limit=1)
    first = granted(slots.acquire("a", "1"))
    seen: list[str] = []
    tickets = [slots.acquire(name, "x") for name in "bcd"]

    def record_and_release(slot: Slot) -> None:
        seen.append(slot.client_id)
        slot.release()

    for ticket in tickets[:2]:
        ticket.granted.addCallback(record_and_release)
    first.release()
    assert seen == ["b", "c"]
    assert granted(tickets[2]).client_id == "d"
    assert (slots.stats().active, slots.stats().waiting) == (1, 0)


def test_positions_for_and_stats() -> None:
    """positions_for lists a client's places ascending; stats counts every client."""
    slots = LocalSlots(global_limit=1, per_client_limit=1)
    granted(slots.acquire("a", "1"))
    slots.acquire("b", "1")
    slots.acquire("a", "2")
    slots.acquire("b", "2")
    assert slots.positions_for("b") == [1, 3]
    assert slots.positions_for("a") == [2]
    assert slots.positions_for("nobody") == []
    stats = slots.stats()
    assert (stats.active, stats.waiting, stats.global_limit, stats.per_client_limit) == (
        1,
        3,
        1,
        1,
    )
    assert stats.clients == {"a": ClientCounts(1, 1), "b": ClientCounts(0, 2)}


def test_everything_released_leaves_nothing() -> None:
    """After all releases and cancels, no counts and no tickets are left behind."""
    slots = LocalSlots(global_limit=2, per_client_limit=1)
    tickets = [slots.acquire(c, "x") for c in "aabbc"]
    for t in tickets:
        t.granted.addErrback(lambda f: f.trap(CancelledError))
    for t in reversed(tickets):
        t.cancel()
    stats = slots.stats()
    assert (stats.active, stats.waiting, dict(stats.clients)) == (0, 0, {})
    assert slots._tickets == {}


@pytest.mark.parametrize(("g", "c"), [(0, 1), (1, 0), (-1, 3)])
def test_limits_must_be_positive(g: int, c: int) -> None:
    """A cap below 1 is refused with a message naming it."""
    with pytest.raises(ValueError, match="limit must be >= 1"):
        LocalSlots(g, c)
