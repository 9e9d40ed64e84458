"""LocalSlots under random acquire/release/cancel sequences (hypothesis.stateful).

Invariants after every step: caps never exceeded, no free global slot while an
eligible ticket waits, FIFO among eligible tickets, positions exactly 1..n in
arrival order, stats matching; at teardown, after everything is released or
cancelled, nothing is left.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from dlserver.queues import LocalSlots, Slot, Ticket
from torsion.defer import CancelledError
from torsion.failure import Failure

CLIENTS = ["a", "b", "c", "d"]


@dataclass
class Entry:
    order: int
    client: str
    ticket: Ticket
    slot: Slot | None = None
    cancelled: bool = False
    done: bool = False  # released, or cancelled while waiting


class SlotsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.slots: LocalSlots | None = None
        self.entries: list[Entry] = []
        self.granted_last_step: list[Entry] = []

    @precondition(lambda self: self.slots is None)
    @rule(g=st.integers(1, 4), c=st.integers(1, 3))
    def create(self, g: int, c: int) -> None:
        self.slots = LocalSlots(g, c)
        self.g, self.c = g, c

    def _watch(self, entry: Entry) -> None:
        def on_grant(slot: Slot) -> None:
            entry.slot = slot
            self.granted_last_step.append(entry)

        def on_cancel(failure: Failure) -> None:
            failure.trap(CancelledError)
            entry.cancelled = True

        entry.ticket.granted.addCallbacks(on_grant, on_cancel)

    @precondition(lambda self: self.slots is not None)
    @rule(client=st.sampled_from(CLIENTS))
    def acquire(self, client: str) -> None:
        assert self.slots is not None
        self.granted_last_step = []
        order = len(self.entries)
        entry = Entry(order, client, self.slots.acquire(client, f"item{order}"))
        self.entries.append(entry)
        self._watch(entry)

    def _live(self, active: bool) -> list[Entry]:
        return [e for e in self.entries if not e.done and (e.slot is not None) == active]

    @precondition(lambda self: any(not e.done and e.slot is not None for e in self.entries))
    @rule(data=st.data(), via_cancel=st.booleans())
    def release(self, data: st.DataObject, via_cancel: bool) -> None:
        entry = data.draw(st.sampled_from(self._live(active=True)))
        self.granted_last_step = []
        entry.done = True
        assert entry.slot is not None
        if via_cancel:
            entry.ticket.cancel()
        else:
            entry.slot.release()
        assert entry.slot.released

    @precondition(lambda self: any(not e.done and e.slot is None for e in self.entries))
    @rule(data=st.data(), via_deferred=st.booleans())
    def cancel_waiting(self, data: st.DataObject, via_deferred: bool) -> None:
        entry = data.draw(st.sampled_from(self._live(active=False)))
        self.granted_last_step = []
        if via_deferred:
            entry.ticket.granted.cancel()
        else:
            entry.ticket.cancel()
        assert entry.cancelled and entry.slot is None
        entry.done = True
        # a waiter leaving frees no slot: nobody is granted
        assert self.granted_last_step == []

    def _active_per_client(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self._live(active=True):
            counts[e.client] = counts.get(e.client, 0) + 1
        return counts

    @invariant()
    def caps_hold(self) -> None:
        if self.slots is None:
            return
        per_client = self._active_per_client()
        assert sum(per_client.values()) <= self.g
        assert all(n <= self.c for n in per_client.values())

    @invariant()
    def work_conserving_and_fifo(self) -> None:
        if self.slots is None:
            return
        per_client = self._active_per_client()
        waiting = self._live(active=False)
        if sum(per_client.values()) < self.g:
            # a free global slot: every waiter must be blocked by its own cap
            assert all(per_client.get(e.client, 0) >= self.c for e in waiting)
        for g in self.granted_last_step:
            for w in waiting:
                if w.order < g.order:
                    # an earlier waiter was passed: only allowed if self-blocked
                    assert per_client.get(w.client, 0) >= self.c

    @invariant()
    def positions_consistent(self) -> None:
        if self.slots is None:
            return
        waiting = self._live(active=False)
        assert [e.ticket.position() for e in waiting] == list(range(1, len(waiting) + 1))
        assert all(e.ticket.position() == 0 for e in self.entries if e not in waiting)
        for client in CLIENTS:
            expected = [i for i, e in enumerate(waiting, 1) if e.client == client]
            assert self.slots.positions_for(client) == expected

    @invariant()
    def stats_match(self) -> None:
        if self.slots is None:
            return
        stats = self.slots.stats()
        assert stats.active == len(self._live(active=True))
        assert stats.waiting == len(self._live(active=False))
        for client, counts in stats.clients.items():
            assert counts.active == self._active_per_client().get(client, 0)
            assert counts.waiting == sum(1 for e in self._live(False) if e.client == client)
            assert counts.active + counts.waiting > 0

    def teardown(self) -> None:
        if self.slots is None:
            return
        # Release everything, waiting or not, in arrival order: no leak.
        for e in self.entries:
            e.ticket.cancel()
            if e.slot is not None:
                e.slot.release()
        stats = self.slots.stats()
        assert (stats.active, stats.waiting, dict(stats.clients)) == (0, 0, {})
        assert self.slots._tickets == {}
        assert all(e.slot is not None or e.cancelled for e in self.entries)


SlotsMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestSlotsMachine = SlotsMachine.TestCase
