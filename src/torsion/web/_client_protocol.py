"""One HTTP/1.1 client connection: the sans-IO core driven from a transport.

:class:`HTTP11ClientProtocol` sends one request at a time and turns what comes back into
a :class:`Response` and its body. It is a thin adapter: the parsing, framing and
keep-alive decisions are the core's (``torsion.web.sansio``, role ``CLIENT``); this
module writes the bytes the core gives, feeds it what arrives, and maps its errors to
the client's (``ResponseFailed`` holding the ``RemoteProtocolError``).

The exchange, from the protocol's side::

    request()  -> head written; body producer registered with the transport
    head parsed -> the request's Deferred fires with the Response
    body pieces -> response._bodyDataReceived (the protocol given to deliverBody)
    end         -> connection reusable? start_next_cycle() and quiescentCallback(self),
                   then the body protocol hears ResponseDone
                   (so a request made from that callback can reuse this connection)

Failures: cancelling the request's Deferred, the read timeout, a broken connection or a
malformed response abort the connection and fail whatever is pending:
``ResponseNeverReceived`` before the head, ``RequestTransmissionFailed`` while the body
was being sent, ``ResponseFailed`` after the head or for a malformed response.

camelCase names mirror ``twisted.web._newclient``.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from torsion import error
from torsion.defer import CancelledError, Deferred, fail
from torsion.failure import Failure
from torsion.interfaces import IDelayedCall, IReactorTime
from torsion.protocol import Protocol, connectionDone
from torsion.web.sansio import (
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    InformationalResponse,
    LocalProtocolError,
    RemoteProtocolError,
    Role,
    Sentinel,
    State,
)
from torsion.web.sansio import Request as WireRequest
from torsion.web.sansio import Response as WireResponse

from ._client_body import UNKNOWN_LENGTH, IBodyProducer, Length
from ._client_errors import (
    PotentialDataLoss,
    RequestGenerationFailed,
    RequestNotSent,
    RequestTransmissionFailed,
    ResponseDone,
    ResponseFailed,
    ResponseNeverReceived,
    ResponseTimeout,
    WrongBodyLength,
)
from ._client_headers import Headers
from ._client_response import Request, Response

__all__ = ["HTTP11ClientProtocol"]

# Methods that carry a body by convention: without a producer they say Content-Length: 0
# (RFC 9110 section 8.6: a user agent should send it for POST and PUT).
_BODY_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})
_FRAMING_FIELDS = frozenset({b"content-length", b"transfer-encoding"})


class _Phase(Enum):
    QUIESCENT = "QUIESCENT"
    """No request: ready for one (or for the pool)."""
    TRANSMITTING = "TRANSMITTING"
    """The request's body is being sent."""
    WAITING = "WAITING"
    """The request is sent; the response head is awaited."""
    RECEIVING = "RECEIVING"
    """The response head arrived; its body is coming."""
    CLOSED = "CLOSED"
    """The connection is closed or being closed: no more requests."""


class _BodyConsumer:
    """What a body producer writes to: frames its bytes and writes them to the transport."""

    def __init__(self, protocol: HTTP11ClientProtocol) -> None:
        self._protocol = protocol

    def write(self, data: bytes) -> None:
        self._protocol._writeBody(data)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """The producer is registered with the transport already: nothing to do."""

    def unregisterProducer(self) -> None:
        """Nothing to do (see ``registerProducer``)."""


