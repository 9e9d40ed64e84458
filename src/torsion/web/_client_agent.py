"""``Agent``: HTTP requests to URLs, over pooled connections, with TLS for ``https``.

An agent parses the URL, picks an endpoint (``HostnameEndpoint`` for ``http``: both
address families raced, RFC 8305; the same with TLS for ``https``, verifying the
certificate chain and host name by default), takes a connection from its pool and
sends the request on it::

    agent = Agent(reactor)
    response = await agent.request(b"GET", b"https://example.com/")
    body = await readBody(response)

A request that fails on a reused keep-alive connection before any byte of the answer
came (the server closed the idle connection meanwhile) is sent again once on a new
connection, if its method is idempotent and its body can be sent again.

Names mirror ``twisted.web.client`` (``Agent``, ``URI``, ``BrowserLikePolicyForHTTPS``,
``Agent.usingEndpointFactory``); camelCase is the contract.
"""

from __future__ import annotations

import ssl
from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from torsion import error
from torsion.defer import Deferred, ensureDeferred, fail
from torsion.endpoints import HostnameEndpoint
from torsion.endpoints import _TLSHostnameEndpoint as _TLSEndpoint  # see the report: wrapClientTLS
from torsion.ssl import ClientTLSOptions, optionsForClientTLS

from ._client_body import IBodyProducer
from ._client_errors import RequestTransmissionFailed, ResponseNeverReceived, SchemeNotSupported
from ._client_headers import HeaderInput, as_headers
from ._client_pool import HTTPConnectionPool
from ._client_protocol import HTTP11ClientProtocol
from ._client_response import Request, Response

__all__ = [
    "Agent",
    "BrowserLikePolicyForHTTPS",
    "IAgent",
    "IAgentEndpointFactory",
    "URI",
    "as_bytes",
]

_DEFAULT_PORTS = {b"http": 80, b"https": 443}
# RFC 9110 section 9.2.2: safe to send twice.
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
# Characters left as they are when percent-encoding a path or query.
_SAFE = "/?#[]@!$&'()*+,;=:%~-._"


