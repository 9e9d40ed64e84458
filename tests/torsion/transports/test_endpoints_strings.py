"""Endpoint descriptions: the grammar, each type's parameters, and the errors (no I/O).

Each description is turned into an endpoint whose ``listen``/``connect`` is
run against a ``MemoryReactorClock``; the call the reactor records shows what
the description meant.
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from support.peers import self_signed_certificate
from torsion._endpoint_strings import tokenize
from torsion.address import IPv4Address, IPv6Address, UNIXAddress
from torsion.defer import succeed
from torsion.endpoints import (
    HostnameEndpoint,
    SSL4ServerEndpoint,
    TCP4ClientEndpoint,
    TCP4ServerEndpoint,
    TCP6ClientEndpoint,
    TCP6ServerEndpoint,
    UNIXClientEndpoint,
    UNIXServerEndpoint,
    clientFromString,
    listeningURL,
    quoteStringArgument,
    serverFromString,
)
from torsion.protocol import Factory, Protocol
from torsion.testing import MemoryReactorClock


@pytest.fixture
def reactor() -> MemoryReactorClock:
    """A reactor that records listen and connect calls."""
    return MemoryReactorClock()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(key, cert) PEM files made by openssl, plus a combined one beside them."""
    directory = tmp_path_factory.mktemp("certs")
    cert, key = self_signed_certificate(directory)
    with open(os.path.join(directory, "both.pem"), "wb") as both:
        for name in (key, cert):
            with open(name, "rb") as f:
                both.write(f.read())
    yield str(key), str(cert)


FACTORY = Factory.forProtocol(Protocol)


# -- the grammar ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "args", "kwargs"),
    [
        ("a:b:c=d", ["a", "b"], {"c": "d"}),
        ("a\\:b", ["a:b"], {}),
        ("x=y=z", [], {"x": "y=z"}),
        ("a\\=b", ["a=b"], {}),
        ("a:\\\\", ["a", "\\"], {}),
        ("a::b", ["a", "", "b"], {}),
        ("a:", ["a", ""], {}),
        ("a:b=", ["a"], {"b": ""}),
        ("\\q", ["q"], {}),
        ("a=1:b", ["b"], {"a": "1"}),
        ("", [""], {}),
    ],
)
def test_tokenize(description: str, args: list[str], kwargs: dict[str, str]) -> None:
    """Descriptions split as Twisted's do: ':' separates, the first '=' names, '\\' escapes."""
    assert tokenize(description) == (args, kwargs)


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ("a\\", "lone backslash"),
        ("a:=b", "empty parameter name"),
        ("a:k=1:k=2", "parameter 'k' given twice"),
    ],
)
def test_tokenize_errors(description: str, message: str) -> None:
    """A trailing backslash, an empty name and a repeated name are ValueErrors."""
    with pytest.raises(ValueError, match=message):
        tokenize(description)


@given(st.lists(st.text(), min_size=1, max_size=6))
def test_quoted_values_round_trip(values: list[str]) -> None:
    """Any values, quoted with quoteStringArgument and joined, split back unchanged."""
    assert tokenize(":".join(quoteStringArgument(v) for v in values)) == (values, {})


@given(st.lists(st.text(), max_size=3),
       st.dictionaries(st.text(min_size=1), st.text(), max_size=4))
def test_quoted_names_and_values_round_trip(args: list[str], kwargs: dict[str, str]) -> None:
    """Named values with any characters in name or value survive quoting."""
    pieces = ["type", *(quoteStringArgument(a) for a in args)]
    pieces += [f"{quoteStringArgument(k)}={quoteStringArgument(v)}" for k, v in kwargs.items()]
    assert tokenize(":".join(pieces)) == (["type", *args], kwargs)


@given(st.text(alphabet=st.sampled_from(":=\\ab0"), max_size=30))
def test_tokenize_only_raises_value_error(description: str) -> None:
    """Any text either splits or raises ValueError, nothing else."""
    try:
        args, kwargs = tokenize(description)
    except ValueError:
        return
    assert args or kwargs


@given(st.text(max_size=20))
def test_server_strings_only_raise_value_error(description: str) -> None:
    """serverFromString on arbitrary text builds an endpoint or raises ValueError."""
    try:
        serverFromString(MemoryReactorClock(), description)
    except ValueError:
        pass


