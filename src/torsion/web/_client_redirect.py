"""Following redirects: ``RedirectAgent`` and ``BrowserLikeRedirectAgent``.

Both wrap an agent and follow ``Location`` up to ``redirectLimit`` times (20 by default),
then fail with ``ResponseFailed([InfiniteRedirection])``. What each status does:

======  ==========================================  ===========================
status  ``RedirectAgent``                           ``BrowserLikeRedirectAgent``
======  ==========================================  ===========================
301     GET/HEAD followed; other methods refused     others become GET, no body
302     (``PageRedirect``), as Twisted               (as browsers, curl, requests)
303     GET (HEAD stays HEAD), without the body      the same
307     same method and body (refused if the body    the same
308     cannot be sent again: ``PageRedirect``)
======  ==========================================  ===========================

A body can be sent again when the request has none or its producer has ``replay()``
(``BytesBodyProducer`` has). When a redirect leaves the origin (scheme, host or port
changes), ``Authorization``, ``Proxy-Authorization`` and ``Cookie`` are dropped. When it
turns the request into a GET, the body's headers (``Content-Type``...) are dropped.
Each response's ``previousResponse`` is the redirect that led to it; the body of a
redirect is read and thrown away, so its connection can be reused.

Names mirror ``twisted.web.client``; Twisted's ``RedirectAgent`` refuses 307/308 for
methods other than GET and HEAD, torsion's follows them with the same body.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

from torsion.defer import Deferred, ensureDeferred, fail
from torsion.failure import Failure

from ._client_agent import URI, IAgent, as_bytes
from ._client_body import IBodyProducer
from ._client_errors import (
    InfiniteRedirection,
    PageRedirect,
    RedirectWithNoLocation,
    ResponseFailed,
)
from ._client_headers import HeaderInput, Headers, as_headers
from ._client_response import Response

__all__ = ["BrowserLikeRedirectAgent", "RedirectAgent"]

_CREDENTIALS = (b"authorization", b"proxy-authorization", b"cookie")
_BODY_HEADERS = (b"content-type", b"content-length", b"content-encoding",
                 b"content-language", b"content-location", b"transfer-encoding")
_DISCARD_LIMIT = 64 * 1024
"""Bytes of a redirect's body read (and thrown away) to keep its connection; past this
the connection is dropped instead."""


class _Discard:
    """Reads a redirect's body into nothing, so the connection goes back to the pool;
    ``done`` fires when the body is over (read, or dropped past the limit)."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.done: Deferred[None] = Deferred()
        self._seen = 0

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport

    def dataReceived(self, data: bytes) -> None:
        self._seen += len(data)
        if self._seen > _DISCARD_LIMIT:
            self.transport.stopProducing()

    def connectionLost(self, reason: Failure) -> None:
        """Whatever happened to the body does not matter."""
        if not self.done.called:
            self.done.callback(None)


def _discard(response: Response) -> Deferred[None]:
    """Throw the body away; fire once it is over, the connection back in the pool."""
    protocol = _Discard()
    try:
        response.deliverBody(protocol)
    except RuntimeError:
        protocol.done.callback(None)  # the body was delivered already
    return protocol.done


