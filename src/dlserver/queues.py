"""Download queues: caps on concurrent downloads per client and globally, fair FIFO waiting.

A request above a cap waits in one global FIFO queue instead of failing::

    slots = LocalSlots(global_limit=100, per_client_limit=2)   # or RedisSlots(...)
    ticket = slots.acquire(client_id, item="album/42.zip")
    if ticket.position():                      # 0: granted at once
        request.setHeader("X-Queue-Position", str(ticket.position()))
    slot = await ticket.granted                # the download may start
    try:
        ...                                    # send the file
    finally:
        slot.release()                         # the next waiter starts at once

When the client disconnects, ``ticket.cancel()`` frees its place (or its slot,
if granted) at once.

Fairness, precisely: every ticket waits in one global FIFO queue; a waiting
ticket is *eligible* while its client holds fewer than ``per_client_limit``
slots; whenever a global slot is free, the earliest eligible ticket gets it.
So eligible tickets are served strictly in arrival order, each client's
tickets in its own arrival order, and a ticket blocked only by its own
client's cap is passed by those behind it instead of holding them up; it
goes first as soon as its client has room again.  A position is the 1-based
place in the global queue (every waiting ticket ahead counts, eligible or
not): the waiting tickets' positions are always ``1..waiting``, and leaving
the queue moves those behind up by one without changing anybody's order.

Two implementations of :class:`SlotManager`:

* :class:`LocalSlots`: one process; Deferreds fire synchronously, in the call
  that decided them (a release grants the next waiter before it returns).
* :class:`RedisSlots`: queue and caps shared by every process and machine
  using one Redis server (``--redis URL``); a process that dies leaves its
  slots for ``lease_seconds`` at most.  Needs the ``redis`` package.
"""

from __future__ import annotations

from dlserver._redis_slots import RedisSlots
from dlserver._slots_core import (
    ClientCounts,
    LeaseLostError,
    Slot,
    SlotBackendError,
    SlotManager,
    SlotsError,
    SlotStats,
    Ticket,
)
from dlserver._slots_local import LocalSlots

__all__ = [
    "ClientCounts",
    "LeaseLostError",
    "LocalSlots",
    "RedisSlots",
    "Slot",
    "SlotBackendError",
    "SlotManager",
    "SlotStats",
    "SlotsError",
    "Ticket",
]
