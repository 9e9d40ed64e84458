"""The client's request and response objects, and how a response body reaches a protocol.

A :class:`Response` arrives as soon as its head is parsed; its body follows through
``deliverBody(protocol)``: the protocol gets ``makeConnection(transport)``, then
``dataReceived`` per piece, then ``connectionLost`` with ``ResponseDone`` (complete),
``PotentialDataLoss`` (ended with the connection, no length to check) or
``ResponseFailed``. The transport it gets is flow control: ``pauseProducing`` stops
reading from the socket, ``resumeProducing`` starts again, ``stopProducing`` drops the
connection. Body bytes that arrive before ``deliverBody`` is called are kept (reading
pauses once 64 KiB are waiting) and handed over first.

Names mirror ``twisted.web.client`` (camelCase is the contract); ``content()``,
``text()`` and ``json()`` are torsion's, for ``await``::

    response = await agent.request(b"GET", b"http://example.com/")
    print(response.code, await response.text())
"""

from __future__ import annotations

import json as _json
from typing import Any, Protocol

from torsion.defer import Deferred
from torsion.failure import Failure

from ._client_body import UNKNOWN_LENGTH, IBodyProducer, Length, readBody
from ._client_errors import PartialDownloadError
from ._client_headers import Headers

__all__ = ["BodyController", "Request", "Response"]

_BUFFER_PAUSE = 64 * 1024
"""Body bytes held for a response nobody reads yet, above which reading pauses."""


class BodyController(Protocol):
    """What a response needs from the connection it came on."""

    def pauseBody(self, why: str) -> None: ...

    def resumeBody(self, why: str) -> None: ...

    def stopBody(self) -> None: ...


class Request:
    """A request to send on a connection (``twisted.web._newclient.Request``).

    Args:
        method: the method (``b"GET"``).
        uri: the request-target (``b"/path?query"``).
        headers: the header fields, ``Host`` included.
        bodyProducer: the body, or None.
        persistent: whether to keep the connection open afterwards.
        absoluteURI: the full URL, for messages and redirects.
    """

    def __init__(
        self,
        method: bytes,
        uri: bytes,
        headers: Headers,
        bodyProducer: IBodyProducer | None = None,
        persistent: bool = False,
        *,
        absoluteURI: bytes | None = None,
    ) -> None:
        self.method = method
        self.uri = uri
        self.headers = headers
        self.bodyProducer = bodyProducer
        self.persistent = persistent
        self.absoluteURI = absoluteURI if absoluteURI is not None else uri

    def __repr__(self) -> str:
        return f"<Request {self.method.decode('ascii', 'replace')} {self.absoluteURI!r}>"


