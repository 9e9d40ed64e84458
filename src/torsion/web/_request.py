"""One HTTP request and its response, as a resource sees it.

Mirrors ``twisted.web.server.Request`` (camelCase names are the contract): the request
line and headers (``method``, ``uri``, ``path``, ``args``, ``requestHeaders``), the body
(``content``), and the response (``setResponseCode``, ``setHeader``, ``write``,
``finish``, ``notifyFinish``, ``registerProducer``). The HTTP/1.1 framing (chunked or
Content-Length, HEAD, ``Connection``) is decided by the sans-IO core; this module turns
calls into its events and the events' bytes into transport writes.

Differences from Twisted, on purpose:

* The request body is read before ``render`` (as Twisted does) only for resources
  that do not set ``streamRequestBody``; those that do are rendered as soon as the
  head arrives and read the body with :meth:`Request.readChunk` or
  ``async for chunk in request.body`` (flow controlled; ``Expect: 100-continue`` is
  answered on the first read). ``content`` is spooled to a temporary file past 1 MiB.
* ``render`` may return ``str`` (sent as UTF-8), a Deferred, a coroutine (``async
  def render_GET``), an async iterator of body pieces, or ``None`` (finish with what
  was written).
* A failure once the response has started closes the connection (a truncated body
  the client can see) instead of appending an error page to the body.
* ``finish`` after the connection is lost raises ``RuntimeError`` as in Twisted, but
  ``notifyFinish`` called after the end still fires (or fails) at once.
"""

from __future__ import annotations

import base64
import inspect
import io
import logging
import math
import tempfile
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Final, Protocol, cast
from urllib.parse import parse_qs, unquote_to_bytes

from torsion import error
from torsion._logging import log_failure
from torsion.defer import Deferred, ensureDeferred
from torsion.failure import Failure
from torsion.web._conditional import http_date, parse_http_date
from torsion.web._http_headers import Headers, field_name, field_value
from torsion.web._request_helpers import (
    BodyIterator,
    PullDriver,
    WriteGate,
    fail,
    query_args,
    split_target,
    succeed,
)
from torsion.web.sansio import Data, EndOfMessage, LocalProtocolError
from torsion.web.sansio import Headers as _WireHeaders
from torsion.web.sansio import Request as _Head
from torsion.web.sansio import Response as _Response

if TYPE_CHECKING:
    from torsion.web._channel import HTTPChannel

# The core's trusted constructors, bound once (a class-attribute lookup per call is
# not free on Python 3.11, and these run for every response).
_wire_headers = _WireHeaders._trusted
_response_head = _Response._wire

__all__ = ["CACHED", "NOT_DONE_YET", "Request", "UnsupportedMethod"]

NOT_DONE_YET: Final = 1
"""Returned by ``render`` to say: the response will be written and finished later."""

CACHED: Final = "CACHED: the client has this version (setETag, setLastModified)"
"""What ``setETag`` and ``setLastModified`` return when the request's condition holds
(the response code is then set to 304 or 412): return an empty body."""

