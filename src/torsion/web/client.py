"""The HTTP/1.1 client: ``getPage`` for a page, ``Agent`` for everything else.

Mirrors ``twisted.web.client`` (and ``twisted.web.error.Error``): the names, argument
orders and camelCase methods are the contract, so Twisted client code runs after
changing its imports. The classic example::

    from torsion.web.client import getPage

    def gotresults(page: bytes) -> None:
        print(len(page))

    getPage("http://example.com/").addCallback(gotresults)

The full client::

    from torsion.web.client import Agent, HTTPConnectionPool, readBody

    pool = HTTPConnectionPool(reactor)                  # keep-alive, 2 idle per host
    agent = Agent(reactor, pool=pool, connectTimeout=10, readTimeout=30)
    response = await agent.request(b"GET", b"https://example.com/")
    print(response.code, response.headers.getRawHeaders(b"content-type"))
    body = await readBody(response)                     # or: await response.text()

Pieces, each in its own module:

* :class:`Agent` (``_client_agent``): URL to endpoint (happy eyeballs for both address
  families; TLS verified by default through ``torsion.ssl.optionsForClientTLS``), a
  connection from the pool, one request on it; a stale keep-alive connection is retried
  once for idempotent methods.
* :class:`HTTPConnectionPool` (``_client_pool``, policy in ``_client_pool_policy``).
* ``HTTP11ClientProtocol`` (``_client_protocol``): the adapter over the sans-IO core
  (``torsion.web.sansio``, role CLIENT); streaming bodies both ways with flow control.
* :class:`RedirectAgent`, :class:`BrowserLikeRedirectAgent` (``_client_redirect``):
  301/302/303/307/308, bounded (20); 303 becomes GET; 307/308 keep method and body;
  credentials dropped across origins.
* :class:`ContentDecoderAgent` with :func:`GzipDecoder`, :func:`DeflateDecoder`
  (``_client_decoders``): ``Accept-Encoding``, opt-in.
* Errors (``_client_errors``): see that module for the vocabulary.
"""

from __future__ import annotations

from typing import Any

from torsion.defer import CancelledError, Deferred, ensureDeferred
from torsion.failure import Failure
from torsion.ssl import TLSError

from ._client_agent import (
    URI,
    Agent,
    BrowserLikePolicyForHTTPS,
    IAgent,
    IAgentEndpointFactory,
    as_bytes,
)
from ._client_body import (
    UNKNOWN_LENGTH,
    BytesBodyProducer,
    FileBodyProducer,
    IBodyProducer,
    readBody,
)
from ._client_decoders import ContentDecoderAgent, DecodedResponse, DeflateDecoder, GzipDecoder
from ._client_errors import (
    Error,
    InfiniteRedirection,
    PageRedirect,
    PartialDownloadError,
    PotentialDataLoss,
    RedirectLimit,
    RedirectWithNoLocation,
    RequestGenerationFailed,
    RequestNotSent,
    RequestTransmissionFailed,
    ResponseDone,
    ResponseFailed,
    ResponseNeverReceived,
    ResponseTimeout,
    ResponseTooLarge,
    SchemeNotSupported,
    WrongBodyLength,
    _WrapperException,
)
from ._client_headers import HeaderInput, Headers, as_headers
from ._client_pool import HTTPConnectionPool
from ._client_pool_policy import PoolStatistics
from ._client_protocol import HTTP11ClientProtocol
from ._client_redirect import BrowserLikeRedirectAgent, RedirectAgent
from ._client_response import Request, Response

__all__ = [
    "UNKNOWN_LENGTH",
    "URI",
    "Agent",
    "BrowserLikePolicyForHTTPS",
    "BrowserLikeRedirectAgent",
    "BytesBodyProducer",
    "ContentDecoderAgent",
    "DecodedResponse",
    "DeflateDecoder",
    "Error",
    "FileBodyProducer",
    "GzipDecoder",
    "HTTP11ClientProtocol",
    "HTTPConnectionPool",
    "Headers",
    "IAgent",
    "IAgentEndpointFactory",
    "IBodyProducer",
    "InfiniteRedirection",
    "PageRedirect",
    "PartialDownloadError",
    "PoolStatistics",
    "PotentialDataLoss",
    "RedirectAgent",
    "RedirectLimit",
    "RedirectWithNoLocation",
    "Request",
    "RequestGenerationFailed",
    "RequestNotSent",
    "RequestTransmissionFailed",
    "Response",
    "ResponseDone",
    "ResponseFailed",
    "ResponseNeverReceived",
    "ResponseTimeout",
    "ResponseTooLarge",
    "SchemeNotSupported",
    "WrongBodyLength",
    "getPage",
    "readBody",
]

