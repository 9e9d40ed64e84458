"""The download queue's contract and its policy, with no Deferreds and no I/O.

:class:`SlotQueue` decides who may download; :mod:`dlserver._slots_local` and
:mod:`dlserver._redis_slots` turn its decisions into Deferreds.  The same
policy is written a second time in Lua for Redis (``_slots_lua``); the tests
hold both to this one.

The policy, precisely:

* Every request gets a ticket id from one increasing sequence and waits in
  one global FIFO queue.
* A waiting ticket is *eligible* when its client holds fewer than
  ``per_client_limit`` active slots.
* Whenever fewer than ``global_limit`` slots are active, the earliest eligible
  ticket in the queue is granted, again and again until the global cap is
  reached or no waiting ticket is eligible.  So after every operation: either
  the global cap is reached, or every waiting ticket is blocked by its own
  client's cap.
* Hence strict FIFO among eligible tickets, and FIFO within each client; a
  ticket blocked only by its own client's cap is passed by the tickets behind
  it (a greedy client cannot hold the queue up for everybody else), and it
  goes first as soon as its client has room and a global slot frees.
* A position is the 1-based place in the global queue, counting every waiting
  ticket ahead, eligible or not; positions of the waiting tickets are always
  exactly ``1..waiting``.  Leaving the queue (grant or cancel) moves everyone
  behind up by one and changes nobody's order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from torsion.defer import Deferred

__all__ = [
    "ClientCounts",
    "LeaseLostError",
    "OnceReleasedSlot",
    "Slot",
    "SlotBackendError",
    "SlotManager",
    "SlotQueue",
    "SlotStats",
    "SlotsError",
    "Ticket",
    "check_limits",
]


class SlotsError(Exception):
    """Root of the download queue's errors."""


class SlotBackendError(SlotsError):
    """The shared store (Redis) cannot be reached or refused a command."""


class LeaseLostError(SlotsError):
    """A ticket's lease expired in the shared store (its heartbeat stopped for too long)."""


@dataclass(frozen=True, slots=True)
class ClientCounts:
    """One client's share of the queue.

    Attributes:
        active: Slots the client holds (downloads running).
        waiting: Tickets the client has in the queue.
    """

    active: int
    waiting: int


@dataclass(frozen=True, slots=True)
class SlotStats:
    """A snapshot of a slot manager, for metrics and the status page.

    Attributes:
        active: Slots held, all clients together.
        waiting: Tickets waiting, all clients together.
        global_limit: The global cap on active slots.
        per_client_limit: The per-client cap on active slots.
        clients: Counts of every client that holds or waits for a slot.
    """

    active: int
    waiting: int
    global_limit: int
    per_client_limit: int
    clients: Mapping[str, ClientCounts] = field(default_factory=dict)


class Slot(ABC):
    """The right to run one download; hold it until the download ends.

    Attributes:
        client_id: The client it was granted to.
        item: What the client downloads (for logs and the status page).
    """

    client_id: str
    item: str

    @property
    @abstractmethod
    def released(self) -> bool:
        """True once :meth:`release` was called."""

    @abstractmethod
    def release(self) -> None:
        """Give the slot back (the download finished or was aborted).

        The next eligible waiter is granted at once (``LocalSlots``: before
        this returns; ``RedisSlots``: as soon as Redis answers).  Calling it
        again does nothing.
        """


class OnceReleasedSlot(Slot):
    """A :class:`Slot` whose first :meth:`release` calls :meth:`_give_back`, later ones nothing.

    The backends differ only in how a slot goes back to its queue.
    """

    def __init__(self, client_id: str, item: str) -> None:
        self.client_id = client_id
        self.item = item
        self._released = False

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        self._give_back()

    @abstractmethod
    def _give_back(self) -> None:
        """Return the slot to the backend's queue (runs once)."""


class Ticket(ABC):
    """A place in the download queue.

    Attributes:
        client_id: The client asking.
        item: What the client wants to download.
        granted: Fires with the :class:`Slot` when the download may start
            (at once if both caps allow it); fails with
            ``torsion.defer.CancelledError`` if the ticket is cancelled while
            waiting, or with a :class:`SlotsError` if the backend fails.
            Cancelling this Deferred is the same as :meth:`cancel`.
    """

    client_id: str
    item: str
    granted: Deferred[Slot]

    @abstractmethod
    def position(self) -> int:
        """Return the 1-based place in the global queue; 0 once granted or cancelled."""

    @abstractmethod
    def cancel(self) -> None:
        """The client went away: leave the queue, or give the slot back if granted.

        While waiting, the ticket leaves the queue (nobody else's order
        changes) and ``granted`` fails with ``CancelledError``.  Once granted,
        this releases the slot.  Calling it again does nothing.
        """


