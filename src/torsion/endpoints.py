"""Endpoints: where to listen or connect, as objects or as strings.

Mirrors ``twisted.internet.endpoints`` (camelCase names and argument names are
the contract).  A server endpoint's ``listen(factory)`` returns a Deferred
firing with the listening port; a client endpoint's ``connect(factory)``
returns a Deferred firing with the connected protocol (after its
``connectionMade``), and cancelling that Deferred stops the attempt.

Example::

    endpoint = serverFromString(reactor, "tcp:8080:interface=127.0.0.1")
    endpoint.listen(Factory.forProtocol(Echo))           # Deferred[port]

    client = clientFromString(reactor, "tcp:host=example.com:port=80")
    connectProtocol(client, MyProtocol())                # Deferred[MyProtocol]

String descriptions are ``type:arg:arg:name=value...``.  A backslash makes
the next character literal (``tcp6:8080:interface=\\:\\:1``);
:func:`quoteStringArgument` escapes a value.  Server types: ``tcp``,
``tcp6``, ``ssl`` and ``unix``; client types: ``tcp``, ``tcp6``, ``tls`` and
``unix`` (see :func:`serverFromString` and :func:`clientFromString`).

Differences from Twisted:

* Bad descriptions raise ``ValueError`` naming the parameter and the rule
  (Twisted lets some through, e.g. port 70000, and raises ``TypeError`` for
  unknown parameters); a parameter given twice is an error (Twisted keeps
  the last).  Client ``tcp6`` strings are accepted.
* ``HostnameEndpoint`` starts the next attempt as soon as one fails, its
  ``timeout`` bounds the whole connect (resolution included), and when every
  address fails the error names each address with its own error.
* The ``ssl`` server type builds a standard library ``ssl.SSLContext`` (TLS
  1.2 or later) from PEM files; ``sslmethod``, ``dhParameters`` and
  ``extraCertChain`` are not accepted (put the chain in the ``certKey``
  file).  The ``tls`` client type verifies the server's certificate and name
  with :func:`torsion.ssl.optionsForClientTLS`.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from typing import Any, TypeVar

from torsion import _endpoint_strings as _s
from torsion import error
from torsion._endpoint_strings import quoteStringArgument
from torsion._happy_eyeballs import Race, Resolver, resolve_all, show_address
from torsion.defer import Deferred, execute, fail
from torsion.error import NoProtocol
from torsion.failure import Failure
from torsion.interfaces import IListeningPort, IStreamClientEndpoint, IStreamServerEndpoint
from torsion.protocol import Factory

__all__ = [
    "HostnameEndpoint",
    "IStreamClientEndpoint",
    "IStreamServerEndpoint",
    "NoProtocol",
    "SSL4ClientEndpoint",
    "SSL4ServerEndpoint",
    "TCP4ClientEndpoint",
    "TCP4ServerEndpoint",
    "TCP6ClientEndpoint",
    "TCP6ServerEndpoint",
    "UNIXClientEndpoint",
    "UNIXServerEndpoint",
    "clientFromString",
    "connectProtocol",
    "listeningURL",
    "quoteStringArgument",
    "serverFromString",
]

_P = TypeVar("_P")


# -- wrapping the caller's factory: fire a Deferred once connected ------------------


class _WrappingProtocol:
    """Forwards every event to the real protocol; fires the Deferred once connected.

    Attributes the transport looks up and we do not define
    (``readConnectionLost``, ``fileDescriptorReceived``...) come from the
    wrapped protocol, so it keeps every optional interface it has.
    """

    def __init__(self, connected: Deferred[Any], wrapped: Any) -> None:
        self._connected: Deferred[Any] | None = connected
        self._wrapped = wrapped
        self.transport: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_wrapped") or name == "_connected":
            raise AttributeError(name)
        return getattr(self._wrapped, name)

    def logPrefix(self) -> str:
        prefix = getattr(self._wrapped, "logPrefix", None)
        return str(prefix()) if callable(prefix) else type(self._wrapped).__name__

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport
        d, self._connected = self._connected, None
        try:
            self._wrapped.makeConnection(transport)
        except BaseException:
            if d is not None:
                d.errback(Failure())
            raise
        if d is not None:
            d.callback(self._wrapped)

    def dataReceived(self, data: bytes) -> None:
        self._wrapped.dataReceived(data)

    def connectionLost(self, reason: Failure) -> None:
        self._wrapped.connectionLost(reason)


class _WrappingFactory:
    """The client factory behind one ``connect``: its Deferred is the result."""

    def __init__(self, wrappedFactory: Any) -> None:
        self._wrappedFactory = wrappedFactory
        self._connector: Any = None
        self._onConnection: Deferred[Any] = Deferred(self._canceller)

    def _canceller(self, d: Deferred[Any]) -> None:
        connector = self._connector
        destination = connector.getDestination() if connector is not None else None
        d.errback(Failure(error.ConnectingCancelledError(destination)))
        if connector is not None:
            with contextlib.suppress(error.NotConnectingError):
                connector.stopConnecting()

    def doStart(self) -> None:
        self._wrappedFactory.doStart()

    def doStop(self) -> None:
        self._wrappedFactory.doStop()

    def startedConnecting(self, connector: Any) -> None:
        self._connector = connector
        started = getattr(self._wrappedFactory, "startedConnecting", None)
        if started is not None:
            started(connector)

    def buildProtocol(self, addr: Any) -> Any:
        return _wrap(self._onConnection, self._wrappedFactory, addr)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if not self._onConnection.called:
            self._onConnection.errback(reason)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        """The connection ended: the protocol's ``connectionLost`` has been told."""


