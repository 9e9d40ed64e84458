"""The HTTP/1.1 connection: state, parsing and serialising glued together, sans I/O.

A :class:`Connection` is one end of one TCP connection, as client or server. Feed it
what arrives (``receive_data``), take events out (``next_event``), turn your events
into bytes (``send``); writing those bytes and reading more is the caller's job::

    conn = Connection(Role.SERVER)
    conn.receive_data(b"GET / HTTP/1.1\\r\\nHost: example.com\\r\\n\\r\\n")
    conn.next_event()   # Request(method=b'GET', target=b'/', ...)
    conn.next_event()   # EndOfMessage(headers=Headers([]))
    conn.next_event()   # NEED_DATA
    out = conn.send(Response(status_code=200, headers=[("Content-Length", "2")]))
    out += conn.send(Data(b"hi")) + conn.send(EndOfMessage())
    conn.start_next_cycle()   # keep-alive: ready for the next request

``next_event`` raises :class:`RemoteProtocolError` and nothing else: any other
exception from it is a bug (the fuzz tests check exactly that).
"""

from __future__ import annotations

from enum import Enum
from typing import assert_never

from ._errors import LocalProtocolError, RemoteProtocolError
from ._events import (
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Headers,
    InformationalResponse,
    Request,
    Response,
)
from ._framing import (
    Framing,
    check_connect_accept,
    check_informational,
    expects_continue,
    keep_alive,
    prepare_request,
    prepare_response,
    proposes_upgrade,
    request_framing,
    response_framing,
)
from ._readers import (
    EMPTY_BODY,
    BodyReader,
    Limits,
    body_reader,
    read_request_head,
    read_response_head,
)
from ._receivebuffer import ReceiveBuffer
from ._state import ConnectionState, Input, Role, State, SwitchKind
from ._writers import (
    BodyWriter,
    ContentLengthWriter,
    Write,
    body_writer,
    write_request_head,
    write_response_head,
)

__all__ = ["NEED_DATA", "PAUSED", "Connection", "Sentinel"]


class Sentinel(Enum):
    """What ``next_event`` returns when it has no event."""

    def __repr__(self) -> str:
        return self.name

    NEED_DATA = "NEED_DATA"
    """Nothing complete is buffered: receive more bytes (or EOF), then ask again."""
    PAUSED = "PAUSED"
    """The peer's message is complete and more bytes are waiting, but they belong to the
    next cycle (call ``start_next_cycle``) or to another protocol (``trailing_data``)."""


NEED_DATA = Sentinel.NEED_DATA
PAUSED = Sentinel.PAUSED

_DEFAULT_MAX_INCOMPLETE_EVENT_SIZE = 16 * 1024
_DEFAULT_MAX_REQUEST_LINE_SIZE = 8 * 1024
_DEFAULT_MAX_HEADER_COUNT = 100

_READ_HEAD_STATES = (State.IDLE, State.SEND_RESPONSE)
# Members the hot paths use, as module constants: on Python 3.11 ``State.DONE`` is an
# unspecialised class-attribute lookup, paid several times per request.
_CLIENT = Role.CLIENT
_ERROR, _SEND_BODY, _DONE = State.ERROR, State.SEND_BODY, State.DONE
_SEND_RESPONSE = State.SEND_RESPONSE
_REQUEST, _END_OF_MESSAGE = Input.REQUEST, Input.END_OF_MESSAGE
_NO_TRAILERS = Headers._trusted(())

# Fields that make a request more than "a head, no body, keep-alive as its version
# says": a request with none of them (most GETs) skips the framing and option rules.
_REQUEST_RULE_FIELDS = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"expect", b"upgrade"}
)
# Fields that make a response's framing or connection handling more than "exactly
# Content-Length bytes, the connection kept": checked by ``prepare_response``.
_RESPONSE_RULE_FIELDS = frozenset({b"transfer-encoding", b"connection"})


def _informational_input(event: InformationalResponse) -> Input:
    # A 101 is a switch the state machine checks against the client's proposal.
    return Input.ACCEPT_UPGRADE if event.status_code == 101 else Input.INFORMATIONAL


