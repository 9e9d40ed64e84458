"""Download events: a versioned JSON datagram schema, and a UDP emitter that never blocks.

Every download sends ``started`` and then ``finished`` or ``aborted`` to a log
collector (:mod:`dlserver.logserver`).  One event is one UDP datagram of
compact JSON, at most :data:`MAX_DATAGRAM` bytes (under the 1280-byte IPv6
minimum MTU, so it is never fragmented)::

    {"v":1,"e":"finished","id":"d-81f2","ik":"album","iid":"42","c":"203.0.113.9",
     "b":73400320,"d":12.5,"s":200,"t":1700000000.25,"p":4242}

=====  ===============================================  ==========================
key    field                                            type
=====  ===============================================  ==========================
v      schema version, 1                                int
e      event kind: started, finished, aborted           str
id     download id                                      str, <= 128 bytes
ik     item kind: track, album, zip                     str
iid    item id                                          str, <= 256 bytes
c      client address                                   str, <= 128 bytes
b      bytes sent so far                                int >= 0
d      duration so far, seconds                         float >= 0
s      HTTP status (0 before one is chosen)             int
t      timestamp, seconds since the epoch (UTC)         float
p      pid of the worker that served it                 int
=====  ===============================================  ==========================

Longer strings are cut (on a character boundary) to their limit, so any event
encodes within the bound.  Readers ignore keys they do not know, so version 1
can grow optional keys; an incompatible change bumps ``v``.

:class:`EventEmitter` sends them from a reactor's UDP port.  Telemetry must
never hurt a download: ``emit`` neither blocks nor raises; a datagram that
cannot be sent is counted in ``dropped`` and forgotten.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import math
import os
import socket
import time
from collections.abc import Callable
from typing import Any, Protocol

from torsion.defer import Deferred, succeed
from torsion.metrics import Counter, Registry
from torsion.protocol import DatagramProtocol

__all__ = [
    "MAX_DATAGRAM",
    "SCHEMA_VERSION",
    "DownloadEvent",
    "EmitterStats",
    "EventEmitter",
    "EventError",
    "EventKind",
    "ItemKind",
    "decode_event",
    "emitter_metrics",
    "encode_event",
]

#: The schema version written in ``"v"``.
SCHEMA_VERSION = 1
#: The largest datagram :func:`encode_event` produces.
MAX_DATAGRAM = 1200

# Limits on string fields, as UTF-8 bytes of their JSON spelling.  Their sum plus the
# fixed keys and the widest numbers stays well under MAX_DATAGRAM (a test checks).
_LIMITS = {"id": 128, "iid": 256, "c": 128}
_MAX_INT = 2**63 - 1  # SQLite's INTEGER, where the collector stores them

_log = logging.getLogger("dlserver.events")


class EventError(ValueError):
    """A datagram is not a valid download event (of a version we read)."""


class EventKind(enum.Enum):
    """What happened to a download."""

    STARTED = "started"
    FINISHED = "finished"
    ABORTED = "aborted"


class ItemKind(enum.Enum):
    """What is being downloaded."""

    TRACK = "track"
    ALBUM = "album"
    ZIP = "zip"


@dataclasses.dataclass(frozen=True, slots=True)
class DownloadEvent:
    """One event of one download.

    Attributes:
        kind: started, finished or aborted.
        download_id: identifies the download across its events.
        item_kind: track, album or zip.
        item_id: the catalog id of the item.
        client: the client's address (as the server saw it).
        bytes_sent: body bytes sent so far.
        duration: seconds since the download started.
        status: the HTTP status (0 when not chosen yet).
        timestamp: seconds since the epoch.
        pid: the worker process that served it.
    """

    kind: EventKind
    download_id: str
    item_kind: ItemKind
    item_id: str
    client: str
    bytes_sent: int = 0
    duration: float = 0.0
    status: int = 0
    timestamp: float = 0.0
    pid: int = 0


def _fit(text: str, limit: int) -> str:
    """The longest prefix of ``text`` whose JSON spelling fits in ``limit`` bytes."""

    def size(part: str) -> int:
        return len(json.dumps(part, ensure_ascii=False).encode("utf-8", "surrogatepass"))

    if size(text) <= limit:
        return text
    # Each character takes at least one byte, so the answer is within the first `limit`.
    low, high = 0, min(len(text), limit)
    while low < high:  # the largest n with size(text[:n]) <= limit
        middle = (low + high + 1) // 2
        if size(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return text[:low]


def _clean_int(value: int, low: int = 0) -> int:
    return min(max(int(value), low), _MAX_INT)


def _clean_float(value: float) -> float:
    return float(value) if math.isfinite(value) and value >= 0 else 0.0


def encode_event(event: DownloadEvent) -> bytes:
    """The event as one datagram of at most :data:`MAX_DATAGRAM` bytes.

    Long strings are cut to their limits; negative or non-finite numbers become 0,
    so that every event encodes.
    """
    record = {
        "v": SCHEMA_VERSION,
        "e": event.kind.value,
        "id": _fit(event.download_id, _LIMITS["id"]),
        "ik": event.item_kind.value,
        "iid": _fit(event.item_id, _LIMITS["iid"]),
        "c": _fit(event.client, _LIMITS["c"]),
        "b": _clean_int(event.bytes_sent),
        "d": _clean_float(event.duration),
        "s": _clean_int(event.status),
        "t": _clean_float(event.timestamp),
        "p": _clean_int(event.pid),
    }
    text = json.dumps(record, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    # Lone surrogates (from undecodable bytes in a path, say) are replaced, not refused.
    return text.encode("utf-8", "replace")


def _field(record: dict[str, Any], key: str, kind: type[Any]) -> Any:
    value = record.get(key)
    # bool is an int to Python, not to us; an int is a fine float.
    if isinstance(value, bool) or not (
        isinstance(value, kind) or (kind is float and isinstance(value, int))
    ):
        raise EventError(f"field {key!r} must be {kind.__name__}, got {value!r:.40}")
    return value


def _choice(record: dict[str, Any], key: str, kinds: type[enum.Enum]) -> Any:
    value = _field(record, key, str)
    try:
        return kinds(value)
    except ValueError:
        allowed = ", ".join(str(member.value) for member in kinds)
        raise EventError(f"field {key!r} must be one of {allowed}, got {value!r:.40}") from None


def decode_event(datagram: bytes) -> DownloadEvent:
    """The event in ``datagram``.

    Raises:
        EventError: when it is not UTF-8 JSON, not version 1, or a field is missing,
            of the wrong type or out of range.
    """
    if len(datagram) > MAX_DATAGRAM:
        raise EventError(f"datagram of {len(datagram)} bytes, more than {MAX_DATAGRAM}")
    try:
        record = json.loads(datagram.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise EventError(f"not UTF-8 JSON: {exc}") from None
    if not isinstance(record, dict):
        raise EventError("not a JSON object")
    if record.get("v") != SCHEMA_VERSION or isinstance(record.get("v"), bool):
        raise EventError(f"unsupported schema version {record.get('v')!r:.20}")
    numbers = {key: _field(record, key, kind) for key, kind in
               (("b", int), ("s", int), ("p", int), ("d", float), ("t", float))}
    for key, value in numbers.items():
        if isinstance(value, float):
            valid = math.isfinite(value) and value >= 0
        else:
            valid = 0 <= value <= _MAX_INT
        if not valid:
            raise EventError(f"field {key!r} out of range: {value!r}")
    return DownloadEvent(
        kind=_choice(record, "e", EventKind),
        download_id=_field(record, "id", str),
        item_kind=_choice(record, "ik", ItemKind),
        item_id=_field(record, "iid", str),
        client=_field(record, "c", str),
        bytes_sent=numbers["b"],
        duration=float(numbers["d"]),
        status=numbers["s"],
        timestamp=float(numbers["t"]),
        pid=numbers["p"],
    )


# -- the emitter ----------------------------------------------------------------------


class _UDPReactor(Protocol):
    def listenUDP(
        self, port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192
    ) -> Any: ...  # an IUDPTransport (Port)


@dataclasses.dataclass(frozen=True, slots=True)
class EmitterStats:
    """A snapshot of an emitter's counters.

    Attributes:
        sent: datagrams handed to the kernel.
        dropped: events not sent: full socket buffer, collector refusing, port closed,
            or any other send error.
        refused: ICMP "port unreachable" notices received: the collector is not
            listening, and some datagrams sent before were lost.
    """

    sent: int
    dropped: int
    refused: int


class _EmitterProtocol(DatagramProtocol):
    """The emitter's UDP port protocol: it only counts refusals."""

    def __init__(self, on_refused: Callable[[], None]) -> None:
        self._on_refused = on_refused

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        """Nothing is expected from the collector; anything that comes is ignored."""

    def connectionRefused(self) -> None:
        """An ICMP refusal: counted by the emitter."""
        self._on_refused()