def _wrap(onConnection: Deferred[Any], factory: Any, addr: Any) -> _WrappingProtocol | None:
    """Build the caller's protocol, wrapped; on failure fail ``onConnection``."""
    try:
        protocol = factory.buildProtocol(addr)
    except BaseException:
        if not onConnection.called:
            onConnection.errback(Failure())
        return None
    if protocol is None:
        if not onConnection.called:
            onConnection.errback(Failure(NoProtocol(
                f"{type(factory).__name__}.buildProtocol returned None"
            )))
        return None
    return _WrappingProtocol(onConnection, protocol)


def _connect_with(connect: Callable[[_WrappingFactory], object], factory: Any) -> Deferred[Any]:
    wrapping = _WrappingFactory(factory)
    try:
        connect(wrapping)
    except BaseException:
        return fail(Failure())
    return wrapping._onConnection


# -- server endpoints ------------------------------------------------------------------


class _PortEndpoint:
    """What the TCP server endpoints share: a port on an interface, with a backlog."""

    def __init__(self, reactor: Any, port: int, backlog: int, interface: str) -> None:
        self._reactor = reactor
        self._port = port
        self._backlog = backlog
        self._interface = interface

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._interface or '*'}:{self._port}>"


class TCP4ServerEndpoint(_PortEndpoint):
    """Listen on a TCP port over IPv4.

    Example::

        TCP4ServerEndpoint(reactor, 8080, interface="127.0.0.1").listen(factory)
    """

    def __init__(
        self, reactor: Any, port: int, backlog: int = 50, interface: str = "",
        reusePort: bool = False,
    ) -> None:
        super().__init__(reactor, port, backlog, interface)
        self._reusePort = reusePort

    def listen(self, protocolFactory: Any) -> Deferred[Any]:
        """Fire with the listening port, or fail with ``CannotListenError``."""
        # reusePort only when set: a reactor from before it need not take it.
        extra = {"reusePort": True} if self._reusePort else {}
        return execute(
            self._reactor.listenTCP, self._port, protocolFactory,
            backlog=self._backlog, interface=self._interface, **extra,
        )


class TCP6ServerEndpoint(TCP4ServerEndpoint):
    """Listen on a TCP port over IPv6 (``interface`` defaults to "::")."""

    def __init__(
        self, reactor: Any, port: int, backlog: int = 50, interface: str = "::",
        reusePort: bool = False,
    ) -> None:
        super().__init__(reactor, port, backlog, interface, reusePort)