class HTTP11ClientProtocol(Protocol):
    """An HTTP/1.1 client connection, one request at a time.

    Example::

        proto = HTTP11ClientProtocol()
        # ... once connected (e.g. with torsion.endpoints.connectProtocol):
        headers = Headers({b"Host": [b"example.com"]})
        d = proto.request(Request(b"GET", b"/", headers, persistent=True))
        d.addCallback(readBody)

    Args:
        quiescentCallback: called with the protocol each time a response is complete
            and the connection may carry another request.
        clock: what schedules the read timeout (the reactor); without it there is none.
        lostCallback: called with the protocol once the connection is lost.

    Attributes:
        requests: how many requests were sent on this connection.
    """

    def __init__(
        self,
        quiescentCallback: Callable[[HTTP11ClientProtocol], object] | None = None,
        *,
        clock: IReactorTime | None = None,
        lostCallback: Callable[[HTTP11ClientProtocol], object] | None = None,
    ) -> None:
        self._quiescentCallback = quiescentCallback
        self._lostCallback = lostCallback
        self._clock = clock
        self._conn = Connection(Role.CLIENT)
        self._phase = _Phase.QUIESCENT
        self._request: Request | None = None
        self._finished: Deferred[Response] | None = None
        self._response: Response | None = None
        self._untilClose = False
        self._producer: IBodyProducer | None = None
        self._expected: Length = UNKNOWN_LENGTH
        self._sent = 0
        self._receivedAny = False
        self._lostReason: Failure | None = None
        self._pausers: set[str] = set()
        self._readTimeout: float | None = None
        self._timer: IDelayedCall | None = None
        self._whenLost: list[Deferred[None]] = []
        self.requests = 0

    def __repr__(self) -> str:
        return f"<HTTP11ClientProtocol {self._phase.value} requests={self.requests}>"

    @property
    def state(self) -> str:
        """``QUIESCENT``, ``TRANSMITTING``, ``WAITING``, ``RECEIVING`` or ``CLOSED``."""
        return self._phase.value

    @property
    def receivedAny(self) -> bool:
        """Whether any byte of a response arrived for the current (or last failed) request."""
        return self._receivedAny

    # -- sending ----------------------------------------------------------------------

    def request(self, request: Request, *, readTimeout: float | None = None) -> Deferred[Response]:
        """Send ``request``; fire with the :class:`Response` once its head arrives.

        Args:
            request: what to send; its headers must hold ``Host``.
            readTimeout: seconds the server may stay silent once the request is sent
                (waiting for the head, or between body pieces while the body is read and
                not paused) before the request fails with ``ResponseTimeout``; None for
                no limit.

        Returns:
            A Deferred firing with the response, or failing with
            ``RequestNotSent`` (busy or closed), ``RequestGenerationFailed``,
            ``RequestTransmissionFailed``, ``ResponseNeverReceived`` or
            ``ResponseFailed``. Cancelling it drops the connection.
        """
        if self._phase is not _Phase.QUIESCENT:
            return fail(RequestNotSent())
        try:
            head = self._wireRequest(request)
        except (LocalProtocolError, ValueError, TypeError):
            return fail(RequestGenerationFailed([Failure()]))
        try:
            data = self._conn.send(head)
        except LocalProtocolError:
            self._phase = _Phase.CLOSED
            self.transport.abortConnection()
            return fail(RequestGenerationFailed([Failure()]))
        self._request = request
        self.requests += 1
        self._receivedAny = False
        self._untilClose = False
        self._readTimeout = readTimeout
        finished: Deferred[Response] = Deferred(self._cancelRequest)
        self._finished = finished
        self.transport.write(data)
        producer = request.bodyProducer
        if producer is None:
            self._phase = _Phase.WAITING
            self._sendEnd()
        else:
            self._phase = _Phase.TRANSMITTING
            self._startBody(producer)
        self._armTimer()
        return finished

    def _wireRequest(self, request: Request) -> WireRequest:
        pairs = [
            (name, value)
            for name, values in request.headers.getAllRawHeaders()
            if name.lower() not in _FRAMING_FIELDS
            for value in values
        ]
        producer = request.bodyProducer
        if producer is not None:
            length = producer.length
            if length is UNKNOWN_LENGTH:
                pairs.append((b"Transfer-Encoding", b"chunked"))
            else:
                pairs.append((b"Content-Length", b"%d" % length))
            self._expected = length
        else:
            if request.method in _BODY_METHODS:
                pairs.append((b"Content-Length", b"0"))
            self._expected = 0
        if not request.persistent:
            pairs = [(n, v) for n, v in pairs if n.lower() != b"connection"]
            pairs.append((b"Connection", b"close"))
        self._sent = 0
        return WireRequest(method=request.method, target=request.uri, headers=pairs)

    def _startBody(self, producer: IBodyProducer) -> None:
        self._producer = producer
        self.transport.registerProducer(producer, True)
        try:
            produced = producer.startProducing(_BodyConsumer(self))
        except Exception:
            self._bodyFailed(Failure())
            return
        produced.addCallbacks(self._bodyProduced, self._bodyFailed)

    def _writeBody(self, data: bytes) -> None:
        if self._producer is None or not data:
            return  # the request was given up: drop what the producer still writes
        expected = self._expected
        if expected is not UNKNOWN_LENGTH and self._sent + len(data) > expected:
            self._bodyFailed(Failure(WrongBodyLength(
                f"the body producer wrote more than its length of {expected} bytes"
            )))
            raise WrongBodyLength(f"body is longer than the announced {expected} bytes")
        self._sent += len(data)
        self.transport.write(self._conn.send(Data(data)))

    def _bodyProduced(self, _: object) -> None:
        if self._producer is None:
            return
        expected = self._expected
        if expected is not UNKNOWN_LENGTH and self._sent != expected:
            self._bodyFailed(Failure(WrongBodyLength(
                f"the body producer wrote {self._sent} bytes, not its length of {expected}"
            )))
            return
        self._producer = None
        self.transport.unregisterProducer()
        if self._phase is _Phase.TRANSMITTING:
            self._phase = _Phase.WAITING if self._finished is not None else _Phase.RECEIVING
        self._sendEnd()
        self._armTimer()

    def _bodyFailed(self, failure: Failure) -> None:
        if self._producer is None:
            return
        self._fail(failure, RequestGenerationFailed)

    def _sendEnd(self) -> None:
        self.transport.write(self._conn.send(EndOfMessage()))

    def _stopProducer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is None:
            return
        if not self._lostReason:
            self.transport.unregisterProducer()
        try:
            producer.stopProducing()
        except Exception:
            pass

    # -- receiving --------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """Feed the core and act on the events it gives."""
        if self._phase is _Phase.CLOSED:
            return
        if self._request is None:
            # Bytes with no request outstanding: the server is confused; don't reuse.
            self._phase = _Phase.CLOSED
            self.transport.abortConnection()
            return
        self._receivedAny = True
        self._conn.receive_data(data)
        self._armTimer()
        self._process()

    def _process(self) -> None:
        while self._request is not None and self._phase is not _Phase.CLOSED:
            try:
                event = self._conn.next_event()
            except RemoteProtocolError:
                self._fail(Failure(), ResponseFailed)
                return
            if isinstance(event, Sentinel | ConnectionClosed):
                return
            if isinstance(event, InformationalResponse):
                continue
            if isinstance(event, WireResponse):
                self._gotHead(event)
            elif isinstance(event, Data):
                if self._response is not None:
                    self._response._bodyDataReceived(event.data)
            elif isinstance(event, EndOfMessage):
                self._gotEnd()
            else:  # pragma: no cover - a client never receives a Request
                raise AssertionError(f"unexpected event {event!r}")

    def _gotHead(self, event: WireResponse) -> None:
        request = self._request
        assert request is not None
        headers = Headers._from_pairs(list(event.headers))
        length = self._bodyLength(request.method, event)
        major, _, minor = event.http_version.partition(b".")
        response = Response(
            (b"HTTP", int(major), int(minor or b"0")),
            event.status_code, event.reason, headers, length, request,
        )
        response._controller = self
        self._response = response
        if self._phase is _Phase.WAITING:
            self._phase = _Phase.RECEIVING
        finished, self._finished = self._finished, None
        assert finished is not None
        finished.callback(response)

    def _bodyLength(self, method: bytes, event: WireResponse) -> Length:
        status = event.status_code
        if method == b"HEAD" or status in (204, 304):
            return 0
        headers = event.headers
        if headers.get(b"transfer-encoding") is not None:
            return UNKNOWN_LENGTH
        declared = headers.get(b"content-length")
        if declared is not None:
            # The core has checked it already: one value, digits, repeated at most.
            return int(declared.split(b",")[0])
        self._untilClose = True
        return UNKNOWN_LENGTH

    def _gotEnd(self) -> None:
        response, self._response = self._response, None
        assert response is not None
        self._cancelTimer()
        response._controller = None
        self._resumeAll()
        reason = PotentialDataLoss() if self._untilClose else ResponseDone()
        if self._producer is not None:
            # The server answered before our body was sent: this connection is done for.
            self._stopProducer()
            self._request = None
            self._phase = _Phase.CLOSED
            self.transport.abortConnection()
        else:
            self._cycleDone()
        response._bodyDataFinished(Failure(reason))

    def _cycleDone(self) -> None:
        self._request = None
        self._cancelTimer()
        conn = self._conn
        if self._lostReason is not None:
            self._phase = _Phase.CLOSED
            return
        buffered, eof = conn.trailing_data
        if conn.our_state is State.DONE and conn.their_state is State.DONE and not buffered \
                and not eof:
            conn.start_next_cycle()
            self._phase = _Phase.QUIESCENT
            if self._quiescentCallback is not None:
                self._quiescentCallback(self)
        else:
            self._phase = _Phase.CLOSED
            self.transport.loseConnection()

    # -- flow control of the response body (BodyController) ---------------------------

    def pauseBody(self, why: str) -> None:
        """Stop reading from the socket for ``why`` (one pause per reason)."""
        if why in self._pausers or self._phase is _Phase.CLOSED:
            return
        self._pausers.add(why)
        if len(self._pausers) == 1 and self._lostReason is None:
            self._cancelTimer()
            self.transport.pauseProducing()

    def resumeBody(self, why: str) -> None:
        """Drop the pause for ``why``; read again once no reason is left."""
        if why not in self._pausers:
            return
        self._pausers.discard(why)
        if not self._pausers and self._phase is not _Phase.CLOSED and self._lostReason is None:
            self.transport.resumeProducing()
            self._armTimer()

    def _resumeAll(self) -> None:
        if self._pausers:
            self._pausers.clear()
            if self._phase is not _Phase.CLOSED and self._lostReason is None:
                self.transport.resumeProducing()

    def stopBody(self) -> None:
        """The body's protocol gave up: drop the connection, fail the body."""
        self._fail(Failure(error.ConnectionAborted("the body's protocol stopped producing")),
                   ResponseFailed)

    # -- timeouts and cancellation ----------------------------------------------------

    def _armTimer(self) -> None:
        self._cancelTimer()
        timeout = self._readTimeout
        if (timeout is None or self._clock is None or self._request is None or self._pausers
                or self._producer is not None):
            # Silence is only counted once the request is sent: a server may well say
            # nothing while it reads a long upload.
            return
        self._timer = self._clock.callLater(timeout, self._timedOut, timeout)

    def _cancelTimer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None and timer.active():
            timer.cancel()

    def _timedOut(self, timeout: float) -> None:
        self._timer = None
        request = self._request
        where = request.absoluteURI.decode("ascii", "replace") if request else "?"
        waiting = "the response" if self._finished is not None else "more of the body"
        self._fail(Failure(ResponseTimeout(
            f"no data from the server for {timeout} seconds while waiting for {waiting}"
            f" of {where} (readTimeout)"
        )), None)

    def _cancelRequest(self, _: Deferred[Response]) -> None:
        self._fail(Failure(CancelledError("the request was cancelled")), ResponseNeverReceived)

    def _fail(self, reason: Failure, kind: type[Exception] | None) -> None:
        """Abandon the exchange because of ``reason``: fail what is pending, drop the
        connection.

        ``kind`` wraps the reason while the head is awaited (None: chosen from where the
        exchange is); after the head, the body fails with ``ResponseFailed``.
        """
        sending = self._producer is not None
        self._stopProducer()
        self._cancelTimer()
        self._request = None
        wasClosed = self._phase is _Phase.CLOSED
        self._phase = _Phase.CLOSED
        reasons = [reason]
        lost = self._lostReason
        if lost is not None and lost is not reason:
            reasons.insert(0, lost)
        finished, self._finished = self._finished, None
        response, self._response = self._response, None
        if finished is not None:
            if kind is None:
                kind = RequestTransmissionFailed if sending else ResponseNeverReceived
            finished.errback(Failure(kind(reasons)))
        elif response is not None:
            response._controller = None
            response._bodyDataFinished(Failure(ResponseFailed(reasons, response)))
        if lost is None and not wasClosed:
            self.transport.abortConnection()

    # -- the connection's end ---------------------------------------------------------

    def abort(self) -> Deferred[None]:
        """Drop the connection now; the Deferred fires once it is lost."""
        if self._lostReason is not None:
            done: Deferred[None] = Deferred()
            done.callback(None)
            return done
        waiting: Deferred[None] = Deferred()
        self._whenLost.append(waiting)
        if self._request is not None:
            self._fail(Failure(error.ConnectionAborted("the connection was aborted")), None)
        else:
            self._phase = _Phase.CLOSED
            self.transport.abortConnection()
        return waiting

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Finish or fail what is pending; tell the owner (the pool)."""
        self._lostReason = reason
        self._cancelTimer()
        if self._request is not None and self._phase is not _Phase.CLOSED:
            if self._finished is not None and not self._receivedAny:
                self._fail(reason, None)
            else:
                # Bytes came: the core decides whether the close ends the body
                # (no length given) or cuts it short (an error it raises).
                self._conn.receive_data(b"")
                self._process()
                if self._request is not None:
                    self._fail(reason, ResponseFailed)
        elif self._producer is not None:
            self._stopProducer()
        self._phase = _Phase.CLOSED
        if self._lostCallback is not None:
            self._lostCallback(self)
        waiting, self._whenLost = self._whenLost, []
        for d in waiting:
            d.callback(None)