class Response:
    """An HTTP response: status, headers, and a body to read with ``deliverBody``.

    Attributes:
        version: ``(b"HTTP", 1, 1)``.
        code: the status code.
        phrase: the reason phrase.
        headers: the header fields (:class:`Headers`).
        length: the body's length, or ``UNKNOWN_LENGTH`` (chunked, or up to the close).
        request: the :class:`Request` this answers.
        previousResponse: the redirect response that led here, or None.

    Example::

        d = agent.request(b"GET", b"http://example.com/")
        d.addCallback(lambda response: response.content())
    """

    def __init__(
        self,
        version: tuple[bytes, int, int],
        code: int,
        phrase: bytes,
        headers: Headers,
        length: Length = UNKNOWN_LENGTH,
        request: Request | None = None,
    ) -> None:
        self.version = version
        self.code = code
        self.phrase = phrase
        self.headers = headers
        self.length = length
        self.request = request
        self.previousResponse: Response | None = None
        self._controller: BodyController | None = None
        self._protocol: Any = None
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._end: Failure | None = None
        self._finished = False  # connectionLost given to the protocol

    def __repr__(self) -> str:
        uri = self.request.absoluteURI if self.request is not None else b"?"
        return f"<Response {self.code} {self.phrase!r} for {uri!r} length={self.length!r}>"

    def setPreviousResponse(self, response: Response) -> None:
        """Record the response (a redirect) that led to this one."""
        self.previousResponse = response

    # -- the body, for users -----------------------------------------------------

    def deliverBody(self, protocol: Any) -> None:
        """Give the body to ``protocol`` (``makeConnection``, ``dataReceived``...,
        ``connectionLost``).

        Raises:
            RuntimeError: the body was delivered already.
        """
        if self._protocol is not None:
            raise RuntimeError("the body of this response was delivered already")
        self._protocol = protocol
        protocol.makeConnection(_BodyTransport(self))
        buffered, self._buffer, self._buffered = self._buffer, [], 0
        for data in buffered:
            if self._finished:
                return
            protocol.dataReceived(data)
        if self._controller is not None:
            self._controller.resumeBody("buffer")
        if self._end is not None:
            self._give_end()

    def content(self, *, maxSize: int | None = None) -> Deferred[bytes]:
        """The whole body as bytes (a body that ends with the connection is accepted).

        Example::

            data = await response.content()
        """

        def accept_unframed(failure: Failure) -> bytes:
            failure.trap(PartialDownloadError)
            body = getattr(failure.value, "response", None)
            return body if isinstance(body, bytes) else b""

        return readBody(self, maxSize=maxSize).addErrback(accept_unframed)

    def text(self, encoding: str | None = None, *, maxSize: int | None = None) -> Deferred[str]:
        """The body decoded with ``encoding``, else the Content-Type charset, else UTF-8.

        Undecodable bytes become U+FFFD.
        """
        chosen = encoding or self._charset() or "utf-8"
        return self.content(maxSize=maxSize).addCallback(
            lambda body: body.decode(chosen, "replace")
        )

    def json(self, *, maxSize: int | None = None) -> Deferred[Any]:
        """The body parsed as JSON (fails with ``ValueError`` if it is not JSON)."""
        def parse(body: bytes) -> Any:
            return _json.loads(body)

        parsed: Deferred[Any] = self.content(maxSize=maxSize).addCallback(parse)
        return parsed

    def _charset(self) -> str | None:
        for value in self.headers.getRawHeaders(b"content-type", []):
            for param in value.split(b";")[1:]:
                key, _, val = param.partition(b"=")
                if key.strip().lower() == b"charset":
                    name = val.strip().strip(b'"').decode("ascii", "replace")
                    try:
                        b"".decode(name)
                    except LookupError:
                        return None
                    return name
        return None

    # -- the body, from the connection ------------------------------------------------

    def _bodyDataReceived(self, data: bytes) -> None:
        if self._protocol is not None:
            if not self._finished:
                self._protocol.dataReceived(data)
            return
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered > _BUFFER_PAUSE and self._controller is not None:
            self._controller.pauseBody("buffer")

    def _bodyDataFinished(self, reason: Failure) -> None:
        """The body is over (``reason``: ResponseDone, PotentialDataLoss or ResponseFailed)."""
        self._controller = None
        if self._end is not None:
            return
        self._end = reason
        if self._protocol is not None:
            self._give_end()

    def _give_end(self) -> None:
        if self._finished:
            return
        self._finished = True
        assert self._end is not None
        self._protocol.connectionLost(self._end)


class _BodyTransport:
    """What a body protocol sees as its transport: flow control over the connection."""

    def __init__(self, response: Response) -> None:
        self._response = response

    def pauseProducing(self) -> None:
        """Stop reading from the server until ``resumeProducing``."""
        controller = self._response._controller
        if controller is not None:
            controller.pauseBody("protocol")

    def resumeProducing(self) -> None:
        """Read from the server again."""
        controller = self._response._controller
        if controller is not None:
            controller.resumeBody("protocol")

    def stopProducing(self) -> None:
        """Give up on the body: the connection is dropped and the protocol's
        ``connectionLost`` gets ``ResponseFailed``."""
        controller = self._response._controller
        if controller is not None:
            controller.stopBody()

    def loseConnection(self) -> None:
        """The same as ``stopProducing``."""
        self.stopProducing()