# -- server descriptions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "kind", "recorded"),
    [
        ("tcp:8080:interface=127.0.0.1", TCP4ServerEndpoint, ("tcp", 8080, 50, "127.0.0.1")),
        ("tcp:port=8080:backlog=10", TCP4ServerEndpoint, ("tcp", 8080, 10, "")),
        ("tcp:0", TCP4ServerEndpoint, ("tcp", 0, 50, "")),
        ("tcp:8080:127.0.0.1:5", TCP4ServerEndpoint, ("tcp", 8080, 5, "127.0.0.1")),
        ("tcp:80:interface=", TCP4ServerEndpoint, ("tcp", 80, 50, "")),
        ("tcp6:8080:interface=\\:\\:1", TCP6ServerEndpoint, ("tcp", 8080, 50, "::1")),
        ("tcp6:8080", TCP6ServerEndpoint, ("tcp", 8080, 50, "::")),
        ("unix:/tmp/x.sock:mode=660:lockfile=1", UNIXServerEndpoint,
         ("unix", "/tmp/x.sock", 50, 0o660, True)),
        ("unix:address=/tmp/x.sock", UNIXServerEndpoint, ("unix", "/tmp/x.sock", 50, 0o666, True)),
        ("unix:/tmp/a\\:b.sock:lockfile=0:backlog=3", UNIXServerEndpoint,
         ("unix", "/tmp/a:b.sock", 3, 0o666, False)),
        ("unix:/x:600:7:0", UNIXServerEndpoint, ("unix", "/x", 7, 0o600, False)),
        ("unix:\0abstract", UNIXServerEndpoint, ("unix", "\0abstract", 50, 0o666, True)),
    ],
)
def test_server_descriptions(
    reactor: MemoryReactorClock, description: str, kind: type, recorded: tuple[Any, ...]
) -> None:
    """Each server description listens as its parameters say."""
    endpoint = serverFromString(reactor, description)
    assert type(endpoint) is kind
    endpoint.listen(FACTORY)
    if recorded[0] == "tcp":
        [(port, factory, backlog, interface)] = reactor.tcpServers
        assert (port, backlog, interface) == recorded[1:]
    else:
        [(address, factory, backlog, mode, wantPID)] = reactor.unixServers
        assert (address, backlog, mode, wantPID) == recorded[1:]
    assert factory is FACTORY


def test_ssl_server_description(
    reactor: MemoryReactorClock, certificate: tuple[str, str]
) -> None:
    """ssl: loads the key and certificate into a TLS 1.2+ server context."""
    key, cert = certificate
    description = (f"ssl:0:interface=127.0.0.1:backlog=5:"
                   f"privateKey={quoteStringArgument(key)}:certKey={quoteStringArgument(cert)}")
    endpoint = serverFromString(reactor, description)
    assert type(endpoint) is SSL4ServerEndpoint
    endpoint.listen(FACTORY)
    [(port, factory, contextFactory, backlog, interface)] = reactor.sslServers
    assert (port, factory, backlog, interface) == (0, FACTORY, 5, "127.0.0.1")
    context = contextFactory.getContext()
    assert isinstance(context, ssl.SSLContext)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.protocol == ssl.PROTOCOL_TLS_SERVER


