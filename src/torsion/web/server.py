"""An HTTP/1.1 server: :class:`Site` serves a resource tree on any stream endpoint.

Mirrors ``twisted.web.server`` (camelCase names are the contract)::

    from torsion.reactor import reactor
    from torsion.web.resource import Resource
    from torsion.web.server import Site

    class Hello(Resource):
        isLeaf = True

        def render_GET(self, request):
            request.setHeader(b"content-type", b"text/plain")
            return b"Hello, World!"

    reactor.listenTCP(8080, Site(Hello()), interface="127.0.0.1")
    reactor.run()

The protocol work (parsing, framing, keep-alive, pipelining, ``Expect: 100-continue``,
HEAD, HTTP/1.0, the request-smuggling checks) is the sans-IO core's
(:mod:`torsion.web.sansio`); :class:`HTTPChannel` drives it over a transport, one per
connection, and :class:`Request` is what resources see. TLS comes from the endpoint:
``serverFromString(reactor, "ssl:8443:privateKey=key.pem").listen(site)``.

Defaults, and why (each is a :class:`Site` argument):

============================  ==========  ==============================================
``headerTimeout``             30 s        the whole request head, from its first byte
                                          (slowloris); nginx 60 s, Apache 20-40 s
``timeout``                   60 s        keep-alive idle; nginx 75 s, Node.js 5 s
``bodyTimeout``               60 s        a request body that sends nothing
``shutdownTimeout``           30 s        in-flight responses at shutdown, then abort
``sendTimeout``               60 s        a client that reads nothing of what we send
                                          (the output stays full, or a close cannot
                                          flush) is aborted; nginx send_timeout 60 s
``maxConnections``            None        no limit; past it a connection gets a 503
                                          and is closed
``maxRequestBodySize``        None        the core's hard limit, for every request (413)
``maxBufferedBodySize``       64 MiB      bodies read into ``request.content`` (413);
                                          streaming resources are not limited by it
``maxHeaderSize``             16 KiB      request head (431), as h11 and Node.js
``maxRequestLineSize``        8 KiB       request line (414), as nginx and Apache
``maxHeaderCount``            100         header fields (431), as Apache
============================  ==========  ==============================================

Graceful shutdown: :meth:`Site.shutdown` (run by the reactor's "before shutdown"
trigger while the site listens) refuses new connections, closes idle keep-alive ones,
lets responses in progress finish (each then closes), and fires its Deferred when the
last connection is gone, aborting what is left after ``shutdownTimeout``.

Access log: ``logPath`` (a file, appended to) or ``logger`` (a :mod:`logging` logger,
INFO records) get one line per response in the combined log format, with the client
address.
"""

from __future__ import annotations

import logging
import time
from typing import IO, Any

from torsion._logging import log_failure
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import Factory, Protocol
from torsion.web._channel import HTTPChannel, RequestBodyTooLarge
from torsion.web._conditional import http_date
from torsion.web._http_headers import Headers
from torsion.web._request import CACHED, NOT_DONE_YET, Request, UnsupportedMethod
from torsion.web.resource import getChildForRequest

__all__ = [
    "CACHED",
    "NOT_DONE_YET",
    "HTTPChannel",
    "Headers",
    "Request",
    "RequestBodyTooLarge",
    "Site",
    "UnsupportedMethod",
    "combined_log_line",
]

_log = logging.getLogger("torsion.web")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_OVERLOADED = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n"
    b"Retry-After: 1\r\n\r\n"
)


def _escape(value: bytes) -> str:
    """A log field: printable ASCII kept, quotes, backslashes and the rest escaped."""
    out = []
    for byte in value:
        if byte in (0x22, 0x5C) or not 0x20 <= byte < 0x7F:
            out.append(f"\\x{byte:02x}")
        else:
            out.append(chr(byte))
    return "".join(out)


def combined_log_line(
    client: str, request_line: bytes, status: int, length: int,
    referer: bytes | None, agent: bytes | None, when: float,
) -> str:
    """One access log line in the combined log format (times in UTC).

    Example:
        >>> combined_log_line("127.0.0.1", b"GET / HTTP/1.1", 200, 13, None, b"curl", 0)
        '127.0.0.1 - - [01/Jan/1970:00:00:00 +0000] "GET / HTTP/1.1" 200 13 "-" "curl"'
    """
    t = time.gmtime(when)
    stamp = (
        f"{t.tm_mday:02d}/{_MONTHS[t.tm_mon - 1]}/{t.tm_year}:"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )
    size = str(length) if length else "-"
    ref = _escape(referer) if referer else "-"
    ua = _escape(agent) if agent else "-"
    return f'{client} - - [{stamp}] "{_escape(request_line)}" {status} {size} "{ref}" "{ua}"'