def _family_interface(host: str) -> str:
    try:
        socket.inet_pton(socket.AF_INET6, host.partition("%")[0])
    except (OSError, ValueError):
        return ""
    return "::"


class EventEmitter:
    """Sends download events to a collector over UDP, never blocking, never raising.

    The port is a connected UDP socket (to the collector only), so the kernel
    reports an absent collector (ICMP port unreachable) as ``ECONNREFUSED``
    instead of losing every datagram silently; those are counted, as are
    datagrams dropped on a full send buffer (``EAGAIN``).

    Args:
        reactor: provides ``listenUDP``.
        collector_address: ``(ip, port)`` of the collector (an IP literal).
        pid: written in each event's ``pid`` (default: this process's).
        clock: gives the timestamp of events built by :meth:`event` (default
            ``time.time``).

    Raises:
        CannotListenError: when no UDP port can be bound.
        InvalidAddressError: when the address is not an IP literal.

    Example::

        emitter = EventEmitter(reactor, ("127.0.0.1", 9514))
        emitter.emit(emitter.event(EventKind.STARTED, "d-1", ItemKind.TRACK, "7",
                                   client="203.0.113.9"))
    """

    def __init__(
        self,
        reactor: _UDPReactor,
        collector_address: tuple[str, int],
        *,
        pid: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        host, port = collector_address
        self.collector_address = (host, port)
        self.pid = os.getpid() if pid is None else pid
        self._clock = clock
        self._sent = self._dropped = self._refused = 0
        self._in_write = False
        self._refused_in_write = False
        self._port = reactor.listenUDP(
            0, _EmitterProtocol(self._on_refused), interface=_family_interface(host)
        )
        try:
            self._port.connect(host, port)
        except BaseException:
            self._port.stopListening()
            raise

    def __repr__(self) -> str:
        host, port = self.collector_address
        return (f"<EventEmitter to {host}:{port} sent={self._sent} dropped={self._dropped}"
                f" refused={self._refused}>")

    @property
    def sent(self) -> int:
        """Datagrams handed to the kernel."""
        return self._sent

    @property
    def dropped(self) -> int:
        """Events that could not be sent."""
        return self._dropped

    @property
    def refused(self) -> int:
        """ICMP refusals seen (the collector was not listening)."""
        return self._refused

    def statistics(self) -> EmitterStats:
        """A snapshot of the counters."""
        return EmitterStats(sent=self._sent, dropped=self._dropped, refused=self._refused)

    def event(
        self,
        kind: EventKind,
        download_id: str,
        item_kind: ItemKind,
        item_id: str,
        *,
        client: str,
        bytes_sent: int = 0,
        duration: float = 0.0,
        status: int = 0,
    ) -> DownloadEvent:
        """An event stamped with the clock's time and this emitter's pid."""
        return DownloadEvent(kind, download_id, item_kind, item_id, client, bytes_sent,
                             duration, status, self._clock(), self.pid)

    def emit(self, event: DownloadEvent) -> None:
        """Send ``event`` now, or count it dropped.  Never blocks, never raises."""
        try:
            datagram = encode_event(event)
        except Exception:
            # A bug in a caller's event (a wrong type) must not break its download.
            _log.exception("download event %r could not be encoded", event)
            self._dropped += 1
            return
        self.emit_datagram(datagram)

    def emit_datagram(self, datagram: bytes) -> None:
        """Send an already encoded datagram, or count it dropped."""
        self._in_write, self._refused_in_write = True, False
        try:
            self._port.write(datagram)
        except Exception:
            # EAGAIN (buffer full), a closed port, a vanished route: all the same to us.
            self._dropped += 1
            return
        finally:
            self._in_write = False
        if self._refused_in_write:
            # The port reports ECONNREFUSED from send() as a refusal: this one was not sent.
            self._dropped += 1
        else:
            self._sent += 1

    def _on_refused(self) -> None:
        self._refused += 1
        if self._in_write:
            self._refused_in_write = True

    def close(self) -> Deferred[None]:
        """Close the UDP port; later events are dropped.  Fires once it is closed."""
        try:
            result: Deferred[None] = self._port.stopListening()
        except Exception:
            return succeed(None)
        return result


def emitter_metrics(registry: Registry, emitter: EventEmitter) -> None:
    """Register counters reading ``emitter`` at scrape time.

    ``dlserver_events_total{outcome="sent"|"dropped"}`` and
    ``dlserver_events_refused_total`` (ICMP refusals: the collector is down).
    """
    events = Counter("dlserver_events_total", "Download events, by outcome.", ["outcome"],
                     registry=registry)
    events.labels(outcome="sent").set_function(lambda: emitter.sent)
    events.labels(outcome="dropped").set_function(lambda: emitter.dropped)
    Counter("dlserver_events_refused_total", "ICMP refusals from the event collector.",
            registry=registry).set_function(lambda: emitter.refused)