def test_ssl_cert_key_defaults_to_private_key(
    reactor: MemoryReactorClock, certificate: tuple[str, str]
) -> None:
    """Without certKey, the certificate is read from the privateKey file."""
    both = os.path.join(os.path.dirname(certificate[0]), "both.pem")
    serverFromString(reactor, f"ssl:443:privateKey={quoteStringArgument(both)}").listen(FACTORY)
    assert reactor.sslServers[0][0] == 443


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ("bogus:1", "unknown server endpoint type 'bogus' in 'bogus:1' "
                    "\\(known: ssl, tcp, tcp6, unix\\)"),
        ("8080", "unknown server endpoint type '8080'"),
        ("", "unknown server endpoint type ''"),
        ("tcp:abc", "port must be an integer in 0-65535, not 'abc'"),
        ("tcp:", "port must be an integer in 0-65535, not ''"),
        ("tcp:70000", "port must be an integer in 0-65535, not '70000'"),
        ("tcp:-1", "port must be an integer in 0-65535, not '-1'"),
        ("tcp: 80", "port must be an integer"),
        ("tcp:8_0", "port must be an integer"),
        ("tcp", "tcp needs port"),
        ("tcp:1:foo=2",
         "unknown parameter 'foo' for tcp \\(known: backlog, interface, port, reusePort\\)"),
        ("tcp:80:port=81", "port given both by position and by name"),
        ("tcp:port=80:port=81", "parameter 'port' given twice"),
        ("tcp:80:backlog=0", "backlog must be an integer in 1-"),
        ("tcp:1:a:3:4", "tcp takes at most 3 positional values \\(port, interface, backlog\\)"),
        ("unix:/x:mode=abc", "mode must be an octal number in 0-7777, not 'abc'"),
        ("unix:/x:mode=999", "mode must be an octal number"),
        ("unix:/x:lockfile=maybe", "lockfile must be 0 or 1, not 'maybe'"),
        ("unix:", "address must not be empty"),
        ("unix", "unix needs address"),
        ("tcp:80\\", "lone backslash"),
        ("tcp:80:=1", "empty parameter name"),
        ("port=80:tcp", "starts with its type"),
        ("ssl:0:privateKey=/nonexistent/key.pem", "cannot load TLS certificate "
                                                   "'/nonexistent/key.pem'"),
    ],
)
def test_bad_server_descriptions(description: str, message: str) -> None:
    """A bad server description raises ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        serverFromString(MemoryReactorClock(), description)


def test_bad_description_names_itself() -> None:
    """The error for a bad value quotes the whole description."""
    with pytest.raises(ValueError, match="bad server endpoint 'tcp:x': port must be"):
        serverFromString(MemoryReactorClock(), "tcp:x")


def test_description_must_be_text() -> None:
    """A bytes description is a TypeError."""
    with pytest.raises(TypeError, match="is a str, not bytes"):
        serverFromString(MemoryReactorClock(), b"tcp:80")  # type: ignore[arg-type]


# -- client descriptions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("description", "kind", "recorded"),
    [
        ("tcp:host=example.com:port=80:timeout=5:bindAddress=127.0.0.1", TCP4ClientEndpoint,
         ("tcp", "example.com", 80, 5.0, ("127.0.0.1", 0))),
        ("tcp:example.com:80", TCP4ClientEndpoint, ("tcp", "example.com", 80, 30.0, None)),
        ("tcp:10.0.0.1:80:timeout=0.5", TCP4ClientEndpoint, ("tcp", "10.0.0.1", 80, 0.5, None)),
        ("tcp6:host=\\:\\:1:port=80", TCP6ClientEndpoint, ("tcp", "::1", 80, 30.0, None)),
        ("tcp6:\\:\\:1:80:bindAddress=\\:\\:1", TCP6ClientEndpoint,
         ("tcp", "::1", 80, 30.0, ("::1", 0))),
        ("unix:path=/tmp/x:timeout=3:checkPID=1", UNIXClientEndpoint,
         ("unix", "/tmp/x", 3.0, True)),
        ("unix:/tmp/x", UNIXClientEndpoint, ("unix", "/tmp/x", 30.0, False)),
    ],
)
def test_client_descriptions(
    reactor: MemoryReactorClock, description: str, kind: type, recorded: tuple[Any, ...]
) -> None:
    """Each client description connects as its parameters say."""
    endpoint = clientFromString(reactor, description)
    assert type(endpoint) is kind
    endpoint.connect(FACTORY)
    if recorded[0] == "tcp":
        [(host, port, _factory, timeout, bind)] = reactor.tcpClients
        assert (host, port, timeout, bind) == recorded[1:]
    else:
        [(path, _factory, timeout, checkPID)] = reactor.unixClients
        assert (path, timeout, checkPID) == recorded[1:]


def test_tls_client_description(
    reactor: MemoryReactorClock, certificate: tuple[str, str]
) -> None:
    """tls: races the name's addresses over connectSSL, verifying the name it was given."""
    _, cert = certificate
    endpoint = clientFromString(
        reactor, f"tls:example.com:443:timeout=7:trustRoots={quoteStringArgument(cert)}"
    )
    endpoint._resolve = lambda host, port: succeed(  # type: ignore[attr-defined]
        [(socket.AF_INET6, "2001:db8::1"), (socket.AF_INET, "192.0.2.1")]
    )
    endpoint.connect(FACTORY)
    [(host, port, _factory, options, timeout, bind)] = reactor.sslClients
    assert (host, port, timeout, bind) == ("2001:db8::1", 443, 7.0, None)
    assert options.hostname == "example.com"
    context = options.getContext()
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED


