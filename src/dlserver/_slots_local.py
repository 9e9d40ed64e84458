"""In-process download slots: :class:`SlotQueue` decisions fired as Deferreds.

No reactor and no clock: every Deferred fires synchronously, inside the call
that decided it (``acquire``, ``release`` or ``cancel``), after the queue's
state is final, so callbacks may call back into the manager.
"""

from __future__ import annotations

from dlserver._slots_core import (
    OnceReleasedSlot,
    Slot,
    SlotManager,
    SlotQueue,
    SlotStats,
    Ticket,
)
from torsion.defer import Deferred

__all__ = ["LocalSlots"]


class _LocalSlot(OnceReleasedSlot):
    def __init__(self, manager: LocalSlots, ticket_id: int, client_id: str, item: str) -> None:
        super().__init__(client_id, item)
        self._manager = manager
        self._id = ticket_id

    def _give_back(self) -> None:
        self._manager._remove(self._id)

    def __repr__(self) -> str:
        state = "released" if self._released else "active"
        return f"<Slot #{self._id} {self.client_id!r} {self.item!r} {state}>"


class _LocalTicket(Ticket):
    def __init__(self, manager: LocalSlots, ticket_id: int, client_id: str, item: str) -> None:
        self._manager = manager
        self._id = ticket_id
        self.client_id = client_id
        self.item = item
        self.slot: _LocalSlot | None = None
        self._cancelled = False
        self.granted = Deferred(self._cancel_waiting)

    def position(self) -> int:
        return self._manager._queue.position(self._id)

    def cancel(self) -> None:
        if self.slot is not None:
            self.slot.release()
        elif not self._cancelled:
            self.granted.cancel()

    def _cancel_waiting(self, d: Deferred[Slot]) -> None:
        # The canceller of ``granted``: only reached while still waiting.
        self._cancelled = True
        self._manager._remove(self._id)

    def _grant(self) -> None:
        self.slot = _LocalSlot(self._manager, self._id, self.client_id, self.item)
        self.granted.callback(self.slot)

    def __repr__(self) -> str:
        return f"<Ticket #{self._id} {self.client_id!r} {self.item!r} at {self.position()}>"


class LocalSlots(SlotManager):
    """Download slots for one process; see :mod:`dlserver.queues` for the policy.

    Args:
        global_limit: At most this many downloads run at once (>= 1).
        per_client_limit: At most this many per client (>= 1).

    Raises:
        ValueError: A limit is below 1.
    """

    def __init__(self, global_limit: int, per_client_limit: int) -> None:
        self._queue = SlotQueue(global_limit, per_client_limit)
        self._tickets: dict[int, _LocalTicket] = {}

    def acquire(self, client_id: str, item: str) -> Ticket:
        """Queue a request; its ``granted`` has already fired if both caps allowed it."""
        ticket_id, granted = self._queue.enqueue(client_id)
        ticket = _LocalTicket(self, ticket_id, client_id, item)
        self._tickets[ticket_id] = ticket
        self._fire(granted)
        return ticket

    def stats(self) -> SlotStats:
        """Return the counts, exact at the time of the call."""
        return self._queue.stats()

    def positions_for(self, client_id: str) -> list[int]:
        """Return the positions of ``client_id``'s waiting tickets, ascending."""
        return self._queue.positions_for(client_id)

    def _remove(self, ticket_id: int) -> None:
        granted = self._queue.remove(ticket_id)
        self._tickets.pop(ticket_id, None)
        self._fire(granted)

    def _fire(self, granted: list[int]) -> None:
        # State is final before any callback runs; a callback that releases or
        # acquires re-enters with a consistent queue.
        for ticket_id in granted:
            ticket = self._tickets[ticket_id]
            ticket._grant()

    def __repr__(self) -> str:
        s = self._queue.stats()
        return (
            f"<LocalSlots active={s.active}/{s.global_limit} waiting={s.waiting} "
            f"per_client={s.per_client_limit}>"
        )
