"""Connecting to a host name by racing its addresses (RFC 8305, "Happy Eyeballs").

The engine behind :class:`torsion.endpoints.HostnameEndpoint` (and the
``tcp6``/``tls`` client endpoints): resolve every address, then start
connection attempts in interleaved family order, one every ``attemptDelay``
seconds or as soon as one fails; the first to connect wins, the others are
stopped.  It talks to the reactor only through ``connectTCP``-like calls
made by the endpoint, ``callLater`` and, for names, the thread pool, so a
``MemoryReactorClock`` drives it deterministically in tests.

Hard-won facts kept here:

* ``getaddrinfo`` returns both families at once, already sorted by RFC 6724,
  so there is no separate AAAA/A "resolution delay": the first family in its
  answer goes first, then families alternate (RFC 8305 section 4, a "First
  Address Family Count" of 1).
* Two attempts may connect in the same reactor iteration.  The winner is the
  first whose ``buildProtocol`` runs; a later one gets None from
  ``buildProtocol``, which makes the reactor close it, so the caller's
  factory builds exactly one protocol.
* Stopping an attempt calls ``connector.stopConnecting()``; a real connector
  then reports ``clientConnectionFailed`` synchronously (ignored: the race is
  over), a fake one may report nothing.  Neither is waited for.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from torsion import error
from torsion.address import HostnameAddress
from torsion.defer import Deferred, fail, succeed
from torsion.failure import Failure
from torsion.threads import deferToThreadPool

if TYPE_CHECKING:
    from torsion._delayedcall import DelayedCall

__all__ = ["Race", "RacingEndpoint", "Resolver", "resolve_all", "show_address"]

#: A resolver: (host, port) to a Deferred list of (family, address).
Resolver = Callable[[str, int], Deferred[list[tuple[int, str]]]]
#: Builds the caller's protocol for the winner: (result, factory, address) to a protocol.
Wrapper = Callable[[Deferred[Any], Any, Any], Any]


class RacingEndpoint(Protocol):
    """What a race needs from its endpoint."""

    _reactor: Any
    _host: str
    _hostBytes: bytes
    _port: int
    _timeout: float | None
    _attemptDelay: float
    _resolve: Resolver

    def _connect_attempt(self, host: str, factory: Any) -> Any:
        """Start connecting to ``host`` with ``factory``; return the connector."""
        ...


def _ip_literal(host: str) -> tuple[int, str] | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return (socket.AF_INET6 if address.version == 6 else socket.AF_INET), host


def resolve_all(
    reactor: Any, host: str, port: int, family: int = socket.AF_UNSPEC
) -> Deferred[list[tuple[int, str]]]:
    """Every address of ``host``, as ``(family, address)``, in getaddrinfo's order.

    An IP address is answered at once; a name is looked up with
    ``getaddrinfo`` in the reactor's thread pool.  Fails with
    ``DNSLookupError`` naming the host.
    """
    literal = _ip_literal(host)
    if literal is not None:
        if family not in (socket.AF_UNSPEC, literal[0]):
            return fail(error.DNSLookupError(f"{host!r} is not an address of the family asked"))
        return succeed([literal])

    def lookup() -> list[tuple[int, str]]:
        try:
            infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise error.DNSLookupError(f"address {host!r} not found: {exc}") from exc
        return [
            (int(info[0]), str(info[4][0]))
            for info in infos
            if info[0] in (socket.AF_INET, socket.AF_INET6)
        ]

    return deferToThreadPool(reactor, reactor.getThreadPool(), lookup)


def _interleave(addresses: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Alternate address families, starting with the first one's (RFC 8305 4)."""
    families: dict[int, deque[str]] = {}
    seen: set[tuple[int, str]] = set()
    for family, address in addresses:
        if (family, address) not in seen:
            seen.add((family, address))
            families.setdefault(family, deque()).append(address)
    ordered: list[tuple[int, str]] = []
    while families:
        for family in list(families):
            queue = families[family]
            ordered.append((family, queue.popleft()))
            if not queue:
                del families[family]
    return ordered