class Connection:
    """One end of an HTTP/1.1 connection, as a state machine over bytes and events.

    Args:
        our_role: ``Role.CLIENT`` or ``Role.SERVER``.
        max_incomplete_event_size: the largest head (start line and header fields,
            or trailers) accepted, in bytes: 431 past it. 16 KiB, like h11 and
            Node.js (--max-http-header-size); nginx allows 4 buffers of 8 KiB,
            Apache 100 fields of 8 KiB each.
        max_request_line_size: the longest request (or status) line, in bytes: 414
            past it. 8 KiB, like nginx (one large header buffer) and Apache
            (LimitRequestLine 8190).
        max_header_count: the most header (or trailer) fields: 431 past it. 100, like
            Apache's LimitRequestFields (Node.js allows 2000; h11 has no such limit).
        max_body_size: the largest body accepted from the peer, or ``None`` for no
            limit (the default; nginx's client_max_body_size defaults to 1 MiB, a
            policy an adapter can set): 413 past it, as soon as the Content-Length
            or the chunk sizes announce it.

    Raises:
        ValueError: a limit is below 1 (``max_body_size`` below 0).

    Example:
        >>> conn = Connection(Role.CLIENT)
        >>> conn.send(Request(method="GET", target="/", headers=[("Host", "a")]))
        b'GET / HTTP/1.1\\r\\nHost: a\\r\\n\\r\\n'
        >>> conn.our_state
        <State.SEND_BODY: 'SEND_BODY'>
    """

    def __init__(
        self,
        our_role: Role,
        *,
        max_incomplete_event_size: int = _DEFAULT_MAX_INCOMPLETE_EVENT_SIZE,
        max_request_line_size: int = _DEFAULT_MAX_REQUEST_LINE_SIZE,
        max_header_count: int = _DEFAULT_MAX_HEADER_COUNT,
        max_body_size: int | None = None,
    ) -> None:
        for name, value, low in (
            ("max_incomplete_event_size", max_incomplete_event_size, 1),
            ("max_request_line_size", max_request_line_size, 1),
            ("max_header_count", max_header_count, 1),
            ("max_body_size", 0 if max_body_size is None else max_body_size, 0),
        ):
            if value < low:
                raise ValueError(f"{name} must be >= {low}")
        self.our_role = our_role
        self.their_role = our_role.peer
        self._limits = Limits(
            max_incomplete_event_size, max_request_line_size, max_header_count, max_body_size
        )
        self._cstate = ConnectionState()
        self._buffer = ReceiveBuffer()
        # The buffer's bytearray itself (it keeps its identity): emptiness and size
        # checks on the hot path without a call into ReceiveBuffer.
        self._received = self._buffer.data
        self._eof = False
        self._reader: BodyReader | None = None
        self._writer: BodyWriter | None = None
        self._request_method: bytes | None = None
        self._waiting_for_100 = False
        self.their_http_version: bytes | None = None
        """The HTTP version of the last head received (``b"1.1"``, ``b"1.0"``), or ``None``."""

    def __repr__(self) -> str:
        return (
            f"<Connection {self.our_role.value} our_state={self.our_state.name}"
            f" their_state={self.their_state.name} buffered={len(self._buffer)}>"
        )

    # -- state -------------------------------------------------------------------

    @property
    def states(self) -> dict[Role, State]:
        """A copy of both sides' states."""
        return dict(self._cstate.states)

    @property
    def our_state(self) -> State:
        """Our side's state."""
        return self._cstate.states[self.our_role]

    @property
    def their_state(self) -> State:
        """The peer's side's state."""
        return self._cstate.states[self.their_role]

    @property
    def client_is_waiting_for_100_continue(self) -> bool:
        """Whether the client sent ``Expect: 100-continue`` and holds its body back.

        True from the request head until the server sends a response (1xx or final)
        or the client sends body data anyway. A server sends
        ``InformationalResponse(status_code=100)`` to get the body, or a final
        response to refuse it (the connection then closes after the response).
        """
        return self._waiting_for_100

    @property
    def they_are_waiting_for_100_continue(self) -> bool:
        """Whether we are the server and the client is waiting for ``100 Continue``."""
        return self.their_role is Role.CLIENT and self._waiting_for_100

    @property
    def buffered(self) -> int:
        """How many bytes received are waiting to be parsed (cheaper than ``trailing_data``)."""
        return len(self._received)

    @property
    def trailing_data(self) -> tuple[bytes, bool]:
        """The bytes received and not parsed, and whether EOF came after them.

        After a protocol switch (``SWITCHED_PROTOCOL``) these belong to the new
        protocol.
        """
        return bytes(self._buffer), self._eof

    # -- receiving ---------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Add bytes received from the peer; ``b""`` means the peer closed (EOF).

        Nothing is parsed here: call :meth:`next_event`.

        Raises:
            LocalProtocolError: data after EOF was reported (our side goes to ERROR).
        """
        if data:
            if self._eof:
                self._cstate.process_error(self.our_role)
                raise LocalProtocolError("received data after EOF")
            self._buffer.append(data)
        else:
            self._eof = True

    def next_event(self) -> Event | Sentinel:
        """Parse the next event from the bytes received.

        Returns:
            An event; ``NEED_DATA`` when more bytes (or EOF) are needed; ``PAUSED``
            when the peer's message is complete and what follows must wait for
            :meth:`start_next_cycle` (or, after a switch, is not HTTP).

        Raises:
            RemoteProtocolError: the peer broke the protocol; its side is now in
                ``ERROR`` (``error_status_hint`` says what a server should answer).
                Any other exception is a bug.
        """
        state = self._cstate.states[self.their_role]
        if state is _ERROR:
            raise RemoteProtocolError("can't receive: the peer's side is in ERROR", 400)
        try:
            event = self._extract_event(state)
            if type(event) is not Sentinel:
                self._process_received(event)  # type: ignore[arg-type]
            return event
        except BaseException as exc:
            self._cstate.process_error(self.their_role)
            if isinstance(exc, LocalProtocolError):
                # The state machine refused what the peer did.
                raise RemoteProtocolError(str(exc), 400) from exc
            raise

    def _extract_event(self, state: State) -> Event | Sentinel:
        buf = self._buffer
        event: Event | None
        if state in _READ_HEAD_STATES:
            event = self._read_head(state)
        elif state is _SEND_BODY:
            assert self._reader is not None
            event = self._reader.read(buf)
            if event is None and self._eof:
                event = self._reader.read_eof()
        elif state is _DONE:
            if buf:
                return PAUSED
            return ConnectionClosed() if self._eof else NEED_DATA
        elif state in (State.MIGHT_SWITCH_PROTOCOL, State.SWITCHED_PROTOCOL):
            return PAUSED
        elif state in (State.MUST_CLOSE, State.CLOSED):
            # RFC 9112 section 9.6: nothing after a "close" message is processed.
            buf.drop(len(buf))
            return ConnectionClosed() if self._eof else NEED_DATA
        else:
            raise LocalProtocolError(f"peer can't send anything in state {state.name}")
        if event is None:
            return NEED_DATA
        return event

    def _read_head(self, state: State) -> Event | None:
        if not self._received and not self._eof:
            return None  # the common keep-alive case: nothing to parse yet
        buf = self._buffer
        if self.their_role is _CLIENT:
            event: Event | None = read_request_head(buf, self._limits)
        elif state is State.IDLE:
            if buf:
                raise RemoteProtocolError("server sent data before any request", 400)
            event = None
        else:
            event = read_response_head(buf, self._limits)
        if event is None and self._eof:
            if buf:
                raise RemoteProtocolError("peer closed the connection in the middle of a head", 400)
            if state is State.SEND_RESPONSE:
                raise RemoteProtocolError("server closed the connection without a response", 400)
            return ConnectionClosed()
        return event

    def _process_received(self, event: Event) -> None:
        role = self.their_role
        kind = type(event)
        if kind is EndOfMessage:  # the most frequent event first
            self._cstate.process_input(role, _END_OF_MESSAGE)
            self._reader = None
            if role is _CLIENT:
                self._waiting_for_100 = False
            return
        match event:
            case Request():
                if (
                    event.method == b"CONNECT"
                    or not _REQUEST_RULE_FIELDS.isdisjoint(event.headers._lookup())
                ):
                    framing, length = request_framing(event)
                    self._cstate.process_input(role, Input.REQUEST)
                    self._start_request(event)
                    self._reader = body_reader(framing, length, self._limits)
                else:
                    # No framing, switch, Expect or Connection field: the same outcome
                    # as the full rules, which would find nothing to do.
                    self._cstate.process_input(role, _REQUEST)
                    self._request_method = event.method
                    self._waiting_for_100 = False
                    if event.http_version < b"1.1":
                        self._cstate.process_keep_alive_disabled()
                    self._reader = EMPTY_BODY
                self.their_http_version = event.http_version
            case InformationalResponse():
                self._cstate.process_input(role, _informational_input(event))
                self.their_http_version = event.http_version
                self._waiting_for_100 = False
            case Response():
                if self._accepts_connect(event):
                    self._cstate.process_input(role, Input.ACCEPT_CONNECT)
                else:
                    framing, length = response_framing(event, self._request_method)
                    self._cstate.process_input(role, Input.RESPONSE)
                    self._reader = body_reader(framing, length, self._limits)
                    if framing is Framing.UNTIL_CLOSE or not keep_alive(
                        event.http_version, event.headers
                    ):
                        self._cstate.process_keep_alive_disabled()
                self.their_http_version = event.http_version
                self._waiting_for_100 = False
            case Data():
                self._cstate.process_input(role, Input.DATA)
                if role is Role.CLIENT:
                    self._waiting_for_100 = False
            case EndOfMessage():
                self._cstate.process_input(role, Input.END_OF_MESSAGE)
                self._reader = None
                if role is Role.CLIENT:
                    self._waiting_for_100 = False
            case ConnectionClosed():
                self._cstate.process_input(role, Input.CONNECTION_CLOSED)
            case _:
                assert_never(event)

    def _start_request(self, request: Request) -> None:
        """Record what the rest of the cycle depends on: method, switches, Expect, keep-alive."""
        self._request_method = request.method
        if request.method == b"CONNECT":
            self._cstate.process_client_switch_proposal(SwitchKind.CONNECT)
        if proposes_upgrade(request):
            self._cstate.process_client_switch_proposal(SwitchKind.UPGRADE)
        self._waiting_for_100 = expects_continue(request)
        if not keep_alive(request.http_version, request.headers):
            self._cstate.process_keep_alive_disabled()

    def _accepts_connect(self, response: Response) -> bool:
        return self._request_method == b"CONNECT" and 200 <= response.status_code < 300

    # -- sending -----------------------------------------------------------------

    def send(self, event: Event) -> bytes:
        """Turn one of our events into the bytes to write to the peer.

        Returns:
            The bytes to write (``b""`` for ``ConnectionClosed``: close the transport).

        Raises:
            LocalProtocolError: the event is not allowed now or is malformed; our side
                is now in ``ERROR``.
        """
        return b"".join(self.send_with_data_passthrough(event))

    def send_message(self, head: Request | Response, body: bytes = b"") -> list[bytes]:
        """Send a whole message at once: ``head``, then ``body``, then its end.

        The same as sending ``head``, ``Data(body)`` (when not empty) and
        ``EndOfMessage()`` one by one, and joining the pieces, in one call: what a
        server answering from memory does for most responses.

        Returns:
            The pieces to write, ``body`` among them uncopied.

        Raises:
            LocalProtocolError: as for :meth:`send`.
        """
        cstate = self._cstate
        role = self.our_role
        if type(head) is Response and cstate.states[role] is _SEND_RESPONSE:
            keep = cstate.keep_alive and not self._waiting_for_100
            if self._simple_length(head, keep) == len(body):
                # What the three sends would do, without the framing rules that the
                # check above has shown to have nothing to add.
                pieces: list[bytes] = []
                write_response_head(head, pieces.append)
                if body:
                    pieces.append(body)
                cstate.process_whole_response()
                self._waiting_for_100 = False
                return pieces
        pieces = self.send_with_data_passthrough(head)
        if body:
            pieces += self.send_with_data_passthrough(Data(body))
        pieces += self.send_with_data_passthrough(EndOfMessage._wire(_NO_TRAILERS))
        return pieces

    def send_with_data_passthrough(self, event: Event) -> list[bytes]:
        """Like :meth:`send`, but return the output in pieces, body data untouched.

        The ``data`` of a :class:`Data` event comes back as the very object given,
        between the framing pieces (chunk headers): nothing is copied, and an object
        that stands for bytes (a file region for ``sendfile``) passes through.

        Raises:
            LocalProtocolError: as for :meth:`send`.
        """
        if self.our_state is State.ERROR:
            raise LocalProtocolError("can't send: our side is in ERROR")
        pieces: list[bytes] = []
        try:
            self._send(event, pieces.append)
        except BaseException:
            self._cstate.process_error(self.our_role)
            raise
        return pieces

    def _send(self, event: Event, write: Write) -> None:
        role = self.our_role
        if not isinstance(event, Event):
            raise LocalProtocolError(f"can't send {event!r}: not an event")
        match event:
            case Request():
                request, framing, length, _ = prepare_request(event)
                self._cstate.process_input(role, Input.REQUEST)
                self._start_request(request)
                write_request_head(request, write)
                self._writer = body_writer(framing, length)
            case InformationalResponse():
                check_informational(event, self.their_http_version)
                self._cstate.process_input(role, _informational_input(event))
                self._waiting_for_100 = False
                write_response_head(event, write)
            case Response():
                self._send_response(event, write)
            case Data():
                self._cstate.process_input(role, Input.DATA)
                if role is Role.CLIENT:
                    self._waiting_for_100 = False
                assert self._writer is not None
                self._writer.write_data(event.data, write)
            case EndOfMessage():
                self._cstate.process_input(role, Input.END_OF_MESSAGE)
                if role is Role.CLIENT:
                    self._waiting_for_100 = False
                assert self._writer is not None
                writer, self._writer = self._writer, None
                writer.write_end(event.headers, write)
            case ConnectionClosed():
                self._cstate.process_input(role, Input.CONNECTION_CLOSED)
            case _:
                assert_never(event)

    def _send_response(self, event: Response, write: Write) -> None:
        if self._accepts_connect(event):
            check_connect_accept(event)
            self._cstate.process_input(self.our_role, Input.ACCEPT_CONNECT)
            write_response_head(event, write)
            return
        # A client still holding its body back may or may not send it after a final
        # response (RFC 9110 section 10.1.1): only closing leaves no doubt.
        keep = self._cstate.keep_alive and not self._waiting_for_100
        length = self._simple_length(event, keep)
        if length >= 0:
            self._cstate.process_input(self.our_role, Input.RESPONSE)
            write_response_head(event, write)
            self._writer = ContentLengthWriter(length)
            return
        response, framing, length, keep = prepare_response(
            event,
            request_method=self._request_method,
            peer_version=self.their_http_version,
            keep=keep,
        )
        self._cstate.process_input(self.our_role, Input.RESPONSE)
        if not keep:
            self._cstate.process_keep_alive_disabled()
        self._waiting_for_100 = False
        write_response_head(response, write)
        self._writer = body_writer(framing, length)

    def _simple_length(self, event: Response, keep: bool) -> int:
        """The body length of a response the framing rules would send unchanged, or -1.

        That is a kept-alive response with one plain Content-Length, no
        Transfer-Encoding or Connection field, to an HTTP/1.1 request other than HEAD,
        with a status that has a body: ``prepare_response`` would add nothing.
        """
        if not keep or self._request_method == b"HEAD" or event.status_code in (204, 304):
            return -1
        version = self.their_http_version
        if version is None or version < b"1.1":
            return -1
        index = event.headers._lookup()
        lengths = index.get(b"content-length")
        if (
            lengths is None
            or len(lengths) != 1
            or not _RESPONSE_RULE_FIELDS.isdisjoint(index)
            or not lengths[0].isdigit()
            or len(lengths[0]) > 18
        ):
            return -1
        return int(lengths[0])

    # -- lifecycle ---------------------------------------------------------------

    def send_failed(self) -> None:
        """Report that writing our bytes failed: our side goes to ``ERROR``."""
        self._cstate.process_error(self.our_role)

    def start_next_cycle(self) -> None:
        """Reuse the connection (keep-alive) once both sides are ``DONE``.

        Both sides go back to ``IDLE``; pipelined bytes already received are parsed
        by the next :meth:`next_event`.

        Raises:
            LocalProtocolError: either side is not ``DONE`` (states are unchanged).
        """
        self._cstate.start_next_cycle()
        self._request_method = None
        self._waiting_for_100 = False
        self._reader = None
        self._writer = None