def as_bytes(value: str | bytes, what: str) -> bytes:
    """``value`` as bytes (``str`` must be ASCII).

    Raises:
        TypeError: neither bytes nor str.
        ValueError: a str that is not ASCII.
    """
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode("ascii")
        except UnicodeEncodeError:
            raise ValueError(f"{what} {value!r} is not ASCII") from None
    raise TypeError(f"{what} must be bytes or str, not {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class URI:
    """An absolute ``http``/``https`` URL, split (``twisted.web.client.URI``).

    Example:
        >>> uri = URI.fromBytes(b"http://example.com:8080/a?b=1#frag")
        >>> uri.host, uri.port, uri.originForm
        (b'example.com', 8080, b'/a?b=1')

    Attributes:
        scheme: ``b"http"`` or ``b"https"``.
        netloc: host and port as written (IPv6 in brackets).
        host: the host, IDNA-encoded, without brackets.
        port: the port (the scheme's default when not written).
        path: the path (``b"/"`` when empty).
        query: the query, without ``?``.
        fragment: the fragment, without ``#`` (never sent).
    """

    scheme: bytes
    netloc: bytes
    host: bytes
    port: int
    path: bytes
    query: bytes = b""
    fragment: bytes = b""

    @classmethod
    def fromBytes(cls, uri: bytes | str, defaultPort: int | None = None) -> URI:
        """Parse an absolute URL; non-ASCII text is percent-encoded (UTF-8) or IDNA-encoded.

        Raises:
            SchemeNotSupported: the scheme is not http or https.
            ValueError: no host, a bad port, or a host that cannot be encoded.
        """
        if isinstance(uri, bytes):
            # Bytes beyond ASCII are taken one by one and percent-encoded as they are.
            text, encoding = uri.decode("latin-1"), "latin-1"
        elif isinstance(uri, str):
            text, encoding = uri, "utf-8"
        else:
            raise TypeError(f"a URL must be bytes or str, not {type(uri).__name__}")
        parts = urlsplit(text.strip())
        scheme = parts.scheme.lower().encode("ascii", "replace")
        if scheme not in _DEFAULT_PORTS:
            raise SchemeNotSupported(f"unsupported scheme {parts.scheme!r} in {text!r}: "
                                     "only http and https")
        hostname = parts.hostname
        if not hostname:
            raise ValueError(f"no host in URL {text!r}")
        try:
            host = hostname.encode("ascii")
        except UnicodeEncodeError:
            try:
                host = hostname.encode("idna")
            except UnicodeError as exc:
                raise ValueError(f"host {hostname!r} cannot be encoded: {exc}") from None
        try:
            written_port = parts.port
        except ValueError:
            raise ValueError(f"bad port in URL {text!r}") from None
        default = _DEFAULT_PORTS[scheme] if defaultPort is None else defaultPort
        port = default if written_port is None else written_port
        shown = b"[" + host + b"]" if b":" in host else host
        netloc = shown if written_port is None else shown + b":%d" % port
        return cls(
            scheme=scheme,
            netloc=netloc,
            host=host,
            port=port,
            path=quote(parts.path, safe=_SAFE, encoding=encoding).encode("ascii") or b"/",
            query=quote(parts.query, safe=_SAFE, encoding=encoding).encode("ascii"),
            fragment=quote(parts.fragment, safe=_SAFE, encoding=encoding).encode("ascii"),
        )

    @property
    def originForm(self) -> bytes:
        """The request-target: path and query (``b"/a?b=1"``)."""
        return self.path + (b"?" + self.query if self.query else b"")

    @property
    def origin(self) -> tuple[bytes, bytes, int]:
        """``(scheme, host, port)``: the pool's key, and what "same origin" compares."""
        return (self.scheme, self.host, self.port)

    def hostHeader(self) -> bytes:
        """The ``Host`` value: the host, with the port unless it is the scheme's default."""
        shown = b"[" + self.host + b"]" if b":" in self.host else self.host
        if self.port == _DEFAULT_PORTS[self.scheme]:
            return shown
        return shown + b":%d" % self.port

    def toBytes(self) -> bytes:
        """The URL, without the fragment."""
        return self.scheme + b"://" + self.netloc + self.originForm

    def withoutFragment(self) -> URI:
        """The same URI with no fragment."""
        return replace(self, fragment=b"")


class IAgent(Protocol):
    """Anything that sends requests: an ``Agent`` or a wrapper of one."""

    def request(
        self,
        method: bytes | str,
        uri: bytes | str,
        headers: HeaderInput = None,
        bodyProducer: IBodyProducer | None = None,
    ) -> Deferred[Response]: ...


class IAgentEndpointFactory(Protocol):
    """Chooses the endpoint to connect to for a URI (``Agent.usingEndpointFactory``)."""

    def endpointForURI(self, uri: URI) -> Any: ...


class BrowserLikePolicyForHTTPS:
    """Verify servers as a browser does: the chain against ``trustRoot`` (the platform's
    authorities by default), and the host name.

    Example::

        ca = Certificate.loadPEM(open("ca.pem").read())
        agent = Agent(reactor, BrowserLikePolicyForHTTPS(trustRoot=ca))

    Args:
        trustRoot: a ``Certificate``, ``trustRootFromCertificates(...)``, a PEM file
            path, or None for ``platformTrust()``.
    """

    def __init__(self, trustRoot: Any = None) -> None:
        self._trustRoot = trustRoot

    def creatorForNetloc(self, hostname: bytes, port: int) -> ClientTLSOptions:
        """The TLS settings for connecting to ``hostname``."""
        return optionsForClientTLS(hostname.decode("ascii"), trustRoot=self._trustRoot)


class _ContextPolicy:
    """An ``ssl.SSLContext`` given as the agent's context factory: used as it is."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context

    def creatorForNetloc(self, hostname: bytes, port: int) -> ClientTLSOptions:
        return ClientTLSOptions(hostname.decode("ascii"), self._context)


def _tls_policy(contextFactory: Any) -> Any:
    if contextFactory is None:
        return BrowserLikePolicyForHTTPS()
    if isinstance(contextFactory, ssl.SSLContext):
        return _ContextPolicy(contextFactory)
    if not hasattr(contextFactory, "creatorForNetloc"):
        raise TypeError(
            "contextFactory must have creatorForNetloc (BrowserLikePolicyForHTTPS) or be "
            f"an ssl.SSLContext, not {contextFactory!r}"
        )
    return contextFactory


class _StandardEndpointFactory:
    """``HostnameEndpoint`` for http, the same with TLS for https."""

    def __init__(
        self, reactor: Any, policy: Any, connectTimeout: float | None, bindAddress: Any
    ) -> None:
        self._reactor = reactor
        self._policy = policy
        self._connectTimeout = 30.0 if connectTimeout is None else connectTimeout
        self._bindAddress = bindAddress

    def endpointForURI(self, uri: URI) -> Any:
        host = uri.host.decode("ascii")
        if uri.scheme == b"https":
            creator = self._policy.creatorForNetloc(uri.host, uri.port)
            return _TLSEndpoint(self._reactor, host, uri.port, creator,
                                self._connectTimeout, self._bindAddress)
        return HostnameEndpoint(self._reactor, host, uri.port, self._connectTimeout,
                                self._bindAddress)


def _is_stale_connection_failure(failure_value: BaseException) -> bool:
    """Whether a failure looks like a keep-alive connection the server had closed."""
    if not isinstance(failure_value, ResponseNeverReceived | RequestTransmissionFailed):
        return False
    return all(r.check(error.ConnectionClosed, ConnectionError) for r in failure_value.reasons)


class Agent:
    """Sends HTTP/1.1 requests to ``http`` and ``https`` URLs.

    Example::

        agent = Agent(reactor, pool=HTTPConnectionPool(reactor))
        d = agent.request(b"GET", b"http://example.com/", Headers({"Accept": ["*/*"]}))
        d.addCallback(readBody)

    Args:
        reactor: the reactor.
        contextFactory: the TLS policy for https: a ``BrowserLikePolicyForHTTPS``
            (the default verifies against the platform's authorities), anything with
            ``creatorForNetloc(host, port)``, or an ``ssl.SSLContext`` used as it is.
        connectTimeout: seconds to connect (name lookup included); 30 by default.
        bindAddress: the local address to connect from.
        pool: the connection pool; by default a non-persistent one (each request on
            its own connection, as Twisted's agent).
        readTimeout: seconds the server may stay silent while the response is awaited
            or read (``ResponseTimeout``); None for no limit.
    """

    def __init__(
        self,
        reactor: Any,
        contextFactory: Any = None,
        connectTimeout: float | None = None,
        bindAddress: Any = None,
        pool: HTTPConnectionPool | None = None,
        *,
        readTimeout: float | None = None,
    ) -> None:
        self._init(
            reactor,
            _StandardEndpointFactory(reactor, _tls_policy(contextFactory), connectTimeout,
                                     bindAddress),
            pool,
            readTimeout,
        )

    def _init(
        self,
        reactor: Any,
        endpointFactory: IAgentEndpointFactory,
        pool: HTTPConnectionPool | None,
        readTimeout: float | None,
    ) -> None:
        self._reactor = reactor
        self._endpointFactory = endpointFactory
        self._pool = pool if pool is not None else HTTPConnectionPool(reactor, persistent=False)
        self._readTimeout = readTimeout

    @classmethod
    def usingEndpointFactory(
        cls,
        reactor: Any,
        endpointFactory: IAgentEndpointFactory,
        pool: HTTPConnectionPool | None = None,
        *,
        readTimeout: float | None = None,
    ) -> Agent:
        """An agent that asks ``endpointFactory.endpointForURI(uri)`` where to connect."""
        agent = cls.__new__(cls)
        agent._init(reactor, endpointFactory, pool, readTimeout)
        return agent

    @property
    def pool(self) -> HTTPConnectionPool:
        """The agent's connection pool."""
        return self._pool

    def request(
        self,
        method: bytes | str,
        uri: bytes | str,
        headers: HeaderInput = None,
        bodyProducer: IBodyProducer | None = None,
    ) -> Deferred[Response]:
        """Send a request; fire with the :class:`Response` once its head arrives.

        Args:
            method: the method (``b"GET"``, ``"POST"``...).
            uri: the absolute URL.
            headers: the header fields (``Host`` is added unless given).
            bodyProducer: the body, or None.

        Returns:
            A Deferred firing with the response (whatever its status), or failing with
            ``SchemeNotSupported``, ``ValueError`` (a bad URL), the connection's error
            (``DNSLookupError``, ``ConnectionRefusedError``, ``TimeoutError``, a TLS
            error) or the request's (``ResponseNeverReceived``, ``ResponseFailed``...).
        """
        try:
            method_b = as_bytes(method, "method")
            parsed = URI.fromBytes(uri)
            request_headers = as_headers(headers)
            endpoint = self._endpointFactory.endpointForURI(parsed)
        except Exception:
            return fail()
        if not request_headers.hasHeader(b"host"):
            request_headers.setRawHeaders(b"Host", [parsed.hostHeader()])
        request = Request(
            method_b, parsed.originForm, request_headers, bodyProducer,
            persistent=self._pool.persistent, absoluteURI=parsed.toBytes(),
        )
        return ensureDeferred(self._send(parsed.origin, endpoint, request))

    async def _send(self, key: Hashable, endpoint: Any, request: Request) -> Response:
        proto: HTTP11ClientProtocol = await self._pool.getConnection(key, endpoint)
        reused = proto.requests > 0
        try:
            return await proto.request(request, readTimeout=self._readTimeout)
        except (ResponseNeverReceived, RequestTransmissionFailed) as exc:
            retry = self._retry_of(request, exc, proto) if reused else None
            if retry is None:
                raise
        proto = await self._pool.getConnection(key, endpoint, fresh=True)
        return await proto.request(retry, readTimeout=self._readTimeout)

    def _retry_of(
        self, request: Request, exc: BaseException, proto: HTTP11ClientProtocol
    ) -> Request | None:
        """The request to send again after a stale keep-alive connection, or None."""
        if not self._pool.retryAutomatically or request.method not in _IDEMPOTENT:
            return None
        if proto.receivedAny or not _is_stale_connection_failure(exc):
            return None
        producer = request.bodyProducer
        if producer is not None:
            replay = getattr(producer, "replay", None)
            if replay is None:
                return None
            producer = replay()
        return Request(request.method, request.uri, request.headers, producer,
                       request.persistent, absoluteURI=request.absoluteURI)