def show_address(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class _Attempt:
    """One connection attempt of a race; it is the factory given to the reactor."""

    def __init__(self, race: Race, host: str) -> None:
        self.race = race
        self.host = host
        self.connector: Any = None

    def doStart(self) -> None:
        self.race.factory.doStart()

    def doStop(self) -> None:
        self.race.factory.doStop()

    def startedConnecting(self, connector: Any) -> None:
        self.connector = connector

    def buildProtocol(self, addr: Any) -> Any:
        if not self.race.won(self):
            return None  # another attempt won: the reactor closes this one
        return self.race.wrap(self.race.result, self.race.factory, addr)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.race.attempt_failed(self, reason)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        """The connection ended: the protocol's ``connectionLost`` has been told."""

    def stop(self) -> None:
        if self.connector is not None:
            with contextlib.suppress(error.NotConnectingError):
                self.connector.stopConnecting()


class Race:
    """One ``connect`` of a racing endpoint: resolve, then attempt (RFC 8305).

    Attempts start in interleaved family order: the next one after
    ``attemptDelay`` seconds, or as soon as one fails.  The first to connect
    wins and every other attempt is stopped.  ``result`` fires with the
    protocol, or fails once every address failed, on the overall timeout,
    or when cancelled.
    """

    def __init__(self, endpoint: RacingEndpoint, factory: Any, wrap: Wrapper) -> None:
        self.endpoint = endpoint
        self.factory = factory
        self.wrap = wrap
        self.reactor = endpoint._reactor
        self.result: Deferred[Any] = Deferred(self._cancel)
        self.finished = False
        self._queue: deque[tuple[int, str]] = deque()
        self._running: list[_Attempt] = []
        self._failures: list[tuple[str, Failure]] = []
        self._next_call: DelayedCall | None = None
        self._deadline: DelayedCall | None = None
        self._resolving: Deferred[list[tuple[int, str]]] | None = None
        self._winner: _Attempt | None = None

    def start(self) -> None:
        timeout = self.endpoint._timeout
        if timeout is not None:
            self._deadline = self.reactor.callLater(timeout, self._timed_out)
        try:
            resolving = self.endpoint._resolve(self.endpoint._host, self.endpoint._port)
        except BaseException:
            self._finish(Failure())
            return
        self._resolving = resolving
        resolving.addCallbacks(self._resolved, self._resolve_failed)

    def _resolved(self, addresses: list[tuple[int, str]]) -> None:
        self._resolving = None
        if self.finished:
            return
        ordered = _interleave(addresses)
        if not ordered:
            self._finish(Failure(error.DNSLookupError(
                f"no addresses found for {self.endpoint._host!r}"
            )))
            return
        self._queue.extend(ordered)
        self._start_next()

    def _resolve_failed(self, failure: Failure) -> None:
        self._resolving = None
        if not self.finished:
            self._finish(failure)

    def _start_next(self) -> None:
        self._cancel_next_call()
        if self.finished:
            return
        if not self._queue:
            if not self._running:
                self._finish(self._all_failed())
            return
        _, host = self._queue.popleft()
        attempt = _Attempt(self, host)
        self._running.append(attempt)
        try:
            connector = self.endpoint._connect_attempt(host, attempt)
        except BaseException:
            self.attempt_failed(attempt, Failure())
            return
        if attempt.connector is None:
            attempt.connector = connector
        if self._queue and not self.finished and self._next_call is None:
            self._next_call = self.reactor.callLater(
                self.endpoint._attemptDelay, self._start_next
            )

    def attempt_failed(self, attempt: _Attempt, reason: Failure) -> None:
        """``attempt`` failed: start the next one now, or give up if none is left."""
        if attempt not in self._running:
            return
        self._running.remove(attempt)
        self._failures.append((show_address(attempt.host, self.endpoint._port), reason))
        if not self.finished:
            self._start_next()

    def won(self, attempt: _Attempt) -> bool:
        """Whether ``attempt``, just connected, is the first; if so stop the others."""
        if self.finished or attempt not in self._running:
            return False
        self._running.remove(attempt)
        self.finished = True
        self._winner = attempt
        self._stop_everything()
        return True

    def _all_failed(self) -> Failure:
        endpoint = self.endpoint
        details = "; ".join(f"{where}: {f.getErrorMessage()}" for where, f in self._failures)
        target = show_address(endpoint._host, endpoint._port)
        message = f"could not connect to {target} (tried {details})"
        kinds = {type(f.value) for _, f in self._failures}
        kind = kinds.pop() if len(kinds) == 1 else error.ConnectError
        if not issubclass(kind, error.ConnectError):
            kind = error.ConnectError
        return Failure(kind(string=message))

    def _timed_out(self) -> None:
        self._deadline = None
        endpoint = self.endpoint
        tried = [where for where, _ in self._failures]
        tried += [show_address(a.host, endpoint._port) for a in self._running]
        detail = f"; tried {', '.join(tried)}" if tried else "; the name was still being resolved"
        self._finish(Failure(error.TimeoutError(string=(
            f"connecting to {show_address(endpoint._host, endpoint._port)} took longer than "
            f"{endpoint._timeout} seconds{detail}"
        ))))

    def _cancel(self, d: Deferred[Any]) -> None:
        if self.finished:
            winner = self._winner
            if winner is None or winner.connector is None:
                return
            # Connected, but the protocol was not handed over yet: drop it.
            winner.connector.disconnect()
        self.finished = True
        self._stop_everything()
        d.errback(Failure(error.ConnectingCancelledError(
            HostnameAddress(self.endpoint._hostBytes, self.endpoint._port)
        )))

    def _finish(self, failure: Failure) -> None:
        if self.finished:
            return
        self.finished = True
        self._stop_everything()
        self.result.errback(failure)

    def _cancel_next_call(self) -> None:
        call, self._next_call = self._next_call, None
        if call is not None and call.active():
            call.cancel()

    def _stop_everything(self) -> None:
        self._cancel_next_call()
        deadline, self._deadline = self._deadline, None
        if deadline is not None and deadline.active():
            deadline.cancel()
        self._queue.clear()
        running, self._running = self._running, []
        for attempt in running:
            attempt.stop()
        resolving, self._resolving = self._resolving, None
        if resolving is not None:
            resolving.addErrback(lambda _: None)
            resolving.cancel()