class UNIXServerEndpoint:
    """Listen on a UNIX socket (see ``reactor.listenUNIX``)."""

    def __init__(
        self, reactor: Any, address: str, backlog: int = 50, mode: int = 0o666, wantPID: int = 0
    ) -> None:
        self._reactor = reactor
        self._address = address
        self._backlog = backlog
        self._mode = mode
        self._wantPID = bool(wantPID)

    def listen(self, protocolFactory: Any) -> Deferred[Any]:
        """Fire with the listening port, or fail with ``CannotListenError``."""
        return execute(
            self._reactor.listenUNIX, self._address, protocolFactory,
            backlog=self._backlog, mode=self._mode, wantPID=self._wantPID,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._address!r}>"


class SSL4ServerEndpoint(_PortEndpoint):
    """Listen for TLS over TCP/IPv4 (see ``reactor.listenSSL``).

    ``sslContextFactory`` is any object whose ``getContext()`` returns an
    ``ssl.SSLContext`` (for example ``torsion.ssl.CertificateOptions``).
    """

    def __init__(
        self,
        reactor: Any,
        port: int,
        sslContextFactory: Any,
        backlog: int = 50,
        interface: str = "",
    ) -> None:
        super().__init__(reactor, port, backlog, interface)
        self._sslContextFactory = sslContextFactory

    def listen(self, protocolFactory: Any) -> Deferred[Any]:
        """Fire with the listening port, or fail with ``CannotListenError``."""
        return execute(
            self._reactor.listenSSL, self._port, protocolFactory, self._sslContextFactory,
            backlog=self._backlog, interface=self._interface,
        )


# -- client endpoints ------------------------------------------------------------------


class _TCPAttempts:
    """Connection attempts with ``connectTCP`` (to a host, on the endpoint's port)."""

    _reactor: Any
    _port: int
    _timeout: float | None
    _bindAddress: tuple[str, int] | None

    def _connect_attempt(self, host: str, factory: Any) -> Any:
        return self._reactor.connectTCP(
            host, self._port, factory, timeout=self._timeout, bindAddress=self._bindAddress
        )


class _TLSAttempts(_TCPAttempts):
    """Connection attempts with ``connectSSL`` and the endpoint's TLS options."""

    _sslContextFactory: Any

    def _connect_attempt(self, host: str, factory: Any) -> Any:
        return self._reactor.connectSSL(
            host, self._port, factory, self._sslContextFactory,
            timeout=self._timeout, bindAddress=self._bindAddress,
        )


class _HostEndpoint(_TCPAttempts):
    """A client endpoint connecting to its host as given (the reactor resolves a name)."""

    def __init__(
        self,
        reactor: Any,
        host: str,
        port: int,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> None:
        self._reactor = reactor
        self._host = host
        self._port = port
        self._timeout = timeout
        self._bindAddress = bindAddress

    def connect(self, protocolFactory: Any) -> Deferred[Any]:
        """Fire with the connected protocol; fail with the connection error."""
        return _connect_with(lambda f: self._connect_attempt(self._host, f), protocolFactory)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._host}:{self._port}>"


class TCP4ClientEndpoint(_HostEndpoint):
    """Connect over TCP to a host (a name is resolved by the reactor).

    Example::

        d = TCP4ClientEndpoint(reactor, "127.0.0.1", 8080).connect(factory)
        d.cancel()          # gives up if not connected yet
    """


class UNIXClientEndpoint:
    """Connect to a UNIX socket (see ``reactor.connectUNIX``)."""

    def __init__(self, reactor: Any, path: str, timeout: float = 30, checkPID: int = 0) -> None:
        self._reactor = reactor
        self._path = path
        self._timeout = timeout
        self._checkPID = bool(checkPID)

    def connect(self, protocolFactory: Any) -> Deferred[Any]:
        """Fire with the connected protocol; fail with the connection error."""
        return _connect_with(
            lambda f: self._reactor.connectUNIX(
                self._path, f, timeout=self._timeout, checkPID=self._checkPID
            ),
            protocolFactory,
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._path!r}>"


