"""The download log server: collects download events over UDP into rotating SQLite files.

``dlserver logserver --listen udp:9514:interface=127.0.0.1 --data DIR`` runs the
collector; ``--http tcp:9515`` adds a JSON API (``/stats/top``, ``/stats/daily``,
``/stats/items``, see ``_logdb_http``) and ``/metrics`` for Prometheus.
``dlserver logserver query top --days 7`` answers the same queries from the
files directly, as JSON on stdout.

The queries (:func:`top_items`, :func:`daily`, :func:`item_days`, over a
period such as :func:`last_days`) read every kept file.  Both ways of asking
them exist because they serve different people: the query command works on the
box with nothing running (and on copied files); the HTTP API serves dashboards
and other hosts without giving them the files.

:class:`LogCollector` batches inserts: a batch is written (one commit) once
``batch_size`` events are waiting or ``flush_interval`` seconds after the
first of them, whichever comes first.  Malformed datagrams are counted and
dropped; a failing write is logged and its batch counted as lost.  Nothing a
datagram contains can stop the collector.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dlserver._cli_common import DATA_ENV, Subparsers
from dlserver._logdb import LogStore
from dlserver._logdb_http import QueryError, StatsResource, run_query
from dlserver._logdb_query import (
    DayStats,
    ItemDayStats,
    ItemStats,
    daily,
    item_days,
    last_days,
    top_items,
)
from dlserver.events import DownloadEvent, EventError, decode_event
from torsion.interfaces import IDelayedCall, IReactorTime
from torsion.metrics import Counter, Registry
from torsion.protocol import DatagramProtocol

__all__ = [
    "CollectorStats",
    "DayStats",
    "ItemDayStats",
    "ItemStats",
    "LogCollector",
    "LogStore",
    "add_parser",
    "collector_metrics",
    "daily",
    "item_days",
    "last_days",
    "main",
    "parse_udp_endpoint",
    "run",
    "top_items",
]

_log = logging.getLogger("dlserver.logserver")

#: What the collector asks the kernel to buffer: a burst of events waits there while
#: a batch is being written (the kernel caps it at net.core.rmem_max).
RECEIVE_BUFFER = 4 * 1024 * 1024


@dataclasses.dataclass(frozen=True, slots=True)
class CollectorStats:
    """A snapshot of a collector's counters.

    Attributes:
        received: datagrams received.
        malformed: datagrams that were not valid events (dropped).
        stored: events written to the database.
        lost: valid events whose batch could not be written.
        pending: events waiting for the next batch.
        commits: batches written (one transaction each).
    """

    received: int
    malformed: int
    stored: int
    lost: int
    pending: int
    commits: int


class LogCollector(DatagramProtocol):
    """Receives event datagrams and stores them in batches.

    Args:
        store: where batches go.
        clock: schedules the flush timer (a reactor).
        batch_size: write once this many events wait.
        flush_interval: seconds the first waiting event may wait.
        now: stamps arrival times, seconds since the epoch (a reactor's
            ``seconds()`` is monotonic, not a date: default ``time.time``).
    """

    def __init__(
        self,
        store: LogStore,
        clock: IReactorTime,
        *,
        batch_size: int = 500,
        flush_interval: float = 0.25,
        now: Callable[[], float] = time.time,
    ) -> None:
        if batch_size < 1 or flush_interval < 0:
            raise ValueError(
                f"batch_size must be >= 1 and flush_interval >= 0, got {batch_size},"
                f" {flush_interval}"
            )
        self.store = store
        self.clock = clock
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self._now = now
        self.received = self.malformed = self.stored = self.lost = 0
        self._pending: list[tuple[DownloadEvent, float]] = []
        self._timer: IDelayedCall | None = None

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        """Decode one datagram; queue the event, or count it malformed."""
        self.received += 1
        try:
            event = decode_event(datagram)
        except EventError as exc:
            self.malformed += 1
            _log.debug("dropped a malformed datagram from %s: %s", addr, exc)
            return
        self._pending.append((event, self._now()))
        if len(self._pending) >= self.batch_size:
            self.flush()
        elif self._timer is None:
            self._timer = self.clock.callLater(self.flush_interval, self._timer_fired)

    def _timer_fired(self) -> None:
        self._timer = None
        self.flush()

    def flush(self) -> None:
        """Write the waiting events now (one commit)."""
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            self.store.write(batch)
        except Exception:
            # Disk full, a removed directory...: keep collecting; these are gone.
            self.lost += len(batch)
            _log.exception("could not store %d download events", len(batch))
            return
        self.stored += len(batch)

    def stopProtocol(self) -> None:
        """The port is closing: write what waits."""
        self.flush()

    def statistics(self) -> CollectorStats:
        """A snapshot of the counters."""
        return CollectorStats(self.received, self.malformed, self.stored, self.lost,
                              len(self._pending), self.store.commits)


def collector_metrics(registry: Registry, collector: LogCollector) -> None:
    """Register ``dlserver_logserver_*`` counters reading ``collector`` at scrape time."""
    datagrams = Counter("dlserver_logserver_datagrams_total", "Datagrams received, by outcome.",
                        ["outcome"], registry=registry)
    for outcome in ("received", "malformed", "stored", "lost"):
        datagrams.labels(outcome=outcome).set_function(_reader(collector, outcome))
    Counter("dlserver_logserver_commits_total", "Batches written to SQLite.",
            registry=registry).set_function(lambda: collector.store.commits)


def _reader(collector: LogCollector, attribute: str) -> Callable[[], float]:
    def read() -> float:
        value: int = getattr(collector, attribute)
        return value

    return read


# -- the command line ----------------------------------------------------------------


def parse_udp_endpoint(description: str) -> tuple[int, str]:
    """``udp:PORT[:interface=IP]`` (``port=PORT`` also accepted) as ``(port, interface)``.

    torsion's ``serverFromString`` knows only stream endpoints, so UDP is parsed
    here, with the same syntax: ``:`` separates values, ``\\`` escapes the next
    character (``udp:9514:interface=\\:\\:1``; a bracketed ``[::1]`` works too).

    Raises:
        ValueError: for another type, a bad port or interface, or unknown parameters.
    """
    values, current, chars = [], [], iter(description)
    bracketed = False  # inside [...], colons belong to an IPv6 address
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":" and not bracketed:
            values.append("".join(current))
            current = []
        else:
            bracketed = (bracketed or char == "[") and char != "]"
            current.append(char)
    values.append("".join(current))
    if values[0] != "udp":
        raise ValueError(f"not a UDP endpoint (udp:PORT[:interface=IP]): {description!r}")
    options: dict[str, str] = {}
    for value in values[1:]:
        name, equals, setting = value.partition("=")
        name, setting = ("port", value) if not equals else (name, setting)
        if name not in ("port", "interface") or name in options:
            raise ValueError(f"unknown or repeated parameter {name!r} in {description!r}")
        options[name] = setting
    port_text = options.get("port", "")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"the port must be a number from 0 to 65535 in {description!r}")
    interface = options.get("interface", "").removeprefix("[").removesuffix("]")
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, interface.partition("%")[0])
            break
        except OSError:
            continue
    else:
        if interface:
            raise ValueError(f"the interface must be an IP address in {description!r}")
    return int(port_text), interface


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``logserver`` (and its ``query`` subcommand) to ``subparsers``."""
    parser = subparsers.add_parser(
        "logserver",
        help="collect download events over UDP into SQLite; query them",
        description="Collect download events (UDP datagrams from the download servers) into"
        " rotating SQLite files, optionally serving a JSON API and /metrics over HTTP.",
    )
    _add_data(parser, os.environ.get(DATA_ENV, "data"))
    parser.add_argument("--listen", metavar="ENDPOINT",
                        help="where to receive events: udp:PORT[:interface=IP]")
    parser.add_argument("--http", metavar="ENDPOINT", action="append", default=[],
                        help="also serve /stats/... and /metrics here (tcp:PORT...;"
                        " repeatable)")
    parser.add_argument("--rotate-days", type=int, default=1, metavar="N",
                        help="days per database file (default 1)")
    parser.add_argument("--keep", type=int, default=90, metavar="K",
                        help="database files to keep (default 90)")
    parser.add_argument("--max-mb", type=int, default=256, metavar="MB",
                        help="start a new file past this size (default 256)")
    parser.add_argument("--batch", type=int, default=500, metavar="N",
                        help="events per committed batch (default 500)")
    parser.add_argument("--flush-ms", type=int, default=250, metavar="MS",
                        help="longest wait before a partial batch is written (default 250)")
    actions = parser.add_subparsers(dest="logserver_action", metavar="ACTION")
    ask = actions.add_parser("query", help="answer a query from the files, as JSON",
                             description="Print a query's answer as JSON.")
    ask.add_argument("query", choices=("top", "daily", "items"),
                     help="top: most downloaded items; daily: downloads and bytes per day;"
                     " items: per item and day")
    ask.add_argument("--days", type=int, default=7, help="the last N UTC days (default 7)")
    ask.add_argument("--limit", type=int, default=10, help="items in top (default 10)")
    ask.add_argument("--kind", choices=("track", "album", "zip"), help="only this item kind")
    _add_data(ask, argparse.SUPPRESS)
    return parser