_USER_AGENT = b"torsion getPage"
# Wrapped reasons that getPage raises bare: each says all there is to say.
_UNWRAP = (Error, ResponseTimeout, ResponseTooLarge, CancelledError, TLSError)


def getPage(
    url: str | bytes,
    method: str | bytes = b"GET",
    headers: HeaderInput = None,
    data: bytes | None = None,
    *,
    reactor: Any = None,
    timeout: float | None = 60.0,
    followRedirect: bool = True,
    redirectLimit: int = 20,
    contextFactory: Any = None,
    maxSize: int | None = None,
    decompress: bool = False,
    pool: HTTPConnectionPool | None = None,
    postdata: bytes | None = None,
    agent: IAgent | None = None,
) -> Deferred[bytes]:
    """Fetch ``url`` and fire with its body, for 2xx statuses.

    Example::

        d = getPage("http://127.0.0.1:8080/", reactor=reactor)
        d.addCallback(lambda page: print(page.decode()))

    Args:
        url: the absolute ``http``/``https`` URL, str or bytes.
        method: the method.
        headers: request headers (``User-Agent: torsion getPage`` unless given).
        data: the request body (``postdata`` is accepted too, as in Twisted).
        reactor: the reactor; the default reactor when None.
        timeout: seconds for the whole fetch (connect, redirects, body), or None.
        followRedirect: follow redirects as a browser (``BrowserLikeRedirectAgent``).
        redirectLimit: how many redirects to follow.
        contextFactory: the TLS policy (see ``Agent``): a ``BrowserLikePolicyForHTTPS``
            with a ``trustRoot``, or an ``ssl.SSLContext``. Verification is on by default.
        maxSize: the most body bytes accepted (``ResponseTooLarge`` past it).
        decompress: send ``Accept-Encoding: gzip, deflate`` and decode the body.
        pool: a connection pool to use (by default each fetch has its own connection,
            closed afterwards).
        postdata: another name for ``data``.
        agent: the agent to send with (``contextFactory`` and ``pool`` are then unused);
            redirects and decoding are still added as asked.

    Returns:
        A Deferred firing with the body (a body that ends with the connection is
        accepted). It fails with :class:`Error` (status, message, body) for a status
        outside 2xx; ``InfiniteRedirection``, ``RedirectWithNoLocation`` or
        ``PageRedirect`` for redirects not followed; ``ResponseTimeout`` after
        ``timeout``; ``ResponseTooLarge``; the connection's errors (``DNSLookupError``,
        ``ConnectionRefusedError``, ``torsion.ssl.TLSCertificateError`` and the other TLS
        errors); ``ResponseFailed`` for a malformed
        response (its ``reasons`` hold the ``RemoteProtocolError``) or one cut short;
        ``ResponseNeverReceived`` when the server closed without answering.
    """
    if reactor is None:
        from torsion._globalreactor import defaultReactor  # noqa: PLC0415 - only when needed

        reactor = defaultReactor("pass reactor= to getPage")
    body = data if data is not None else postdata
    if agent is None:
        agent = Agent(reactor, contextFactory=contextFactory, pool=pool)
    if decompress:
        agent = ContentDecoderAgent(agent, [(b"gzip", GzipDecoder), (b"deflate", DeflateDecoder)])
    if followRedirect:
        agent = BrowserLikeRedirectAgent(agent, redirectLimit)
    fetching = ensureDeferred(_fetch(agent, url, method, headers, body, maxSize))
    if timeout is not None:
        where = url if isinstance(url, str) else url.decode("latin-1")

        def timed_out(result: object, seconds: float) -> Failure:
            return Failure(ResponseTimeout(f"fetching {where} took longer than {seconds} seconds"))

        fetching.addTimeout(timeout, reactor, onTimeoutCancel=timed_out)
    return fetching


async def _fetch(
    agent: IAgent,
    url: str | bytes,
    method: str | bytes,
    headers: HeaderInput,
    body: bytes | None,
    maxSize: int | None,
) -> bytes:
    request_headers = as_headers(headers)
    if not request_headers.hasHeader(b"user-agent"):
        request_headers.setRawHeaders(b"User-Agent", [_USER_AGENT])
    producer = BytesBodyProducer(body) if body is not None else None
    try:
        response = await agent.request(as_bytes(method, "method"), url, request_headers, producer)
        content = await response.content(maxSize=maxSize)
    except _WrapperException as exc:
        if len(exc.reasons) == 1 and isinstance(exc.reasons[0].value, _UNWRAP):
            raise exc.reasons[0].value from exc
        raise
    if not 200 <= response.code < 300:
        raise Error(response.code, response.phrase or None, content)
    return content