class RedirectAgent:
    """Follows redirects for GET and HEAD (301, 302, 303, 307, 308) and keeps the
    method and body for 307 and 308 (see the module docstring for the rules).

    Example::

        agent = RedirectAgent(Agent(reactor), redirectLimit=5)
        response = await agent.request(b"GET", b"http://example.com/old")
        response.previousResponse.code   # 301

    Args:
        agent: the agent to send each request with.
        redirectLimit: how many redirects to follow in a row.
    """

    _redirectResponses: tuple[int, ...] = (301, 302, 307, 308)
    _seeOtherResponses: tuple[int, ...] = (303,)

    def __init__(self, agent: IAgent, redirectLimit: int = 20) -> None:
        if redirectLimit < 0:
            raise ValueError("redirectLimit must be >= 0")
        self._agent = agent
        self._redirectLimit = redirectLimit

    def request(
        self,
        method: bytes | str,
        uri: bytes | str,
        headers: HeaderInput = None,
        bodyProducer: IBodyProducer | None = None,
    ) -> Deferred[Response]:
        """Send the request and follow its redirects; fire with the final response.

        Fails with ``ResponseFailed`` holding ``InfiniteRedirection`` (the limit),
        ``RedirectWithNoLocation`` or ``PageRedirect`` (a redirect not followed), with
        ``response`` set to the redirect.
        """
        try:
            method_b = as_bytes(method, "method")
            uri_b = uri if isinstance(uri, bytes) else URI.fromBytes(uri).toBytes()
            request_headers = as_headers(headers)
        except Exception:
            return fail()
        return ensureDeferred(self._follow(method_b, uri_b, request_headers, bodyProducer))

    def _method_after(self, code: int, method: bytes) -> bytes | None:
        """The method to redirect with, or None to refuse the redirect."""
        if code in self._seeOtherResponses:
            return b"HEAD" if method == b"HEAD" else b"GET"
        if code in (307, 308) or method in (b"GET", b"HEAD"):
            return method
        return None

    async def _follow(
        self,
        method: bytes,
        uri: bytes,
        headers: Headers,
        body: IBodyProducer | None,
    ) -> Response:
        previous: Response | None = None
        redirects = 0
        while True:
            response = await self._agent.request(method, uri, headers, body)
            if previous is not None:
                response.setPreviousResponse(previous)
            code = response.code
            if code not in self._redirectResponses and code not in self._seeOtherResponses:
                return response
            locations = response.headers.getRawHeaders(b"location")
            if not locations:
                await _discard(response)
                raise ResponseFailed(
                    [RedirectWithNoLocation(code, response.phrase or None, uri)], response
                )
            location = locations[0]
            if redirects >= self._redirectLimit:
                await _discard(response)
                raise ResponseFailed([InfiniteRedirection(
                    code, b"Infinite redirection detected", location=location)], response)
            new_method = self._method_after(code, method)
            if new_method is not None and new_method == method and body is not None:
                replay = getattr(body, "replay", None)
                body = replay() if replay is not None else None
                if body is None:
                    new_method = None
            if new_method is None:
                await _discard(response)
                raise ResponseFailed(
                    [PageRedirect(code, response.phrase or None, location=location)], response
                )
            new_uri = URI.fromBytes(
                urljoin(uri.decode("latin-1"), location.decode("latin-1")).encode("latin-1")
            ).toBytes()
            headers = _headers_for(headers, uri, new_uri, body_dropped=new_method != method)
            if new_method != method:
                body = None
            # Wait for the redirect's body to end: its connection can then carry the
            # next request (a small body; a large one drops the connection instead).
            await _discard(response)
            redirects += 1
            previous = response
            method, uri = new_method, new_uri


def _headers_for(headers: Headers, old: bytes, new: bytes, *, body_dropped: bool) -> Headers:
    """The headers for the next request: credentials kept only within the origin, the
    body's headers dropped with the body; ``Host`` is recomputed by the agent."""
    result = headers.copy()
    result.removeHeader(b"host")
    if URI.fromBytes(old).origin != URI.fromBytes(new).origin:
        for name in _CREDENTIALS:
            result.removeHeader(name)
    if body_dropped:
        for name in _BODY_HEADERS:
            result.removeHeader(name)
    return result


class BrowserLikeRedirectAgent(RedirectAgent):
    """A :class:`RedirectAgent` that, as browsers do, turns a 301 or 302 answer to a
    method other than GET or HEAD into a GET without the body.

    Example::

        agent = BrowserLikeRedirectAgent(Agent(reactor))
        await agent.request(b"POST", url, bodyProducer=BytesBodyProducer(b"a=1"))
    """

    _redirectResponses = (307, 308)
    _seeOtherResponses = (301, 302, 303)
