"""Content-Encoding: ``ContentDecoderAgent`` asks for compressed bodies and decodes them.

Opt-in: wrap an agent, and it sends ``Accept-Encoding`` with the codings it has decoders
for, and decodes responses that use them, as they stream::

    agent = ContentDecoderAgent(Agent(reactor), [(b"gzip", GzipDecoder),
                                                 (b"deflate", DeflateDecoder)])

A decoded response has ``length`` ``UNKNOWN_LENGTH``, no ``Content-Length`` and the
decoded codings removed from ``Content-Encoding`` (the header goes when all are). Output
is produced at most 64 KiB per decompression call, so a small compressed body cannot
make one huge buffer; ``readBody(response, maxSize=...)`` bounds the decoded total. A
corrupt or truncated stream fails the body with ``ResponseFailed`` holding the
``zlib.error``.

Names mirror ``twisted.web.client`` (``ContentDecoderAgent``, ``GzipDecoder``);
``DeflateDecoder`` is torsion's (it accepts zlib-wrapped and raw deflate, as browsers do).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

from torsion.defer import Deferred
from torsion.failure import Failure

from ._client_agent import IAgent
from ._client_body import UNKNOWN_LENGTH, IBodyProducer
from ._client_errors import ResponseDone, ResponseFailed
from ._client_headers import HeaderInput, as_headers
from ._client_response import Response

__all__ = ["ContentDecoderAgent", "DecodedResponse", "DeflateDecoder", "GzipDecoder"]

_OUT_CHUNK = 64 * 1024


def _codings(response: Response) -> list[bytes]:
    values = response.headers.getRawHeaders(b"content-encoding", [])
    return [c.strip().lower() for v in values for c in v.split(b",") if c.strip()]


class _Decompressor:
    """One zlib stream: gzip (``wbits=31``) or deflate, zlib-wrapped or raw."""

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._obj: Any = None  # made with the first bytes: an empty body is no error
        self._head = b""

    def _start(self, data: bytes) -> bytes:
        """Make the decompressor; for deflate, choose zlib or raw from the first two
        bytes (the RFC 1950 header check)."""
        if self._gzip:
            self._obj = zlib.decompressobj(31)
            return data
        data = self._head + data
        if len(data) < 2:
            self._head = data
            return b""
        self._head = b""
        cmf, flg = data[0], data[1]
        wrapped = cmf & 0x0F == 8 and (cmf * 256 + flg) % 31 == 0
        self._obj = zlib.decompressobj(15 if wrapped else -15)
        return data

    def decompress(self, data: bytes) -> list[bytes]:
        """Decode ``data``; the output in pieces of at most 64 KiB.

        Raises:
            zlib.error: the stream is corrupt.
        """
        if self._obj is None:
            if not data:
                return []
            data = self._start(data)
            if self._obj is None:
                return []
        pieces = []
        while data:
            out = self._obj.decompress(data, _OUT_CHUNK)
            if out:
                pieces.append(out)
            data = self._obj.unconsumed_tail
            if self._obj.eof:
                break
        return pieces

    def finish(self) -> bytes:
        """The last output; raises ``zlib.error`` if the stream was cut short."""
        if self._obj is None:
            if self._head:
                raise zlib.error("compressed body too short")
            return b""
        out: bytes = self._obj.flush()
        if not self._obj.eof:
            raise zlib.error("compressed body ended before the end of its stream")
        return out


class _DecodingProtocol:
    """Sits between the connection and the user's body protocol, decoding."""

    def __init__(self, inner: Any, decompressor: _Decompressor) -> None:
        self._inner = inner
        self._decompressor = decompressor
        self._failed = False
        self.transport: Any = None

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport
        self._inner.makeConnection(transport)

    def dataReceived(self, data: bytes) -> None:
        if self._failed:
            return
        try:
            pieces = self._decompressor.decompress(data)
        except zlib.error:
            self._fail(Failure())
            return
        for piece in pieces:
            self._inner.dataReceived(piece)

    def _fail(self, failure: Failure) -> None:
        self._failed = True
        self._inner.connectionLost(Failure(ResponseFailed([failure])))
        self.transport.stopProducing()

    def connectionLost(self, reason: Failure) -> None:
        if self._failed:
            return
        if reason.check(ResponseDone):
            try:
                tail = self._decompressor.finish()
            except zlib.error:
                self._failed = True
                self._inner.connectionLost(Failure(ResponseFailed([Failure()])))
                return
            if tail:
                self._inner.dataReceived(tail)
        self._inner.connectionLost(reason)


class DecodedResponse(Response):
    """A response whose body is decoded on the way to ``deliverBody``'s protocol."""

    def __init__(self, original: Response, coding: bytes, make: Callable[[], _Decompressor]):
        headers = original.headers.copy()
        headers.removeHeader(b"content-length")
        remaining = _codings(original)
        if remaining and remaining[-1] == coding:
            remaining.pop()
        if remaining:
            headers.setRawHeaders(b"Content-Encoding", [b", ".join(remaining)])
        else:
            headers.removeHeader(b"content-encoding")
        super().__init__(original.version, original.code, original.phrase, headers,
                         UNKNOWN_LENGTH, original.request)
        self.previousResponse = original.previousResponse
        self.original = original
        self._make = make

    def deliverBody(self, protocol: Any) -> None:
        """Give the decoded body to ``protocol``."""
        self.original.deliverBody(_DecodingProtocol(protocol, self._make()))


def GzipDecoder(response: Response) -> Response:
    """Decode a ``gzip`` body (the decoder factory for ``ContentDecoderAgent``)."""
    return DecodedResponse(response, b"gzip", lambda: _Decompressor(gzip=True))


def DeflateDecoder(response: Response) -> Response:
    """Decode a ``deflate`` body, zlib-wrapped (RFC 9110) or raw (what some servers send)."""
    return DecodedResponse(response, b"deflate", lambda: _Decompressor(gzip=False))


Decoder = Callable[[Response], Response]


class ContentDecoderAgent:
    """Sends ``Accept-Encoding`` and decodes the bodies that use those codings.

    Example::

        agent = ContentDecoderAgent(Agent(reactor), [(b"gzip", GzipDecoder)])
        body = await readBody(await agent.request(b"GET", url))   # decoded

    Args:
        agent: the agent to wrap.
        decoders: ``(coding, decoder)`` pairs in order of preference; a decoder takes a
            response and returns one whose body is decoded.
    """

    def __init__(self, agent: IAgent, decoders: Sequence[tuple[bytes, Decoder]]) -> None:
        self._agent = agent
        self._decoders = {name.lower(): decoder for name, decoder in decoders}
        self._accept = b", ".join(name for name, _ in decoders)

    def request(
        self,
        method: bytes | str,
        uri: bytes | str,
        headers: HeaderInput = None,
        bodyProducer: IBodyProducer | None = None,
    ) -> Deferred[Response]:
        """Send the request with ``Accept-Encoding``; fire with a decoding response."""
        request_headers = as_headers(headers)
        request_headers.setRawHeaders(b"Accept-Encoding", [self._accept])
        return self._agent.request(method, uri, request_headers, bodyProducer).addCallback(
            self._decode
        )

    def _decode(self, response: Response) -> Response:
        # Codings apply in order, so they come off last first (RFC 9110 section 8.4).
        for coding in reversed(_codings(response)):
            decoder = self._decoders.get(coding)
            if decoder is None:
                break  # an unknown coding: what is under it can't be decoded either
            response = decoder(response)
        return response