class SSL4ClientEndpoint(_TLSAttempts, _HostEndpoint):
    """Connect with TLS over TCP (see ``reactor.connectSSL``).

    For a client that checks the server's name, give
    ``torsion.ssl.optionsForClientTLS(hostname)`` as ``sslContextFactory``.
    """

    def __init__(
        self,
        reactor: Any,
        host: str,
        port: int,
        sslContextFactory: Any,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> None:
        super().__init__(reactor, host, port, timeout, bindAddress)
        self._sslContextFactory = sslContextFactory


class _RacingEndpoint(_TCPAttempts):
    """What the endpoints that resolve a name and race its addresses share."""

    _family = socket.AF_UNSPEC

    def __init__(
        self,
        reactor: Any,
        host: str | bytes,
        port: int,
        timeout: float | None = 30,
        bindAddress: tuple[str, int] | str | None = None,
        attemptDelay: float | None = None,
    ) -> None:
        self._reactor = reactor
        if isinstance(host, bytes):
            self._hostBytes = host
            self._host = host.decode("idna")
        else:
            self._host = host
            try:
                self._hostBytes = host.encode("idna")
            except UnicodeError:
                self._hostBytes = host.encode("utf-8")
        self._port = port
        self._timeout = timeout
        self._bindAddress = (bindAddress, 0) if isinstance(bindAddress, str) else bindAddress
        self._attemptDelay = 0.3 if attemptDelay is None else attemptDelay
        family = self._family
        self._resolve: Resolver = lambda name, port: resolve_all(reactor, name, port, family)

    def connect(self, protocolFactory: Any) -> Deferred[Any]:
        """Fire with the protocol of the first address to connect.

        Fails with ``DNSLookupError`` (the name has no address), the
        connection error naming every address tried, ``TimeoutError`` after
        ``timeout`` seconds, or ``ConnectingCancelledError`` when cancelled.
        """
        race = Race(self, protocolFactory, _wrap)
        race.start()
        return race.result

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {show_address(self._host, self._port)}>"


class HostnameEndpoint(_RacingEndpoint):
    """Connect to a host name over whichever of IPv6 and IPv4 answers first.

    All the name's addresses are looked up (``getaddrinfo`` in the reactor's
    thread pool); attempts alternate between families, a new one starting
    every ``attemptDelay`` seconds (0.3 by default) or as soon as one fails;
    the first to connect wins and the others are stopped (RFC 8305).

    Example::

        endpoint = HostnameEndpoint(reactor, "example.com", 443, timeout=10)
        d = connectProtocol(endpoint, MyProtocol())

    Args:
        reactor: the reactor (with ``connectTCP`` and a thread pool).
        host: the name (str or IDNA bytes) or address.
        port: the port.
        timeout: seconds the whole connect may take (None: no limit).
        bindAddress: the local ``(host, port)`` to bind to.
        attemptDelay: seconds between starting attempts.
    """


class TCP6ClientEndpoint(_RacingEndpoint):
    """Connect over TCP/IPv6; a name is resolved to its IPv6 addresses only."""

    _family = socket.AF_INET6

    def __init__(
        self,
        reactor: Any,
        host: str,
        port: int,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> None:
        super().__init__(reactor, host, port, timeout, bindAddress)


class _TLSHostnameEndpoint(_TLSAttempts, _RacingEndpoint):
    """A racing endpoint whose attempts are TLS connections (``tls:`` strings)."""

    def __init__(self, reactor: Any, host: str, port: int, options: Any, timeout: float,
                 bindAddress: tuple[str, int] | None) -> None:
        super().__init__(reactor, host, port, timeout, bindAddress)
        self._sslContextFactory = options


def connectProtocol(endpoint: IStreamClientEndpoint, protocol: _P) -> Deferred[_P]:
    """Connect ``endpoint`` to this one ``protocol`` instance.

    Example::

        d = connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", 80), MyProtocol())

    Returns:
        A Deferred firing with ``protocol`` once connected.
    """

    class OneShotFactory(Factory):
        def buildProtocol(self, addr: Any) -> Any:
            return protocol

    result: Deferred[_P] = endpoint.connect(OneShotFactory())
    return result


def _server_specs() -> dict[str, _s.Spec]:
    tcp: dict[str, Callable[[str], Any]] = {
        "port": _s.port, "interface": str, "backlog": _s.backlog,
        "reusePort": _s.flag("reusePort"),
    }
    tcp_defaults: dict[str, Any] = {"backlog": 50, "reusePort": False}
    return {
        "tcp": _s.Spec(("port", "interface", "backlog"), tcp,
                       {**tcp_defaults, "interface": ""},
                       lambda r, port, interface, backlog, reusePort: TCP4ServerEndpoint(
                           r, port, backlog, interface, reusePort)),
        "tcp6": _s.Spec(("port", "interface", "backlog"), tcp,
                        {**tcp_defaults, "interface": "::"},
                        lambda r, port, interface, backlog, reusePort: TCP6ServerEndpoint(
                            r, port, backlog, interface or "::", reusePort)),
        "ssl": _s.Spec(
            ("port", "privateKey", "certKey"),
            {"port": _s.port, "interface": str, "backlog": _s.backlog,
             "privateKey": _s.text("privateKey"), "certKey": _s.text("certKey")},
            {"interface": "", "backlog": 50, "privateKey": "server.pem", "certKey": None},
            lambda r, port, interface, backlog, privateKey, certKey: SSL4ServerEndpoint(
                r, port, _s.server_tls_context(privateKey, certKey), backlog, interface),
        ),
        "unix": _s.Spec(
            ("address", "mode", "backlog", "lockfile"),
            {"address": _s.text("address"), "mode": _s.mode, "backlog": _s.backlog,
             "lockfile": _s.flag("lockfile")},
            {"mode": 0o666, "backlog": 50, "lockfile": True},
            lambda r, address, mode, backlog, lockfile: UNIXServerEndpoint(
                r, address, backlog, mode, lockfile),
        ),
    }


def _client_specs() -> dict[str, _s.Spec]:
    tcp: dict[str, Callable[[str], Any]] = {
        "host": _s.text("host"), "port": _s.port, "timeout": _s.timeout,
        "bindAddress": _s.bind_address,
    }
    tcp_defaults: dict[str, Any] = {"timeout": 30.0, "bindAddress": None}
    return {
        "tcp": _s.Spec(("host", "port"), tcp, tcp_defaults, TCP4ClientEndpoint),
        "tcp6": _s.Spec(("host", "port"), tcp, tcp_defaults, TCP6ClientEndpoint),
        "tls": _s.Spec(
            ("host", "port"),
            {**tcp, "trustRoots": _s.text("trustRoots"), "certificate": _s.text("certificate"),
             "privateKey": _s.text("privateKey")},
            {**tcp_defaults, "trustRoots": None, "certificate": None, "privateKey": None},
            lambda r, host, port, timeout, bindAddress, trustRoots, certificate, privateKey:
                _TLSHostnameEndpoint(
                    r, host, port, _s.client_tls_options(host, trustRoots, certificate, privateKey),
                    timeout, bindAddress),
        ),
        "unix": _s.Spec(("path",), {"path": _s.text("path"), "timeout": _s.timeout,
                                  "checkPID": _s.flag("checkPID")},
                      {"timeout": 30.0, "checkPID": False},
                      UNIXClientEndpoint),
    }


def _from_string(reactor: Any, description: str, specs: dict[str, _s.Spec], side: str) -> Any:
    if not isinstance(description, str):
        raise TypeError(f"an endpoint description is a str, not {type(description).__name__}")
    args, kwargs = _s.tokenize(description)
    if _s.pieces(description)[0][0] is not None:
        raise ValueError(f"an endpoint description starts with its type, as in 'tcp:8080', "
                         f"not a name=value: {description!r}")
    kind = args.pop(0)
    spec = specs.get(kind)
    if spec is None:
        known = ", ".join(sorted(specs))
        raise ValueError(f"unknown {side} endpoint type {kind!r} in {description!r} "
                         f"(known: {known})")
    try:
        values = spec.parse(kind, args, kwargs)
    except ValueError as exc:
        raise ValueError(f"bad {side} endpoint {description!r}: {exc}") from exc
    return spec.build(reactor, **values)


def serverFromString(reactor: Any, description: str) -> IStreamServerEndpoint:
    """Build a server endpoint from a description.

    Types and parameters (positional values in this order, or by name):

    * ``tcp:port:interface:backlog`` (``interface`` "" = all IPv4),
      ``tcp6:...`` (``interface`` defaults to "::"); ``reusePort=yes`` sets
      ``SO_REUSEPORT`` (several processes sharing one port).
    * ``ssl:port:privateKey:certKey`` plus ``interface`` and ``backlog``;
      ``privateKey`` defaults to "server.pem", ``certKey`` (the certificate
      chain, PEM) to ``privateKey``.
    * ``unix:address:mode:backlog:lockfile``: ``mode`` in octal (666),
      ``lockfile`` 1 (the default) guards the path with a pid lock.

    Example::

        serverFromString(reactor, "tcp:8080:interface=127.0.0.1").listen(factory)
        serverFromString(reactor, "unix:/run/app.sock:mode=660")

    Raises:
        ValueError: an unknown type, an unknown or repeated parameter, a bad
            value (naming it), or certificate files that cannot be loaded.
    """
    endpoint: IStreamServerEndpoint = _from_string(reactor, description, _server_specs(), "server")
    return endpoint


def clientFromString(reactor: Any, description: str) -> IStreamClientEndpoint:
    """Build a client endpoint from a description.

    Types and parameters:

    * ``tcp:host:port`` plus ``timeout`` (seconds) and ``bindAddress`` (a
      local address), ``tcp6:...`` likewise over IPv6.
    * ``tls:host:port`` plus ``timeout``, ``bindAddress``, ``trustRoots`` (a
      PEM file or a directory of them; default: the system's authorities),
      ``certificate`` and ``privateKey`` (a client certificate).  The
      server's certificate and host name are verified; the addresses of
      ``host`` are raced as :class:`HostnameEndpoint` does.
    * ``unix:path`` plus ``timeout`` and ``checkPID``.

    Example::

        clientFromString(reactor, "tcp:host=127.0.0.1:port=8080:timeout=5")
        clientFromString(reactor, "tls:example.com:443")

    Raises:
        ValueError: an unknown type, an unknown or repeated parameter, a bad
            value (naming it), or certificate files that cannot be loaded.
    """
    endpoint: IStreamClientEndpoint = _from_string(reactor, description, _client_specs(), "client")
    return endpoint


def listeningURL(port: IListeningPort, description: str) -> str | None:
    """The ``http://`` or ``https://`` URL, without a trailing ``/``, that reaches ``port``.

    ``port`` listens as the server endpoint ``description`` says; an ``ssl:`` (or
    ``tls:``) description means HTTPS.  The URL is for a client on this host: a
    wildcard interface (``0.0.0.0``, ``::``) becomes the loopback address of its
    family, and an IPv6 address is bracketed.  None for a port without an IP
    address and port number, such as ``unix:``.

    Example::

        port = await serverFromString(reactor, "ssl:0:privateKey=key.pem").listen(site)
        listeningURL(port, "ssl:0:privateKey=key.pem")      # 'https://127.0.0.1:40123'
    """
    address = port.getHost()
    host = getattr(address, "host", None)
    number = getattr(address, "port", None)
    if host is None or number is None:
        return None
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if description.split(":", 1)[0] in ("ssl", "tls") else "http"
    return f"{scheme}://{host}:{number}"
