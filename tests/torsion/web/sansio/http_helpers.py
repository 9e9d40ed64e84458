"""Helpers of the HTTP/1.1 core tests: a client and a server joined in memory.

``ConnectionPair`` sends events through one side, moves the bytes to the other (whole,
or split as the test asks) and returns what the other side parsed. ``drain`` and
``normalize`` turn a side's output into a list that compares well: adjacent ``Data``
merged, since how a body is cut depends on how its bytes arrived.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from torsion.web.sansio import (
    NEED_DATA,
    PAUSED,
    Connection,
    ConnectionClosed,
    Data,
    Event,
    Role,
    Sentinel,
)

__all__ = ["ConnectionPair", "drain", "drain_until_closed", "feed", "normalize", "split_at"]


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """``data`` cut at the given offsets (sorted, clipped, duplicates ignored)."""
    points = sorted({min(max(c, 0), len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points) if b > a]


def drain(conn: Connection) -> list[Event | Sentinel]:
    """Every event ``conn`` can parse now, up to NEED_DATA, PAUSED or ConnectionClosed."""
    out: list[Event | Sentinel] = []
    while True:
        event = conn.next_event()
        out.append(event)
        if event is NEED_DATA or event is PAUSED or isinstance(event, ConnectionClosed):
            return out
        if len(out) > 10_000:  # pragma: no cover - a parser that never stops is a bug
            raise AssertionError("next_event does not stop")


def feed(conn: Connection, pieces: Sequence[bytes]) -> list[Event | Sentinel]:
    """Feed the pieces one by one, draining after each; sentinels between them dropped."""
    out: list[Event | Sentinel] = []
    for piece in pieces:
        conn.receive_data(piece)
        out.extend(e for e in drain(conn) if not isinstance(e, Sentinel))
    return out


def normalize(events: Iterable[Event | Sentinel]) -> list[Event]:
    """Events without sentinels, adjacent Data merged and chunk flags cleared."""
    out: list[Event] = []
    for event in events:
        if isinstance(event, Sentinel):
            continue
        if isinstance(event, Data):
            if event.data:
                if out and isinstance(out[-1], Data):
                    out[-1] = Data(out[-1].data + event.data)
                else:
                    out.append(Data(bytes(event.data)))
            continue
        out.append(event)
    return out


class ConnectionPair:
    """A client and a server Connection, and the link between them.

    Example::

        pair = ConnectionPair()
        got = pair.send(Role.CLIENT, [Request(...), EndOfMessage()])   # what the server parsed
    """

    def __init__(self, **limits: int) -> None:
        self.client = Connection(Role.CLIENT, **limits)
        self.server = Connection(Role.SERVER, **limits)
        self.wire: dict[Role, list[bytes]] = {Role.CLIENT: [], Role.SERVER: []}

    def side(self, role: Role) -> Connection:
        return self.client if role is Role.CLIENT else self.server

    def send(
        self,
        role: Role,
        events: Event | Sequence[Event],
        *,
        cuts: Iterable[int] = (),
    ) -> list[Event]:
        """Send ``events`` from ``role``; return what the other side parsed (no sentinels)."""
        if not isinstance(events, Sequence):
            events = [events]
        sender = self.side(role)
        data = b"".join(sender.send(event) for event in events)
        self.wire[role].append(data)
        receiver = self.side(role.peer)
        return normalize(feed(receiver, split_at(data, cuts)))

    def close(self, role: Role) -> list[Event | Sentinel]:
        """``role`` closes: the other side receives EOF; return what it parsed."""
        receiver = self.side(role.peer)
        receiver.receive_data(b"")
        return drain_until_closed(receiver)

    def cycle(self) -> None:
        """Both sides start the next cycle."""
        self.client.start_next_cycle()
        self.server.start_next_cycle()


def drain_until_closed(conn: Connection) -> list[Event | Sentinel]:
    """Events after EOF, up to the first ConnectionClosed, NEED_DATA or PAUSED."""
    out: list[Event | Sentinel] = []
    while True:
        event = conn.next_event()
        out.append(event)
        if isinstance(event, (Sentinel, ConnectionClosed)):
            return out