def test_tls_client_trust_root_directory(
    reactor: MemoryReactorClock, certificate: tuple[str, str]
) -> None:
    """trustRoots may name a directory of PEM files."""
    directory = os.path.dirname(certificate[1])
    endpoint = clientFromString(reactor, f"tls:127.0.0.1:443:trustRoots={directory}")
    endpoint.connect(FACTORY)
    assert reactor.sslClients[0][3].hostname == "127.0.0.1"


def test_tls_client_certificate(
    reactor: MemoryReactorClock, certificate: tuple[str, str]
) -> None:
    """certificate and privateKey give the client a certificate to present."""
    key, cert = certificate
    clientFromString(
        reactor, f"tls:127.0.0.1:443:certificate={cert}:privateKey={key}"
    ).connect(FACTORY)
    assert len(reactor.sslClients) == 1


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ("tcp:host=h", "tcp needs port"),
        ("tcp:h", "tcp needs port"),
        ("tcp:port=80", "tcp needs host"),
        ("tcp:h:80:bogus=1", "unknown parameter 'bogus' for tcp"),
        ("tcp:h:80:timeout=x", "timeout must be a positive number of seconds, not 'x'"),
        ("tcp:h:80:timeout=0", "timeout must be a positive number"),
        ("tcp:h:80:timeout=inf", "timeout must be a positive number"),
        ("tcp:h:80:bindAddress=", "bindAddress must not be empty"),
        ("tcp:h:80:bindAddress=1.2.3.4:5", "tcp takes at most 2 positional values"),
        ("ssl:h:443", "unknown client endpoint type 'ssl' .*known: tcp, tcp6, tls, unix"),
        ("tls:h:443:trustRoots=/nonexistent/ca.pem", "cannot read trustRoots"),
        ("unix:", "path must not be empty"),
        ("unix:/x:checkPID=2", "checkPID must be 0 or 1"),
    ],
)
def test_bad_client_descriptions(description: str, message: str) -> None:
    """A bad client description raises ValueError naming the problem."""
    with pytest.raises(ValueError, match=message):
        clientFromString(MemoryReactorClock(), description)


def test_hostname_endpoint_repr() -> None:
    """HostnameEndpoint shows its target, with brackets around IPv6 addresses."""
    assert repr(HostnameEndpoint(MemoryReactorClock(), "::1", 80)) == "<HostnameEndpoint [::1]:80>"
    assert repr(HostnameEndpoint(MemoryReactorClock(), b"example.com", 80)) == (
        "<HostnameEndpoint example.com:80>"
    )


def test_listening_url() -> None:
    """The URL a local client uses to reach a listening port, by its description."""
    class Port:
        def __init__(self, address: object) -> None:
            self.address = address

        def getHost(self) -> object:
            return self.address

    v4 = Port(IPv4Address("TCP", "0.0.0.0", 8080))
    assert listeningURL(v4, "tcp:8080") == "http://127.0.0.1:8080"  # type: ignore[arg-type]
    assert listeningURL(v4, "ssl:8080:privateKey=k.pem") == (  # type: ignore[arg-type]
        "https://127.0.0.1:8080")
    v6 = Port(IPv6Address("TCP", "::", 443))
    assert listeningURL(v6, "tls:443") == "https://[::1]:443"  # type: ignore[arg-type]
    local = Port(IPv6Address("TCP", "::1", 80))
    assert listeningURL(local, "tcp6:80") == "http://[::1]:80"  # type: ignore[arg-type]
    assert listeningURL(Port(UNIXAddress("/tmp/s")), "unix:/tmp/s") is None  # type: ignore[arg-type]