class _Overloaded(Protocol):
    """Answers 503 and closes: the site is at ``maxConnections``."""

    def connectionMade(self) -> None:
        self.transport.write(_OVERLOADED)
        self.transport.loseConnection()


class Site(Factory):
    """Serves ``resource`` over HTTP/1.1: a protocol factory for ``listenTCP`` or endpoints.

    Args:
        resource: the root of the resource tree.
        requestFactory: builds a request, ``requestFactory(channel, head)``
            (:class:`Request` by default).
        reactor: the reactor for timers and shutdown (the default reactor if None).
        logPath: a file the access log is appended to.
        logger: a logger receiving access log lines (INFO).
        timeout: seconds a keep-alive connection may stay idle (None: forever).
        headerTimeout: seconds for a whole request head, from its first byte.
        bodyTimeout: seconds a request body may go without sending anything.
        shutdownTimeout: seconds :meth:`shutdown` waits for responses in progress.
        sendTimeout: seconds a connection may stay unable to send (the client reads
            nothing) before it is aborted (None: forever).
        maxConnections: connections served at once; beyond, 503 and close.
        maxRequestBodySize: the largest request body of any request (None: no limit).
        maxBufferedBodySize: the largest body read into ``request.content``.
        maxHeaderSize: the largest request head, in bytes.
        maxRequestLineSize: the longest request line, in bytes.
        maxHeaderCount: the most header fields in a request.
        displayTracebacks: put the traceback in 500 pages (for development only).

    Attributes:
        resource: the root resource.
        serverHeader: the ``Server`` header value (``b""`` to send none).

    Example:
        >>> from torsion.web.resource import Resource
        >>> site = Site(Resource(), timeout=30, maxConnections=1000)
    """

    protocol = HTTPChannel  # type: ignore[assignment]
    requestFactory: Any = Request
    serverHeader = b"torsion"
    displayTracebacks = False
    noisy = False

    def __init__(
        self,
        resource: Any,
        requestFactory: Any = None,
        *,
        reactor: Any = None,
        logPath: str | None = None,
        logger: logging.Logger | None = None,
        timeout: float | None = 60.0,
        headerTimeout: float | None = 30.0,
        bodyTimeout: float | None = 60.0,
        shutdownTimeout: float = 30.0,
        sendTimeout: float | None = 60.0,
        maxConnections: int | None = None,
        maxRequestBodySize: int | None = None,
        maxBufferedBodySize: int | None = 64 * 1024 * 1024,
        maxHeaderSize: int = 16 * 1024,
        maxRequestLineSize: int = 8 * 1024,
        maxHeaderCount: int = 100,
        displayTracebacks: bool = False,
    ) -> None:
        if maxConnections is not None and maxConnections < 1:
            raise ValueError("maxConnections must be >= 1")
        self.resource = resource
        if requestFactory is not None:
            self.requestFactory = requestFactory
        self._reactor = reactor
        self.logPath = logPath
        self.logger = logger
        self.timeout = timeout
        self.headerTimeout = headerTimeout
        self.bodyTimeout = bodyTimeout
        self.shutdownTimeout = shutdownTimeout
        self.sendTimeout = sendTimeout
        self.maxConnections = maxConnections
        self.maxBufferedBodySize = maxBufferedBodySize
        self.displayTracebacks = displayTracebacks
        # For the sans-IO core: head size, request line, field count, body size.
        self._core_limits = (maxHeaderSize, maxRequestLineSize, maxHeaderCount, maxRequestBodySize)
        self._channels: set[HTTPChannel] = set()
        self._draining = False
        self._drained: list[Deferred[None]] = []
        self._abort_call: Any = None
        self._trigger: Any = None
        self._log_file: IO[str] | None = None
        self._access_log: Any = logger
        self._date_second = -1
        self._date_value = b""

    def __repr__(self) -> str:
        return f"<Site {self.resource!r} connections={len(self._channels)}>"

    @property
    def reactor(self) -> Any:
        """The reactor for timers and shutdown: the one given, else the one of the first
        connection's transport, else the default reactor."""
        if self._reactor is None:
            from torsion.reactor import reactor  # noqa: PLC0415 - only when none was given

            self._adopt(reactor)
        return self._reactor

    def _adopt(self, reactor: Any) -> None:
        """Use ``reactor`` (none was given); hook :meth:`shutdown` to it if listening."""
        self._reactor = reactor
        if self.numPorts and self._trigger is None:
            self._hook_shutdown()

    def _hook_shutdown(self) -> None:
        add_trigger = getattr(self._reactor, "addSystemEventTrigger", None)
        if add_trigger is not None and self._trigger is None:
            self._trigger = add_trigger("before", "shutdown", self.shutdown)

    # -- the factory ---------------------------------------------------------------------

    def startFactory(self) -> None:
        """Open the access log; hook :meth:`shutdown` to the reactor's shutdown."""
        if self.logPath is not None and self._log_file is None:
            self._log_file = open(self.logPath, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
            self._access_log = self._log_file
        if self._reactor is not None:
            self._hook_shutdown()
        # Else the first connection's transport says which reactor runs (see _adopt).

    def stopFactory(self) -> None:
        """Close the access log; unhook from the reactor's shutdown."""
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
            self._access_log = self.logger
        trigger, self._trigger = self._trigger, None
        if trigger is not None:
            try:
                self.reactor.removeSystemEventTrigger(trigger)
            except (ValueError, KeyError):
                pass

    def buildProtocol(self, addr: Any) -> Any:
        """A channel for a new connection; ``None`` while shutting down, a 503 when full."""
        if self._draining:
            return None
        if self.maxConnections is not None and len(self._channels) >= self.maxConnections:
            return _Overloaded()
        channel = HTTPChannel(self)
        self._channels.add(channel)
        return channel

    def getResourceFor(self, request: Any) -> Any:
        """The resource that renders ``request``: traversal from the root."""
        request.site = self
        request.sitepath = request.prepath[:]
        return getChildForRequest(self.resource, request)

    # -- graceful shutdown ---------------------------------------------------------------

    def shutdown(self, timeout: float | None = None) -> Deferred[None]:
        """Stop serving: refuse new connections, finish what is in progress, close.

        Idle connections close at once; a connection with a response in progress
        closes once it is finished (``Connection: close`` if its head is not sent yet).
        Connections left after ``timeout`` seconds (``shutdownTimeout`` by default) are
        aborted. Listening ports are the caller's (the reactor closes them at
        shutdown; until then connections are accepted and closed at once).

        Returns:
            A Deferred firing with None once every connection is closed.
        """
        self._draining = True
        d: Deferred[None] = Deferred()
        self._drained.append(d)
        for channel in list(self._channels):
            channel._shutdown()
        if not self._channels:
            self._fire_drained()
        elif self._abort_call is None:
            seconds = self.shutdownTimeout if timeout is None else timeout
            self._abort_call = self.reactor.callLater(seconds, self._abort_all)
        return d

    def _abort_all(self) -> None:
        self._abort_call = None
        for channel in list(self._channels):
            channel._abort()

    def _channel_closed(self, channel: HTTPChannel) -> None:
        self._channels.discard(channel)
        if self._draining and not self._channels:
            self._fire_drained()

    def _fire_drained(self) -> None:
        call, self._abort_call = self._abort_call, None
        if call is not None and call.active():
            call.cancel()
        waiting, self._drained = self._drained, []
        for d in waiting:
            d.callback(None)

    # -- response helpers ----------------------------------------------------------------

    def _date(self) -> bytes:
        """The ``Date`` header value, computed once a second."""
        now = time.time()
        second = int(now)
        if second != self._date_second:
            self._date_second = second
            self._date_value = http_date(now)
        return self._date_value

    # -- access log ----------------------------------------------------------------------

    def log(self, request: Any) -> None:
        """Write the access log line of a finished request (when a log is set)."""
        line = b"%s %s %s" % (request.method, request.uri, request.clientproto)
        self._log_line(
            request.getClientAddress(), request, request.code, request.sentLength, line
        )

    def _log_line(
        self, address: Any, request: Any, status: int, length: int, line: bytes | None = None
    ) -> None:
        sink = self._access_log
        if sink is None:
            return
        if line is None:
            line = (
                b"%s %s %s" % (request.method, request.uri, request.clientproto)
                if request is not None else b"-"
            )
        head = getattr(request, "_head", None)
        referer = head.headers.get(b"referer") if head is not None else None
        agent = head.headers.get(b"user-agent") if head is not None else None
        client = str(getattr(address, "host", None) or "-")
        text = combined_log_line(client, line, status, length, referer, agent, time.time())
        try:
            if isinstance(sink, logging.Logger):
                sink.info("%s", text)
            else:
                sink.write(text + "\n")
        except Exception:
            log_failure(Failure(), "Error writing the access log:", "torsion.web")