_log = logging.getLogger("torsion.web")
_EOM = EndOfMessage()
_NO_BODY_CODES = frozenset({204, 304})
_SPOOL_SIZE = 1024 * 1024
_READ_SIZE = 65536
_BODY_HIGH_WATER = 65536
_FORM = b"application/x-www-form-urlencoded"
_KNOWN_METHODS = frozenset(
    {b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE", b"CONNECT"}
)


class UnsupportedMethod(Exception):
    """Raised by ``render`` when the resource has no method for the request's.

    The server answers 405 with an ``Allow`` header listing ``allowedMethods``
    (501 for a method HTTP does not define).

    Attributes:
        allowedMethods: the methods the resource does support.
    """

    def __init__(self, allowedMethods: list[bytes] | tuple[bytes, ...]) -> None:
        super().__init__(allowedMethods)
        self.allowedMethods = tuple(allowedMethods)


class _Renderable(Protocol):
    def render(self, request: Any) -> object: ...


class Request:
    """An HTTP request received on a connection, and its response.

    Built by the server for each request head (``Site.requestFactory(channel, head)``).

    Attributes:
        method: the method, e.g. ``b"GET"``.
        uri: the request-target as received, e.g. ``b"/search?q=x"``.
        path: ``uri`` without its query.
        args: the query arguments (and, for a url-encoded POST form, its fields):
            ``{b"q": [b"x"]}``.
        clientproto: ``b"HTTP/1.1"`` or ``b"HTTP/1.0"``.
        prepath: path segments already consumed by resource traversal.
        postpath: path segments left (unquoted), ``[b""]`` for a trailing slash.
        content: the body as a binary file, at position 0 when ``render`` runs.
        responseHeaders: the response's header fields (a :class:`Headers`).
        code: the response status; ``code_message`` its reason phrase.
        finished: 1 once :meth:`finish` ran; ``startedWriting`` once the head is sent.
        sentLength: body bytes written so far.
        channel: the connection's protocol; ``transport`` its transport; ``site``.

    Example:
        >>> from torsion.web.resource import Resource
        >>> class Hello(Resource):
        ...     isLeaf = True
        ...     def render_GET(self, request):
        ...         request.setHeader(b"content-type", b"text/plain")
        ...         return b"hello " + request.args.get(b"name", [b"world"])[0]
    """

    code = 200
    code_message = b""
    defaultContentType: bytes | None = b"text/html"
    finished = 0
    startedWriting = 0
    sentLength = 0
    producer: Any = None
    etag: bytes | None = None
    lastModified: float | None = None
    routeArgs: dict[str, str] = {}  # noqa: RUF012 - never mutated: replaced per request
    """The ``{name}`` parts of a :class:`~torsion.web.resource.Router` pattern."""

    _disconnected = False
    _rendered = False
    _streaming = False
    _body_done = False
    _body_error: Failure | None = None
    _body_size = 0
    _requestHeaders: Headers | None = None
    _notifications: list[Deferred[None]] | None = None
    _transport_producer: Any = None
    _cookies: dict[bytes, bytes] | None = None
    _chunks: deque[bytes]
    _queued = 0
    _waiter: Deferred[bytes] | None = None

    def __init__(self, channel: HTTPChannel, head: _Head) -> None:
        self.channel = channel
        self.transport = channel.transport
        self.site = channel.site
        self._head = head
        self.method = head.method
        self.uri = uri = head.target
        self.clientproto = b"HTTP/" + head.http_version
        self.responseHeaders = Headers()
        path, query = split_target(uri)
        self.path = path
        self.args: dict[bytes, list[bytes]] = query_args(query) if query else {}
        self.prepath: list[bytes] = []
        if b"%" in path:
            self.postpath = [unquote_to_bytes(s) for s in path[1:].split(b"/")]
        else:
            self.postpath = path[1:].split(b"/")
        self._resource: _Renderable | None = None

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} at 0x{id(self):x} method={self.method.decode('latin-1')}"
            f" uri={self.uri.decode('latin-1')} clientproto={self.clientproto.decode()}>"
        )

    # -- the request ---------------------------------------------------------------------

    _content: Any = None

    @property
    def content(self) -> Any:
        """The body as a binary file (made on first use: most requests have none)."""
        content = self._content
        if content is None:
            content = self._content = io.BytesIO()
        return content

    @content.setter
    def content(self, value: Any) -> None:
        self._content = value

    @property
    def requestHeaders(self) -> Headers:
        """The request's header fields (a :class:`Headers`), built on first use."""
        headers = self._requestHeaders
        if headers is None:
            headers = self._requestHeaders = Headers._from_pairs(list(self._head.headers))
        return headers

    def getHeader(self, key: bytes | str) -> bytes | None:
        """The first value of the request header ``key`` (any case), or ``None``."""
        name = key.encode("iso-8859-1") if isinstance(key, str) else key
        if self._requestHeaders is not None:
            values = self._requestHeaders.getRawHeaders(name)
            return values[0] if values else None
        return self._head.headers.get(name.lower())

    def getAllHeaders(self) -> dict[bytes, bytes]:
        """Each request header's last value, by lower-case name."""
        return {name: values[-1] for name, values in self.requestHeaders._fields.items()}

    def getClientAddress(self) -> Any:
        """The client's address (``IPv4Address`` or ``IPv6Address``, ``UNIXAddress``)."""
        return self.transport.getPeer()

    def getHost(self) -> Any:
        """Our end's address."""
        return self.transport.getHost()

    def isSecure(self) -> bool:
        """Whether the request came over TLS."""
        return self.channel.secure

    def getRequestHostname(self) -> bytes:
        """The host the client asked for (``Host`` without port), or our address."""
        host = self.getHeader(b"host")
        if host:
            if host.startswith(b"["):
                return host.split(b"]", 1)[0] + b"]"
            return host.rsplit(b":", 1)[0] if host.count(b":") == 1 else host
        return str(getattr(self.getHost(), "host", "")).encode("ascii")

    def prePathURL(self) -> bytes:
        """The absolute URL of the resource being rendered (``prepath`` only)."""
        scheme = b"https" if self.isSecure() else b"http"
        host = self.getHeader(b"host") or self.getRequestHostname()
        return b"%s://%s/%s" % (scheme, host, b"/".join(self.prepath))

    @property
    def received_cookies(self) -> dict[bytes, bytes]:
        """The cookies the client sent, by name (parsed on first use)."""
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = {}
            for header in self._head.headers.get_all(b"cookie"):
                for pair in header.split(b";"):
                    name, sep, value = pair.strip().partition(b"=")
                    if sep:
                        cookies.setdefault(name, value)
        return cookies

    def getCookie(self, key: bytes) -> bytes | None:
        """The value of the cookie ``key`` sent by the client, or ``None``."""
        return self.received_cookies.get(key)

    def getUser(self) -> bytes:
        """The user name of Basic authentication, or ``b""``."""
        return self._basic_auth()[0]

    def getPassword(self) -> bytes:
        """The password of Basic authentication, or ``b""``."""
        return self._basic_auth()[1]

    def _basic_auth(self) -> tuple[bytes, bytes]:
        value = self.getHeader(b"authorization") or b""
        scheme, _, token = value.partition(b" ")
        if scheme.lower() != b"basic":
            return b"", b""
        try:
            user, _, password = base64.b64decode(token.strip(), validate=True).partition(b":")
        except ValueError:
            return b"", b""
        return user, password

    # -- the request body ----------------------------------------------------------------

    def readChunk(self) -> Deferred[bytes]:
        """The next piece of the request body; ``b""`` once it is all read.

        For a resource with ``streamRequestBody`` this reads from the connection, with
        flow control (the server stops reading while pieces wait here), and the first
        call answers a client waiting on ``Expect: 100-continue``. Otherwise it reads
        from :attr:`content`.

        Returns:
            A Deferred firing with bytes, or failing with ``ConnectionLost`` (the
            client went away) or :class:`~torsion.web.server.RequestBodyTooLarge`.
        """
        if not self._streaming:
            return succeed(self.content.read(_READ_SIZE))
        queue = self._chunks
        if queue:
            chunk = queue.popleft()
            self._queued -= len(chunk)
            if self._queued < _BODY_HIGH_WATER:
                self.channel._body_wanted()
            return succeed(chunk)
        if self._body_error is not None:
            return fail(self._body_error)
        if self._body_done:
            return succeed(b"")
        waiter: Deferred[bytes] = Deferred()
        self._waiter = waiter
        self.channel._body_wanted()
        return waiter

    @property
    def body(self) -> AsyncIterator[bytes]:
        """The request body as an async iterator: ``async for chunk in request.body``."""
        return BodyIterator(self)

    async def readBody(self) -> bytes:
        """The whole request body (``await request.readBody()``)."""
        pieces = []
        while chunk := await self.readChunk():
            pieces.append(chunk)
        return b"".join(pieces)

    # -- driven by the channel -----------------------------------------------------------

    def _head_received(self, has_body: bool) -> None:
        """Resolve the resource; render now unless the body must be read first."""
        try:
            resource = self.site.getResourceFor(self)
        except Exception:
            self.processingFailed(Failure())
            return
        self._resource = resource
        if not has_body:
            self._body_done = True
            self.render(resource)
        elif getattr(resource, "streamRequestBody", False):
            self._streaming = True
            self._chunks = deque()
            self._queued = 0
            self._waiter = None
            self.render(resource)
        elif self.channel._body_allowed(self):
            self.content = tempfile.SpooledTemporaryFile(_SPOOL_SIZE)  # noqa: SIM115

    def _body_data(self, data: bytes) -> bool:
        """A piece of the body arrived; returns whether more is wanted now."""
        self._body_size += len(data)
        if not self._streaming:
            self.content.write(data)
            return True
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.callback(data)
            return True
        self._chunks.append(data)
        self._queued += len(data)
        return self._queued < _BODY_HIGH_WATER

    def _body_end(self) -> None:
        """The body is complete: render a buffered request, or tell a streaming reader."""
        self._body_done = True
        if self._streaming:
            waiter = self._waiter
            if waiter is not None:
                self._waiter = None
                waiter.callback(b"")
            return
        if self._rendered or self._resource is None:
            return
        content = self.content
        content.seek(0)
        if (
            self.method == b"POST"
            and self._body_size <= _SPOOL_SIZE
            and (self.getHeader(b"content-type") or b"").split(b";")[0].strip().lower() == _FORM
        ):
            try:
                form = parse_qs(content.read(), keep_blank_values=True)
            except ValueError:  # not ASCII: not a form after all
                form = {}
            for name, values in form.items():
                self.args.setdefault(name, []).extend(values)
            content.seek(0)
        self.render(self._resource)

    def _body_failed(self, reason: Failure) -> None:
        self._body_error = reason
        waiter = getattr(self, "_waiter", None)
        if waiter is not None:
            self._waiter = None
            waiter.errback(reason)

    def _connection_lost(self, reason: Failure) -> None:
        """The connection closed before the response was finished."""
        self._disconnected = True
        if not self._body_done:
            self._body_failed(reason)
        producer = self._transport_producer
        if producer is not None:
            self._transport_producer = None
            self.producer = None
            # A real transport has stopped its producer before telling us; a test
            # double (StringTransport) keeps it registered: stop it here.
            if getattr(self.transport, "producer", None) is producer is not None:
                try:
                    producer.stopProducing()
                except Exception:
                    log_failure(Failure(), "Error stopping a producer:", "torsion.web")
        notifications, self._notifications = self._notifications, None
        for d in notifications or ():
            d.errback(reason)

    # -- rendering -----------------------------------------------------------------------

    def render(self, resource: _Renderable) -> None:
        """Render ``resource`` and send what it returns (called by the server)."""
        self._rendered = True
        try:
            body = resource.render(self)
        except UnsupportedMethod as exc:
            self._unsupported(exc.allowedMethods)
            return
        except Exception:
            self.processingFailed(Failure())
            return
        if type(body) is bytes:
            if not self.finished and not self._disconnected:
                self._respond(body)
            return
        self._handle_result(body)

    def _handle_result(self, body: object) -> None:
        if self.finished or self._disconnected:
            return
        if body is NOT_DONE_YET and type(body) is int:
            return
        if isinstance(body, bytes):
            self._respond(body)
        elif isinstance(body, str):
            if self.responseHeaders._first(b"content-type") is None and self.defaultContentType:
                self.responseHeaders._set(
                    b"content-type", self.defaultContentType + b"; charset=utf-8"
                )
            self._respond(body.encode("utf-8"))
        elif body is None:
            self.finish()
        elif isinstance(body, Deferred):
            body.addCallbacks(self._handle_result, self._deferred_failed)
        elif inspect.iscoroutine(body):
            ensureDeferred(body).addCallbacks(self._handle_result, self._deferred_failed)
        elif hasattr(body, "__aiter__"):
            ensureDeferred(self._stream(cast(AsyncIterator[bytes], body))).addErrback(
                self._deferred_failed
            )
        else:
            kind = type(body).__name__
            self.processingFailed(
                Failure(TypeError(f"render returned {kind}: expected bytes, str or a Deferred"))
            )

    def _deferred_failed(self, reason: Failure) -> None:
        if reason.check(UnsupportedMethod):
            exc = cast(UnsupportedMethod, reason.value)
            self._unsupported(exc.allowedMethods)
            return
        self.processingFailed(reason)

    async def _stream(self, iterator: AsyncIterator[bytes]) -> None:
        """Write what ``iterator`` yields, waiting while the transport's buffer is full."""
        gate = WriteGate()
        self._register_transport_producer(gate, True)
        complete = False
        try:
            async for chunk in iterator:
                if self._disconnected or self.finished:
                    break
                self.write(chunk.encode("utf-8") if isinstance(chunk, str) else chunk)
                if gate.paused:
                    try:
                        await gate.wait()
                    except error.ConnectionLost:
                        break  # the client went away: not an error of the handler
            else:
                complete = True
        finally:
            aclose = getattr(iterator, "aclose", None)
            if not complete and aclose is not None:
                await aclose()
            if self._transport_producer is gate:
                self._unregister_transport_producer()
        if complete and not self.finished and not self._disconnected:
            self.finish()

    def _unsupported(self, allowed: tuple[bytes, ...]) -> None:
        from torsion.web.resource import error_page  # noqa: PLC0415 - resource imports us

        if self.method in _KNOWN_METHODS:
            self._respond_page(405, error_page(405, "", ""), b", ".join(allowed))
        else:
            self._respond_page(501, error_page(501, "", ""))

    def processingFailed(self, reason: Failure) -> None:
        """Log ``reason`` and answer 500, or close the connection if the answer started."""
        log_failure(
            reason,
            f"Error rendering {self.method.decode('latin-1')} {self.uri.decode('latin-1')}:",
            "torsion.web",
        )
        if self._disconnected or self.finished:
            return
        if self.startedWriting:
            self.transport.loseConnection()
            return
        from torsion.web.resource import error_page  # noqa: PLC0415 - resource imports us

        detail = reason.getTraceback() if self.site.displayTracebacks else ""
        self._respond_page(500, error_page(500, "Internal Server Error", detail))

    def _respond_page(self, code: int, page: bytes, allow: bytes | None = None) -> None:
        """Replace the response with an error page and send it."""
        self.code = code
        self.code_message = b""
        headers = self.responseHeaders = Headers()
        headers._set(b"content-type", b"text/html; charset=utf-8")
        if allow is not None:
            headers._set(b"allow", allow)
        self._respond(page)

    # -- the response --------------------------------------------------------------------

    def setResponseCode(self, code: int, message: bytes | None = None) -> None:
        """Set the response status (and its reason phrase, ``b""`` for the standard one).

        Raises:
            TypeError: ``code`` is not an int.
        """
        if type(code) is not int:
            raise TypeError(f"the response code must be an int, not {type(code).__name__}")
        self.code = code
        self.code_message = message or b""

    def setHeader(self, name: bytes | str, value: bytes | str) -> None:
        """Set the response header ``name`` to the single ``value``."""
        self.responseHeaders._fields[field_name(name)] = [field_value(value)]

    def setLastModified(self, when: float) -> str | None:
        """Set ``Last-Modified`` (seconds since the epoch, rounded up).

        Returns:
            :data:`CACHED` (and the code set to 304) when the client's
            ``If-Modified-Since`` says it has this version, else None.
        """
        stamp = math.ceil(when)
        if self.lastModified is None or stamp > self.lastModified:
            self.lastModified = stamp
        self.setHeader(b"last-modified", http_date(self.lastModified))
        since = self.getHeader(b"if-modified-since")
        if since:
            client = parse_http_date(since.split(b";", 1)[0])
            if client is not None and client >= self.lastModified:
                self.setResponseCode(304)
                return CACHED
        return None

    def setETag(self, etag: bytes) -> str | None:
        """Set the ``ETag`` header to ``etag`` (quotes included, as Twisted expects).

        Returns:
            :data:`CACHED` when the client's ``If-None-Match`` lists it (or ``*``),
            with the code set to 304 for GET and HEAD, 412 otherwise; else None.
        """
        if etag:
            self.etag = etag
            self.setHeader(b"etag", etag)
        tags = self.getHeader(b"if-none-match")
        if tags:
            listed = tags.replace(b",", b" ").split()
            if etag in listed or b"*" in listed:
                self.setResponseCode(304 if self.method in (b"GET", b"HEAD") else 412)
                return CACHED
        return None

    def redirect(self, url: bytes | str) -> None:
        """Answer 302 Found to ``url`` (call ``finish`` or return a body afterwards)."""
        self.setResponseCode(302)
        self.setHeader(b"location", url)

    def addCookie(
        self,
        k: bytes | str,
        v: bytes | str,
        expires: bytes | str | None = None,
        domain: bytes | str | None = None,
        path: bytes | str | None = None,
        max_age: bytes | str | int | None = None,
        comment: bytes | str | None = None,
        secure: bool | None = None,
        httpOnly: bool = False,
        sameSite: str | None = None,
    ) -> None:
        """Add a ``Set-Cookie`` header (attributes as in RFC 6265)."""

        def text(value: bytes | str | int) -> bytes:
            if isinstance(value, int):
                return b"%d" % value
            return value.encode("utf-8") if isinstance(value, str) else value

        parts = [text(k) + b"=" + text(v)]
        for label, value in (
            (b"Expires", expires), (b"Domain", domain), (b"Path", path),
            (b"Max-Age", max_age), (b"Comment", comment),
        ):
            if value is not None:
                parts.append(label + b"=" + text(value))
        if secure:
            parts.append(b"Secure")
        if httpOnly:
            parts.append(b"HttpOnly")
        if sameSite is not None:
            if sameSite.lower() not in ("lax", "strict", "none"):
                raise ValueError(f"sameSite must be lax, strict or none, not {sameSite!r}")
            parts.append(b"SameSite=" + sameSite.capitalize().encode("ascii"))
        self.responseHeaders.addRawHeader(b"set-cookie", b"; ".join(parts))

    def _head_event(self) -> _Response:
        """The response head for the core, from ``code`` and ``responseHeaders``."""
        fields = self.responseHeaders._fields
        triples = self.responseHeaders._wire()
        # The core's index by name, built alongside (it would loop over the triples).
        index = dict(fields)
        site = self.site
        if b"date" not in fields:
            date = site._date()
            triples.append((b"Date", b"date", date))
            index[b"date"] = [date]
        server = site.serverHeader
        if server and b"server" not in fields:
            triples.append((b"Server", b"server", server))
            index[b"server"] = [server]
        code = self.code
        if (
            b"content-type" not in fields
            and self.defaultContentType
            and code not in _NO_BODY_CODES
        ):
            triples.append((b"Content-Type", b"content-type", self.defaultContentType))
            index[b"content-type"] = [self.defaultContentType]
        if self.channel._closing:
            triples.append((b"Connection", b"connection", b"close"))
            index[b"connection"] = [*index.get(b"connection", []), b"close"]
        return _response_head(code, _wire_headers(triples, index), self.code_message, b"1.1")

    def _send(self, *events: Any) -> list[bytes] | None:
        """The bytes of ``events``; ``None`` (connection closed, error logged) on misuse."""
        conn = self.channel._conn
        pieces: list[bytes] = []
        try:
            for event in events:
                pieces += conn.send_with_data_passthrough(event)
        except LocalProtocolError:
            self._bad_response()
            return None
        return pieces

    def _bad_response(self) -> None:
        """The core refused our response (bad framing headers): log it and close."""
        log_failure(Failure(), f"Bad response to {self!r}:", "torsion.web")
        self.transport.loseConnection()
        self._disconnected = True

    def _respond(self, body: bytes) -> None:
        """Send the whole response: head (with Content-Length), ``body``, end."""
        if self.startedWriting:
            self.write(body)
            self.finish()
            return
        code = self.code
        fields = self.responseHeaders._fields
        if code in _NO_BODY_CODES:
            body = b""
        elif b"content-length" not in fields and b"transfer-encoding" not in fields:
            fields[b"content-length"] = [b"%d" % len(body)]
        self.startedWriting = 1
        try:
            pieces = self.channel._conn.send_message(self._head_event(), body)
        except LocalProtocolError:
            self._bad_response()
            return
        self.transport.write(b"".join(pieces))
        self.sentLength = len(body)
        self._finished()

    def write(self, data: bytes) -> None:
        """Send ``data`` as part of the response body (the head goes first).

        Without a Content-Length set, the body is chunked for an HTTP/1.1 client and
        ends with the connection for an HTTP/1.0 one. Ignored after the connection
        was lost.

        Raises:
            RuntimeError: the response was finished already.
            TypeError: ``data`` is not bytes.
        """
        if self.finished:
            raise RuntimeError("Request.write called on a request after Request.finish was called.")
        if not isinstance(data, bytes):
            raise TypeError(f"Request.write takes bytes, not {type(data).__name__}")
        if self._disconnected:
            return
        if not self.startedWriting:
            self.startedWriting = 1
            pieces = self._send(self._head_event(), Data(data)) if data else self._send(
                self._head_event()
            )
        elif data:
            pieces = self._send(Data(data))
        else:
            return
        if pieces is None:
            return
        self.sentLength += len(data)
        if len(pieces) == 1:
            self.transport.write(pieces[0])
        else:
            self.transport.writeSequence(pieces)

    def writeSequence(self, data: list[bytes]) -> None:
        """Write each of ``data`` in order."""
        for chunk in data:
            self.write(chunk)

    def finish(self) -> None:
        """End the response (sending the head first if nothing was written).

        Raises:
            RuntimeError: the connection was lost before (``notifyFinish`` tells when).
        """
        if self._disconnected:
            raise RuntimeError(
                "Request.finish called on a request after its connection was lost; "
                "use Request.notifyFinish to keep track of this."
            )
        if self.finished:
            _log.warning("Warning! request.finish called twice on %r", self)
            return
        if not self.startedWriting:
            fields = self.responseHeaders._fields
            if (
                self.code not in _NO_BODY_CODES
                and self.method != b"HEAD"
                and b"content-length" not in fields
                and b"transfer-encoding" not in fields
            ):
                fields[b"content-length"] = [b"0"]
            self.startedWriting = 1
            pieces = self._send(self._head_event(), _EOM)
        else:
            pieces = self._send(_EOM)
        if pieces is None:
            return
        if pieces:
            self.transport.write(b"".join(pieces))
        self._finished()

    def _finished(self) -> None:
        self.finished = 1
        if self._transport_producer is not None:
            self._unregister_transport_producer()
        self.producer = None
        notifications, self._notifications = self._notifications, None
        for d in notifications or ():
            d.callback(None)
        self.channel._request_done(self)

    def notifyFinish(self) -> Deferred[None]:
        """A Deferred firing with None once the response is finished, or failing
        (``ConnectionLost``/``ConnectionDone``) if the connection is lost first."""
        d: Deferred[None] = Deferred()
        if self.finished:
            d.callback(None)
        elif self._disconnected:
            d.errback(error.ConnectionLost("the connection was lost before the response ended"))
        else:
            if self._notifications is None:
                self._notifications = []
            self._notifications.append(d)
        return d

    def loseConnection(self) -> None:
        """Close the connection (after what was written is sent)."""
        self.transport.loseConnection()

    # -- producers -----------------------------------------------------------------------

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Attach a producer of the response body.

        A push producer (``streaming``) is paused while the transport's buffer is full
        and resumed when it drains; a pull producer's ``resumeProducing`` is called for
        each piece (once per reactor turn while the transport has room). Either way the
        memory used stays bounded, whatever the size of the body.

        Raises:
            ValueError: another producer is registered.
        """
        if self.producer is not None:
            raise ValueError(
                f"registering producer {producer!r} before previous one "
                f"({self.producer!r}) was unregistered"
            )
        self.producer = producer
        if self._disconnected:
            producer.stopProducing()
            return
        if streaming:
            self._register_transport_producer(producer, True)
        else:
            self._register_transport_producer(PullDriver(self, producer), True)

    def unregisterProducer(self) -> None:
        """Detach the producer (done by :meth:`finish` if still attached)."""
        if self._transport_producer is not None:
            self._unregister_transport_producer()
        self.producer = None

    def _register_transport_producer(self, producer: Any, streaming: bool) -> None:
        self._transport_producer = self.channel._register_body_producer(producer, streaming)

    def _unregister_transport_producer(self) -> None:
        self._transport_producer = None
        if not self._disconnected:
            self.channel._unregister_body_producer()