class SlotManager(ABC):
    """Caps on concurrent downloads, per client and global, with a fair FIFO queue."""

    @abstractmethod
    def acquire(self, client_id: str, item: str) -> Ticket:
        """Ask for a download slot; see :class:`Ticket` for what comes back."""

    @abstractmethod
    def stats(self) -> SlotStats:
        """Return a snapshot of the caps, the counts and each client's share."""

    @abstractmethod
    def positions_for(self, client_id: str) -> list[int]:
        """Return the queue positions of ``client_id``'s waiting tickets, ascending."""


def check_limits(global_limit: int, per_client_limit: int) -> None:
    """Raise ``ValueError`` unless both caps are at least 1."""
    if global_limit < 1:
        raise ValueError(f"global_limit must be >= 1, not {global_limit}")
    if per_client_limit < 1:
        raise ValueError(f"per_client_limit must be >= 1, not {per_client_limit}")


class SlotQueue:
    """The queue policy (module docstring) over plain ticket ids: decide, never act.

    Every changing method returns the ids it granted, in grant order; the
    caller fires whatever those grants mean after the state is final.
    """

    def __init__(self, global_limit: int, per_client_limit: int) -> None:
        check_limits(global_limit, per_client_limit)
        self.global_limit = global_limit
        self.per_client_limit = per_client_limit
        self._next_id = 1
        # dicts keep insertion order: ids are added in increasing order, so
        # iterating _waiting is the FIFO order, and removal is O(1).
        self._waiting: dict[int, str] = {}
        self._active: dict[int, str] = {}
        self._client_active: Counter[str] = Counter()
        self._client_waiting: Counter[str] = Counter()

    def enqueue(self, client_id: str) -> tuple[int, list[int]]:
        """Queue a new ticket for ``client_id``; return its id and the ids granted."""
        ticket = self._next_id
        self._next_id += 1
        self._waiting[ticket] = client_id
        self._client_waiting[client_id] += 1
        return ticket, self._grant()

    def remove(self, ticket: int) -> list[int]:
        """Drop ``ticket`` (waiting or active; unknown ids are ignored); return the grants."""
        client = self._waiting.pop(ticket, None)
        if client is not None:
            _decrement(self._client_waiting, client)
            # A waiter leaving can unblock nobody: the caps are unchanged.
            return []
        client = self._active.pop(ticket, None)
        if client is None:
            return []
        _decrement(self._client_active, client)
        return self._grant()

    def _grant(self) -> list[int]:
        granted: list[int] = []
        while len(self._active) < self.global_limit:
            chosen = self._first_eligible()
            if chosen is None:
                break
            client = self._waiting.pop(chosen)
            _decrement(self._client_waiting, client)
            self._active[chosen] = client
            self._client_active[client] += 1
            granted.append(chosen)
        return granted

    def _first_eligible(self) -> int | None:
        # Linear in the waiters ahead that are blocked by their own caps;
        # queues of a download server are short enough for that.
        for ticket, client in self._waiting.items():
            if self._client_active[client] < self.per_client_limit:
                return ticket
        return None

    def is_waiting(self, ticket: int) -> bool:
        """Return whether ``ticket`` is in the queue."""
        return ticket in self._waiting

    def is_active(self, ticket: int) -> bool:
        """Return whether ``ticket`` holds a slot."""
        return ticket in self._active

    def position(self, ticket: int) -> int:
        """Return the 1-based queue place of ``ticket``, 0 if it is not waiting."""
        if ticket not in self._waiting:
            return 0
        for place, other in enumerate(self._waiting, start=1):
            if other == ticket:
                return place
        raise AssertionError("unreachable: the ticket is in _waiting")  # pragma: no cover

    def positions_for(self, client_id: str) -> list[int]:
        """Return the queue places of ``client_id``'s waiting tickets, ascending."""
        return [
            place
            for place, client in enumerate(self._waiting.values(), start=1)
            if client == client_id
        ]

    def waiting_ids(self) -> list[int]:
        """Return the waiting ticket ids in queue order."""
        return list(self._waiting)

    def active_ids(self) -> list[int]:
        """Return the active ticket ids in grant order."""
        return list(self._active)

    def stats(self) -> SlotStats:
        """Return a snapshot of the counts."""
        clients = {
            client: ClientCounts(self._client_active[client], self._client_waiting[client])
            for client in sorted(set(self._client_active) | set(self._client_waiting))
        }
        return SlotStats(
            active=len(self._active),
            waiting=len(self._waiting),
            global_limit=self.global_limit,
            per_client_limit=self.per_client_limit,
            clients=clients,
        )


def _decrement(counter: Counter[str], key: str) -> None:
    # Counters drop zero entries so that stats list only clients with a share.
    counter[key] -= 1
    if counter[key] <= 0:
        del counter[key]