def _add_data(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--data", default=default, metavar="DIR",
                        help=f"the log files' directory (default: ${DATA_ENV}, else ./data)")


def run(args: argparse.Namespace) -> int:
    """Run the collector until stopped, or answer a query; returns the exit status."""
    if getattr(args, "logserver_action", None) == "query":
        return _run_query(args)
    if not args.listen:
        return _fail("logserver needs --listen udp:PORT[:interface=IP] (or: query ...)")
    try:
        port, interface = parse_udp_endpoint(args.listen)
        store = LogStore(Path(args.data), time.time, rotate_days=args.rotate_days,
                         max_bytes=args.max_mb * 1024 * 1024, keep=args.keep)
        if args.batch < 1 or args.flush_ms < 0:
            raise ValueError("--batch must be >= 1 and --flush-ms >= 0")
    except ValueError as exc:
        return _fail(str(exc))
    import torsion.reactor  # noqa: PLC0415 - the global reactor only for the command

    return _serve(torsion.reactor.reactor, args, store, port, interface)


def _serve(reactor: Any, args: argparse.Namespace, store: LogStore, port: int,
           interface: str) -> int:
    from torsion.endpoints import serverFromString  # noqa: PLC0415
    from torsion.error import CannotListenError  # noqa: PLC0415
    from torsion.web.metrics import MetricsResource  # noqa: PLC0415
    from torsion.web.resource import Resource  # noqa: PLC0415
    from torsion.web.server import Site  # noqa: PLC0415

    collector = LogCollector(store, reactor, batch_size=args.batch,
                             flush_interval=args.flush_ms / 1000)
    try:
        udp = reactor.listenUDP(port, collector, interface=interface)
    except CannotListenError as exc:
        return _fail(f"cannot listen on {args.listen}: {exc}")
    _grow_receive_buffer(udp.getHandle())
    host = udp.getHost()
    ready = [f"udp:{host.host}:{host.port}"]
    registry = Registry()
    collector_metrics(registry, collector)
    root = Resource()
    root.putChild(b"stats", StatsResource(Path(args.data), reactor))
    root.putChild(b"metrics", MetricsResource(registry))
    site = Site(root, reactor=reactor)
    for description in args.http:
        outcome: list[Any] = []
        try:
            serverFromString(reactor, description).listen(site).addBoth(outcome.append)
        except ValueError as exc:
            return _fail(f"--http {description}: {exc}")
        if not outcome or not hasattr(outcome[0], "getHost"):
            return _fail(f"cannot listen on {description}: {outcome[0] if outcome else '?'}")
        address = outcome[0].getHost()
        ready.append(f"http://{address.host}:{address.port}/")
    reactor.addSystemEventTrigger("before", "shutdown", udp.stopListening)
    reactor.addSystemEventTrigger("after", "shutdown", store.close)
    reactor.callWhenRunning(print, "ready", *ready, flush=True)
    reactor.run()
    return 0


def _grow_receive_buffer(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    except OSError as exc:
        _log.warning("could not enlarge the UDP receive buffer: %s", exc)


def _run_query(args: argparse.Namespace) -> int:
    params = {"days": str(args.days), "limit": str(args.limit)}
    if args.kind:
        params["kind"] = args.kind
    try:
        answer = run_query(Path(args.data), args.query, params, time.time())
    except QueryError as exc:
        return _fail(str(exc))
    json.dump(answer, sys.stdout, indent=1)
    print()
    return 0


def _fail(message: str) -> int:
    print(f"dlserver logserver: error: {message}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dlserver.logserver ARGS``: the subcommand alone (until cli.py has it)."""
    parser = argparse.ArgumentParser(prog="dlserver")
    add_parser(parser.add_subparsers(dest="command", required=True))
    arguments = list(sys.argv[1:] if argv is None else argv)
    return run(parser.parse_args(["logserver", *arguments]))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    raise SystemExit(main())

