"""The HTTP/1.1 server protocol: one per connection, driving the sans-IO core.

:class:`HTTPChannel` is a thin adapter (STYLE.md section 6): bytes from the transport
go into ``Connection.receive_data``; each event out of ``next_event`` becomes a call on
the current :class:`~torsion.web.server.Request`; the request turns its response into
events whose bytes go to the transport. Everything the protocol decides (framing,
keep-alive, pipelining, ``Expect``, HEAD, HTTP/1.0) is the core's.

What the adapter owns:

* **One request at a time.** The core is ``PAUSED`` after a complete request until its
  response is finished, so pipelined requests are answered in order. Bytes that
  arrive meanwhile stay in the core's buffer; past 64 KiB of them the transport stops
  reading until the response is done.
* **Timers**, one per connection, re-armed lazily (a request only stores a deadline):
  the whole request head must arrive within ``headerTimeout`` of its first byte (or
  of the connection's start): slowloris-safe, answered with 408; a keep-alive
  connection idle for ``timeout`` is closed quietly; a request body that stalls for
  ``bodyTimeout`` gets 408 (or the connection closed, if the response has started).
* **Errors**: a malformed request gets the core's status hint (400, 413, 414, 431,
  501, 505) with ``Connection: close``; then the connection closes, after a short
  "lingering close" that drains what the client still sends, so the error response
  is not destroyed by a TCP reset.
* **Flow control of request bodies** for streaming resources: reading stops while
  64 KiB of body wait unread in the request.

EOF from the client is a disconnect (as in Twisted): a request in progress is told
through ``notifyFinish``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from torsion import error
from torsion.failure import Failure
from torsion.protocol import Protocol, connectionDone
from torsion.web._request import Request
from torsion.web.sansio import (
    NEED_DATA,
    PAUSED,
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    InformationalResponse,
    LocalProtocolError,
    RemoteProtocolError,
    Response,
    Role,
    State,
)
from torsion.web.sansio import Request as _Head

if TYPE_CHECKING:
    from torsion.web.server import Site

__all__ = ["HTTPChannel"]

# What the connection's single timer is waiting for.
_NONE: Final = 0
_IDLE: Final = 1  # between requests, nothing received
_HEADER: Final = 2  # a request head is on its way
_BODY: Final = 3  # a request body is on its way
_LINGER: Final = 4  # closing: draining what the client still sends

_HELD_LIMIT = 65536  # pipelined bytes read ahead while a response is pending
_DISCARD_LIMIT = 256 * 1024  # unread request body drained to keep the connection
_LINGER_SECONDS = 2.0
_DONE = State.DONE
_CONTINUE = InformationalResponse(status_code=100)


class HTTPChannel(Protocol):
    """The server side of one HTTP/1.1 connection (built by :class:`Site`).

    Attributes:
        site: the factory that built it.
        reactor: the site's reactor (timers).
        secure: whether the connection is TLS.
        requestsServed: how many responses were finished on it.
    """

    secure = False
    requestsServed = 0

    def __init__(self, site: Site) -> None:
        self.site = site
        self.factory = site
        self.reactor: Any = site._reactor
        self._conn: Connection
        self._request: Request | None = None
        self._processing = False
        self._closing = False  # Connection: close on the next response, then close
        self._lost = False
        self._body_full = False  # a streaming request has 64 KiB waiting
        self._held = 0  # bytes received while a response is pending
        self._held_paused = False
        self._reading_paused = False
        self._discarded = 0
        self._kind = _NONE
        self._deadline: float | None = None
        self._timer: Any = None
        self._timer_at = 0.0
        self._progress: tuple[int, float] = (0, 0.0)  # a pull body's output, and since when
        self._progress_timer: Any = None
        self._gate = False  # we are the transport's producer (no body producer is)
        self._output_full = False  # the transport asked us to pause: the client lags
        self._send_timer: Any = None

    def __repr__(self) -> str:
        state = "closing" if self._closing else ("busy" if self._request else "idle")
        return f"<HTTPChannel {state} served={self.requestsServed}>"

    # -- connection events ---------------------------------------------------------------

    def connectionMade(self) -> None:
        site = self.site
        if self.reactor is None:
            # A Site made without a reactor runs on its connections' reactor.
            reactor = getattr(self.transport, "reactor", None)
            if reactor is not None and site._reactor is None:
                site._adopt(reactor)
            self.reactor = site.reactor
        self.secure = hasattr(self.transport, "getPeerCertificate")
        limits = site._core_limits
        self._conn = Connection(
            Role.SERVER,
            max_incomplete_event_size=limits[0],
            max_request_line_size=limits[1],
            max_header_count=limits[2],
            max_body_size=limits[3],
        )
        # Nothing received yet: the first byte starts the head's own timer.
        self._arm(_IDLE, site.headerTimeout)
        self._register_gate()

    def dataReceived(self, data: bytes) -> None:
        kind = self._kind
        if kind == _BODY:
            self._arm(_BODY, self.site.bodyTimeout)
        elif kind == _LINGER:
            return
        try:
            self._conn.receive_data(data)
        except LocalProtocolError:
            return  # data after EOF: cannot happen from a transport
        request = self._request
        if request is not None and request._body_done:
            self._held += len(data)
            if self._held > _HELD_LIMIT and not self._held_paused:
                self._held_paused = True
                self._update_reading()
            return
        self._process()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._lost = True
        self._gate = False
        self._cancel_timer()
        self._cancel_send_timer()
        self._stop_progress_watch()
        request, self._request = self._request, None
        if request is not None and not request.finished:
            request._connection_lost(reason)
        self.site._channel_closed(self)

    # -- the loop ------------------------------------------------------------------------

    def _process(self) -> None:
        """Take events from the core until it needs data or must wait for a response."""
        if self._processing:
            return
        self._processing = True
        conn = self._conn
        try:
            while not self._body_full and not self._lost:
                if self._request is None and not conn.buffered:
                    # Between requests with nothing received: the core could only say
                    # NEED_DATA (or PAUSED), and EOF never reaches it from here.
                    break
                try:
                    event = conn.next_event()
                except RemoteProtocolError as exc:
                    self._protocol_error(exc)
                    return
                kind = type(event)
                if kind is _Head:
                    self._new_request(event)  # type: ignore[arg-type]
                elif kind is Data:
                    self._data(event.data)  # type: ignore[union-attr]
                elif kind is EndOfMessage:
                    self._end_of_body()
                elif event is NEED_DATA:
                    if self._kind == _IDLE and conn.buffered:
                        # The first bytes of a head: it has headerTimeout to complete.
                        self._arm(_HEADER, self.site.headerTimeout)
                    break
                elif event is PAUSED:
                    break
                elif kind is ConnectionClosed:
                    self.transport.loseConnection()
                    break
        finally:
            self._processing = False

    def _new_request(self, head: _Head) -> None:
        fields = head.headers._lookup()
        lengths = fields.get(b"content-length")
        has_body = b"transfer-encoding" in fields or (
            lengths is not None and lengths[0].strip(b" \t0,") != b""
        )
        site = self.site
        self._held = 0
        request = site.requestFactory(self, head)
        self._request = request
        if has_body:
            self._arm(_BODY, site.bodyTimeout)
        else:
            self._kind = _NONE
            self._deadline = None
            # A request without a body is complete: take its EndOfMessage now, so the
            # response finds both sides ready for the next cycle.
            try:
                self._conn.next_event()
            except RemoteProtocolError as exc:  # pragma: no cover - the core framed it
                self._protocol_error(exc)
                return
        request._head_received(has_body)

    def _body_allowed(self, request: Request) -> bool:
        """Whether a body to buffer may come (413 when its Content-Length is too large)."""
        limit = self.site.maxBufferedBodySize
        length = request._head.headers.get(b"content-length")
        if limit is not None and length is not None:
            length = length.split(b",")[0].strip()
            if length.isdigit() and int(length) > limit:
                self._too_large(request)
                return False
        self._send_continue()
        return True

    def _data(self, data: bytes) -> None:
        request = self._request
        if request is None or request.finished:
            self._discarded += len(data)
            if self._discarded > _DISCARD_LIMIT:
                self._close(linger=True)
            return
        if not request._body_data(data):
            self._body_full = True
            self._update_reading()
        elif not request._streaming:
            self._check_size(request)

    def _end_of_body(self) -> None:
        request = self._request
        if request is None or request.finished:
            self._after_response()
            return
        self._arm(_NONE, None)
        request._body_end()

    def _check_size(self, request: Request) -> None:
        limit = self.site.maxBufferedBodySize
        if limit is not None and request._body_size > limit and not request.startedWriting:
            self._too_large(request)

    def _too_large(self, request: Request) -> None:
        self._closing = True
        request._rendered = True
        request._body_failed(Failure(RequestBodyTooLarge(self.site.maxBufferedBodySize)))
        from torsion.web.resource import error_page  # noqa: PLC0415 - resource imports us

        request._respond_page(413, error_page(413, "Content Too Large", ""))

    # -- called by the request -----------------------------------------------------------

    def _send_continue(self) -> None:
        """Answer ``Expect: 100-continue``, if the client is waiting for it."""
        conn = self._conn
        if conn.they_are_waiting_for_100_continue and not self._lost:
            self.transport.write(conn.send(_CONTINUE))

    def _body_wanted(self) -> None:
        """A streaming request wants more of its body."""
        self._send_continue()
        if self._body_full:
            self._body_full = False
            self._update_reading()
            self._process()

    def _request_done(self, request: Request) -> None:
        """The response to ``request`` is finished: log it, then go on or close."""
        self.requestsServed += 1
        site = self.site
        if site._access_log is not None:
            site.log(request)
        if request._streaming and not request._body_done:
            request._chunks.clear()
            self._body_full = False
        self._after_response()

    def _after_response(self) -> None:
        conn = self._conn
        our, their = conn.our_state, conn.their_state
        if our is _DONE and their is _DONE and not self._closing:
            conn.start_next_cycle()
            self._request = None
            self._discarded = 0
            if self._held:
                self._held = 0
                self._arm(_HEADER, self.site.headerTimeout)
            else:
                self._arm(_IDLE, self.site.timeout)
            if self._held_paused:
                self._held_paused = False
                self._update_reading()
            if not self._processing:
                self._process()
            return
        if our is _DONE and their is State.SEND_BODY and not self._closing:
            # The body was not read: drain it (up to a limit) to keep the connection.
            self._request = None
            self._arm(_BODY, self.site.bodyTimeout)
            if self._held_paused or self._body_full:
                self._held_paused = self._body_full = False
                self._update_reading()
            if not self._processing:
                self._process()
            return
        self._close(linger=their is State.SEND_BODY or their is State.ERROR)

    # -- output flow control ------------------------------------------------------------
    #
    # Between response bodies the channel itself is the transport's push producer, so a
    # client that sends requests but reads no responses fills the transport's buffer,
    # which pauses us: we stop reading its requests (memory stays bounded), and after
    # ``sendTimeout`` without the buffer draining, the connection is aborted. A body
    # producer (static files, streams) takes the transport over meanwhile, watched by
    # :class:`_WatchedProducer` for the same timeout.

    def pauseProducing(self) -> None:
        """The transport's buffer is full: stop reading requests until it drains."""
        self._output_stalled()

    def resumeProducing(self) -> None:
        """The transport's buffer drained: read requests again."""
        self._output_flowing()

    def stopProducing(self) -> None:
        """The transport is going away; ``connectionLost`` does the rest."""

    def _output_stalled(self) -> None:
        self._output_full = True
        self._update_reading()
        seconds = self.site.sendTimeout
        if seconds is not None and self._send_timer is None and not self._lost:
            self._send_timer = self.reactor.callLater(seconds, self._send_timed_out)

    def _output_flowing(self) -> None:
        self._output_full = False
        self._cancel_send_timer()
        self._update_reading()

    def _send_timed_out(self) -> None:
        self._send_timer = None
        if not self._lost:
            self.transport.abortConnection()

    def _cancel_send_timer(self) -> None:
        timer, self._send_timer = self._send_timer, None
        if timer is not None and timer.active():
            timer.cancel()

    # A pull producer is never paused (a file queued whole with ``sendfile`` is one):
    # its stalls show only as a write buffer that stops shrinking, checked a few times
    # per ``sendTimeout`` on transports that tell their buffer's size.

    def _start_progress_watch(self) -> None:
        seconds = self.site.sendTimeout
        if seconds is None or not hasattr(self.transport, "getWriteBufferSize"):
            return
        self._progress = (self.transport.getWriteBufferSize(), self.reactor.seconds())
        self._progress_timer = self.reactor.callLater(seconds / 4, self._check_progress)

    def _check_progress(self) -> None:
        self._progress_timer = None
        seconds = self.site.sendTimeout
        if self._lost or seconds is None:
            return
        size, now = self.transport.getWriteBufferSize(), self.reactor.seconds()
        last, since = self._progress
        if size < last or size == 0:
            self._progress = (size, now)  # bytes went out
        elif now - since >= seconds:
            self.transport.abortConnection()
            return
        else:
            self._progress = (size, since)  # more queued, none sent: still stalled
        self._progress_timer = self.reactor.callLater(seconds / 4, self._check_progress)

    def _stop_progress_watch(self) -> None:
        timer, self._progress_timer = self._progress_timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _register_gate(self) -> None:
        if not self._gate and not self._lost and self._kind != _LINGER:
            self._gate = True
            self.transport.registerProducer(self, True)

    def _unregister_gate(self) -> None:
        if self._gate:
            self._gate = False
            self.transport.unregisterProducer()
            self._output_full = False
            self._cancel_send_timer()

    def _register_body_producer(self, producer: Any, streaming: bool) -> Any:
        """Hand the transport to a response body's producer; returns what was registered."""
        self._unregister_gate()
        watched = _WatchedProducer(self, producer) if streaming else producer
        self.transport.registerProducer(watched, streaming)
        if not streaming:
            self._start_progress_watch()
        return watched

    def _unregister_body_producer(self) -> None:
        self._stop_progress_watch()
        if not self._lost:
            self.transport.unregisterProducer()
            self._output_flowing()
            if not self._closing:
                self._register_gate()

    # -- closing -------------------------------------------------------------------------

    def _close(self, linger: bool) -> None:
        """Close after what was written; with ``linger``, drain the client's bytes first."""
        if self._lost or self._kind == _LINGER:
            return
        transport = self.transport
        # A close waits for the buffer to flush: not forever for a client that reads
        # nothing. (And not for our gate: a registered producer holds a close back.)
        self._unregister_gate()
        seconds = self.site.sendTimeout
        if seconds is not None and self._send_timer is None:
            self._send_timer = self.reactor.callLater(seconds, self._send_timed_out)
        if linger and hasattr(transport, "loseWriteConnection"):
            self._arm(_LINGER, _LINGER_SECONDS)
            if self._reading_paused:
                self._body_full = self._held_paused = False
                self._update_reading()
            transport.loseWriteConnection()
        else:
            self._arm(_NONE, None)
            transport.loseConnection()

    def writeConnectionLost(self) -> None:
        """Our side is shut (lingering close): the client's EOF or the timer ends it."""

    def _protocol_error(self, exc: RemoteProtocolError) -> None:
        request = self._request
        if request is not None and not request.finished:
            request._connection_lost(Failure(exc))
            if request.startedWriting:
                self._close(linger=True)
                return
        self._error_response(exc.error_status_hint, request)

    def _error_response(self, status: int, request: Request | None) -> None:
        """Answer ``status`` with ``Connection: close`` (no request, or none started)."""
        from torsion.web.resource import error_page  # noqa: PLC0415 - resource imports us

        site = self.site
        body = error_page(status, "", "")
        head = Response(
            status_code=status,
            headers=[
                (b"Content-Type", b"text/html; charset=utf-8"),
                (b"Content-Length", b"%d" % len(body)),
                (b"Date", site._date()),
                (b"Connection", b"close"),
            ],
        )
        conn = self._conn
        try:
            wire = conn.send(head) + conn.send(Data(body)) + conn.send(EndOfMessage())
        except LocalProtocolError:
            wire = b""  # our side cannot answer now (it was mid-response)
        self._closing = True
        if wire:
            self.transport.write(wire)
        if site._access_log is not None:
            site._log_line(self.transport.getPeer(), request, status, len(body) if wire else 0)
        self._close(linger=True)

    # -- reading -------------------------------------------------------------------------

    def _update_reading(self) -> None:
        paused = self._body_full or self._held_paused or self._output_full
        if paused == self._reading_paused or self._lost:
            return
        self._reading_paused = paused
        if paused:
            self.transport.pauseProducing()
        else:
            self.transport.resumeProducing()

    # -- timers --------------------------------------------------------------------------

    def _arm(self, kind: int, seconds: float | None) -> None:
        """Wait for ``kind`` at most ``seconds`` from now (``None``: no limit)."""
        self._kind = kind
        if seconds is None:
            self._deadline = None
            return
        deadline = self.reactor.seconds() + seconds
        self._deadline = deadline
        timer = self._timer
        if timer is None:
            self._timer = self.reactor.callLater(seconds, self._timed_out)
            self._timer_at = deadline
        elif deadline < self._timer_at:
            timer.cancel()
            self._timer = self.reactor.callLater(seconds, self._timed_out)
            self._timer_at = deadline

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _timed_out(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None or self._lost:
            return
        now = self.reactor.seconds()
        if now < deadline:
            self._timer = self.reactor.callLater(deadline - now, self._timed_out)
            self._timer_at = deadline
            return
        kind = self._kind
        self._deadline = None
        if kind == _HEADER:
            self._header_timeout()
        elif kind == _BODY:
            self._body_timeout()
        elif kind == _LINGER:
            self.transport.loseConnection()
        else:
            self._close(linger=False)

    def _header_timeout(self) -> None:
        # The core cannot send a response to a request it has not parsed: write the
        # 408 ourselves, then close.
        body = b""
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: %d\r\n"
            b"Date: %s\r\n\r\n%s" % (len(body), self.site._date(), body)
        )
        self._closing = True
        self._close(linger=False)

    def _body_timeout(self) -> None:
        request = self._request
        if request is None or request.startedWriting or request.finished:
            self._close(linger=False)
            return
        request._connection_lost(Failure(error.TimeoutError("the request body stalled")))
        self._error_response(408, request)

    # -- graceful shutdown ---------------------------------------------------------------

    def _shutdown(self) -> None:
        """Close now if idle; otherwise after the response in progress."""
        self._closing = True
        if self._request is None and not self._lost:
            self._close(linger=False)

    def _abort(self) -> None:
        if not self._lost:
            self.transport.abortConnection()


class _WatchedProducer:
    """A response body's push producer, as the transport sees it: pauses start the
    channel's send timeout, resumes stop it."""

    __slots__ = ("_channel", "producer")

    def __init__(self, channel: HTTPChannel, producer: Any) -> None:
        self._channel = channel
        self.producer = producer

    def pauseProducing(self) -> None:
        self._channel._output_stalled()
        self.producer.pauseProducing()

    def resumeProducing(self) -> None:
        self._channel._output_flowing()
        self.producer.resumeProducing()

    def stopProducing(self) -> None:
        self.producer.stopProducing()


class RequestBodyTooLarge(Exception):
    """The request body is larger than the site's ``maxBufferedBodySize``."""

    def __init__(self, limit: int | None) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit

