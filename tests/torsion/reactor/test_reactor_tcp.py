"""TCP on every backend: listening, connecting, addresses, options, connect errors."""

from __future__ import annotations

import errno
import os
import socket
from typing import Any

import pytest
from reactor_support import (
    Echo,
    FailureRecorder,
    Recorder,
    RecordingFactory,
    connect,
    connected_pair,
    listen,
    open_fds,
    run_for,
    run_until,
    sleep,
    wait_for,
)

from support.network import has_ipv6_loopback
from torsion.address import IPv4Address, IPv6Address
from torsion.defer import Deferred
from torsion.error import (
    CannotListenError,
    ConnectionDone,
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
    TimeoutError,
    UserError,
)
from torsion.protocol import ClientFactory, Protocol, ServerFactory
from torsion.reactor import new_reactor


def _refusing_address() -> tuple[socket.socket, int]:
    """A bound, not listening socket: connections to its port are refused, and it stays ours."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def test_listen_on_port_zero(reactor: Any) -> None:
    """Port 0 picks a free port; ``getHost`` reports it; a plain socket can connect to it."""
    factory = RecordingFactory()
    port = listen(reactor, factory)
    host = port.getHost()
    assert isinstance(host, IPv4Address)
    assert (host.type, host.host) == ("TCP", "127.0.0.1")
    assert host.port > 0
    with socket.create_connection(("127.0.0.1", host.port), timeout=5) as peer:
        server = run_until(reactor, factory.next_connection())
        assert server.transport.getPeer().port == peer.getsockname()[1]


def test_stop_listening(reactor: Any) -> None:
    """``stopListening`` fires its Deferred once the port is closed; new connections are refused."""
    factory = RecordingFactory()
    port = listen(reactor, factory)
    number = port.getHost().port
    assert factory.numPorts == 1
    run_until(reactor, port.stopListening())
    assert factory.numPorts == 0
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", number)) == errno.ECONNREFUSED


def test_ipv6_loopback(reactor: Any) -> None:
    """Listening on ::1 works, with IPv6 addresses on both ends."""
    if not has_ipv6_loopback():
        pytest.skip("no IPv6 loopback (::1) on this machine")
    factory = RecordingFactory(Echo)
    port = listen(reactor, factory, interface="::1")
    host = port.getHost()
    assert isinstance(host, IPv6Address)
    assert host.host == "::1"

    async def scenario() -> tuple[Recorder, Recorder]:
        return await connected_pair(reactor, factory, port)

    client, server = run_until(reactor, scenario())
    assert isinstance(client.transport.getPeer(), IPv6Address)
    assert server.transport.getPeer() == client.transport.getHost()
    client.transport.write(b"over ipv6")
    assert run_until(reactor, client.wait_bytes(9)) == b"over ipv6"


def test_port_in_use(reactor: Any) -> None:
    """A port already listened on gives CannotListenError naming the port and the reason."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        number = taken.getsockname()[1]
        with pytest.raises(CannotListenError) as info:
            reactor.listenTCP(number, RecordingFactory(), interface="127.0.0.1")
    message = str(info.value)
    assert str(number) in message
    assert "in use" in message
    assert info.value.port == number
    assert isinstance(info.value.socketError, OSError)


def test_echo(reactor: Any) -> None:
    """Bytes written by a client reach the server, and the echo comes back."""
    factory = RecordingFactory(Echo)
    port = listen(reactor, factory)
    client = run_until(reactor, connect(reactor, port))
    client.transport.write(b"hello, ")
    client.transport.write(b"world")
    assert run_until(reactor, client.wait_bytes(12)) == b"hello, world"


def test_many_small_writes_keep_their_order(reactor: Any) -> None:
    """Thousands of small writes arrive complete and in order."""
    factory = RecordingFactory()
    port = listen(reactor, factory)
    client, server = run_until(reactor, connected_pair(reactor, factory, port))
    chunks = [b"%05d," % i for i in range(5000)]
    for chunk in chunks:
        client.transport.write(chunk)
    expected = b"".join(chunks)
    assert run_until(reactor, server.wait_bytes(len(expected))) == expected


def test_write_sequence(reactor: Any) -> None:
    """``writeSequence`` sends its chunks in order: few, many (past one gather), after a write."""
    factory = RecordingFactory()
    port = listen(reactor, factory)
    client, server = run_until(reactor, connected_pair(reactor, factory, port))
    many = [b"%04d" % i for i in range(1500)]
    client.transport.write(b"head:")
    client.transport.writeSequence([b"a", b"", b"bc"])
    client.transport.writeSequence(many)
    client.transport.writeSequence([])
    expected = b"head:abc" + b"".join(many)
    assert run_until(reactor, server.wait_bytes(len(expected))) == expected


def test_write_refuses_text(reactor: Any) -> None:
    """``write`` raises TypeError for str: a transport carries bytes."""
    factory = RecordingFactory()
    port = listen(reactor, factory)
    client = run_until(reactor, connect(reactor, port))
    with pytest.raises(TypeError):
        client.transport.write("text")


def test_addresses_of_both_ends(reactor: Any) -> None:
    """Each end's ``getHost`` is the other end's ``getPeer``."""
    factory = RecordingFactory()
    port = listen(reactor, factory)
    client, server = run_until(reactor, connected_pair(reactor, factory, port))
    assert client.transport.getPeer() == server.transport.getHost()
    assert server.transport.getPeer() == client.transport.getHost()
    assert server.transport.getHost().port == port.getHost().port
    assert isinstance(client.transport.getHost(), IPv4Address)


def test_tcp_options(reactor: Any) -> None:
    """``setTcpNoDelay`` and ``setTcpKeepAlive`` change the socket; the getters report it."""
    factory = RecordingFactory()
    port = listen(reactor, factory)
    client, server = run_until(reactor, connected_pair(reactor, factory, port))
    for transport in (client.transport, server.transport):
        for value in (False, True, False):
            transport.setTcpNoDelay(value)
            assert transport.getTcpNoDelay() is value
            transport.setTcpKeepAlive(value)
            assert transport.getTcpKeepAlive() is value
        handle = transport.getHandle()  # the socket (asyncio gives a restricted view of it)
        assert handle.fileno() >= 0
        assert handle.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 0


def test_connection_refused(reactor: Any) -> None:
    """Connecting where nobody listens: clientConnectionFailed with ConnectionRefusedError."""
    blocker, number = _refusing_address()
    with blocker:
        factory = FailureRecorder()
        connector = reactor.connectTCP("127.0.0.1", number, factory, timeout=10)
        assert factory.started == [connector]
        run_until(reactor, factory.done)
    [reason] = factory.failures
    assert reason.check(ConnectionRefusedError), reason
    assert factory.losses == []
    assert connector.state == "disconnected"
    assert factory.numPorts == 0


def test_refused_connector_can_retry(reactor: Any) -> None:
    """After a refusal, ``connector.connect()`` tries again (as reconnecting factories do)."""
    blocker, number = _refusing_address()
    with blocker:
        attempts: list[Any] = []
        done: Deferred[None] = Deferred()

        class Retry(ClientFactory):
            def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
                attempts.append(reason)
                if len(attempts) < 3:
                    connector.connect()
                else:
                    done.callback(None)

        reactor.connectTCP("127.0.0.1", number, Retry())
        run_until(reactor, done)
    assert len(attempts) == 3
    assert all(r.check(ConnectionRefusedError) for r in attempts)


def _unanswered_address() -> tuple[list[socket.socket], int]:
    """A listening socket whose queue is full: further SYNs are dropped, connects hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    number = listener.getsockname()[1]
    fillers = []
    for _ in range(2):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", number))
        fillers.append(s)
    probe = socket.socket()
    probe.setblocking(False)
    probe.connect_ex(("127.0.0.1", number))
    import select  # noqa: PLC0415

    _, writable, _ = select.select([], [probe], [], 0.05)
    probe.close()
    if writable:
        for s in (listener, *fillers):
            s.close()
        pytest.skip("a full listen queue still answers here: no address that never answers")
    return [listener, *fillers], number


def test_connect_timeout(reactor: Any) -> None:
    """A connection attempt that gets no answer fails with TimeoutError after ``timeout``."""
    sockets, number = _unanswered_address()
    try:
        factory = FailureRecorder()
        start = reactor.seconds()
        reactor.connectTCP("127.0.0.1", number, factory, timeout=0.1)
        run_until(reactor, factory.done)
        elapsed = reactor.seconds() - start
    finally:
        for s in sockets:
            s.close()
    [reason] = factory.failures
    assert reason.check(TimeoutError), reason
    assert 0.1 - 1e-9 <= elapsed < 3


def test_stop_connecting(reactor: Any) -> None:
    """``connector.stopConnecting()`` during an attempt fails it with UserError."""
    sockets, number = _unanswered_address()
    try:
        factory = FailureRecorder()
        connector = reactor.connectTCP("127.0.0.1", number, factory, timeout=30)
        reactor.callLater(0.02, connector.stopConnecting)
        run_until(reactor, factory.done)
    finally:
        for s in sockets:
            s.close()
    [reason] = factory.failures
    assert reason.check(UserError), reason
    assert connector.state == "disconnected"


def test_shutdown_during_a_connect(reactor: Any) -> None:
    """Stopping the reactor while a connect is under way fails it with ConnectionLost,
    once, and leaves no socket behind (the fixture checks descriptors after close)."""
    sockets, number = _unanswered_address()
    try:
        factory = FailureRecorder()
        reactor.connectTCP("127.0.0.1", number, factory, timeout=30)
        run_for(reactor, 0.05)
        assert not factory.failures
        reactor.callWhenRunning(reactor.stop)
        reactor.run(installSignalHandlers=False)
    finally:
        for s in sockets:
            s.close()
    [reason] = factory.failures
    assert reason.check(ConnectionLost), reason
    assert not factory.losses


def test_close_without_running_after_disconnect_all(backend: str) -> None:
    """A reactor whose connections were dropped with ``disconnectAll`` (as the pytest
    plugin's fixture does) and that is closed without running again leaks nothing."""
    before = open_fds()
    reactor = new_reactor(backend)
    try:
        factory = RecordingFactory(Echo)
        port = listen(reactor, factory)
        client, server = run_until(reactor, connected_pair(reactor, factory, port))
        client.transport.write(b"unread")
        reactor.disconnectAll()
        assert len(client.reasons) == 1 and len(server.reasons) == 1
    finally:
        reactor._stopThreadPool()
        reactor.close()
    leaked = {fd: target for fd, target in open_fds().items() if before.get(fd) != target}
    assert not leaked


def test_dns_failure(reactor: Any) -> None:
    """Connecting to a name that does not resolve fails with DNSLookupError."""
    pytest.importorskip("torsion.threadpool", reason="name resolution needs the thread pool")
    factory = FailureRecorder()
    reactor.connectTCP("nonexistent.invalid", 80, factory, timeout=30)
    run_until(reactor, factory.done, timeout=30)
    [reason] = factory.failures
    assert reason.check(DNSLookupError), reason


def test_connect_by_host_name(reactor: Any) -> None:
    """A host name (``localhost``) is resolved, then connected to."""
    pytest.importorskip("torsion.threadpool", reason="name resolution needs the thread pool")
    factory = RecordingFactory(Echo)
    port = listen(reactor, factory)
    client = run_until(reactor, connect(reactor, port, host="localhost"))
    client.transport.write(b"named")
    assert run_until(reactor, client.wait_bytes(5)) == b"named"


def test_bind_address(reactor: Any) -> None:
    """``connectTCP(bindAddress=...)`` connects from that local address."""
    factory = RecordingFactory()
    port = listen(reactor, factory)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        local_port = probe.getsockname()[1]
    server_d = factory.next_connection()
    client_factory = FailureRecorder()
    reactor.connectTCP("127.0.0.1", port.getHost().port, client_factory,
                       bindAddress=("127.0.0.1", local_port))
    server = run_until(reactor, server_d)
    assert server.transport.getPeer().port == local_port


def test_server_factory_refusing_a_connection(reactor: Any) -> None:
    """A server factory returning None closes that connection; the client sees a clean close."""

    class Refuse(ServerFactory):
        def buildProtocol(self, addr: Any) -> None:
            return None

    port = listen(reactor, Refuse())
    client = run_until(reactor, connect(reactor, port))
    run_until(reactor, client.lost)
    [reason] = client.reasons
    assert reason.check(ConnectionDone)


def test_client_factory_raising_in_build_protocol_fails_the_attempt(
    reactor: Any, logged_failures: Any
) -> None:
    """A client factory whose buildProtocol raises: the error is logged, the attempt
    fails with it (clientConnectionFailed), and no socket is left open."""

    class Broken(FailureRecorder):
        def buildProtocol(self, addr: Any) -> Protocol:
            raise RuntimeError("broken buildProtocol")

    def sockets() -> set[int]:
        """The TCP sockets open (libuv keeps UNIX socket pairs and /dev/null of its own)."""
        found = set()
        for fd, what in open_fds().items():
            if "socket" in what:
                with socket.socket(fileno=os.dup(fd)) as skt:
                    if skt.family in (socket.AF_INET, socket.AF_INET6):
                        found.add(fd)
        return found

    port = listen(reactor, RecordingFactory())
    before = sockets()
    factory = Broken()
    connector = reactor.connectTCP("127.0.0.1", port.getHost().port, factory, timeout=10)
    run_until(reactor, factory.done)
    [reason] = factory.failures
    assert reason.check(RuntimeError), reason
    assert factory.losses == []
    assert connector.state == "disconnected"
    assert len(logged_failures.flush(RuntimeError)) == 1
    # The server end closes once it reads the client's close.
    wait_for(reactor, lambda: sockets() <= before, timeout=5)


def test_error_in_connection_made_closes_the_connection(
    reactor: Any, logged_failures: Any
) -> None:
    """A server protocol raising in connectionMade is logged and its connection dropped."""

    class Broken(Protocol):
        def connectionMade(self) -> None:
            raise RuntimeError("broken connectionMade")

    port = listen(reactor, ServerFactory.forProtocol(Broken))
    client = run_until(reactor, connect(reactor, port))
    run_until(reactor, client.lost)
    assert len(client.reasons) == 1
    assert len(logged_failures.flush(RuntimeError)) == 1


def test_error_in_data_received_closes_the_connection(
    reactor: Any, logged_failures: Any
) -> None:
    """A protocol raising in dataReceived is logged; connectionLost comes once, with that error."""

    class Broken(Recorder):
        def dataReceived(self, data: bytes) -> None:
            raise RuntimeError("broken dataReceived")

    factory = RecordingFactory(Broken)
    port = listen(reactor, factory)
    client, server = run_until(reactor, connected_pair(reactor, factory, port))
    client.transport.write(b"boom")
    run_until(reactor, server.lost)
    run_until(reactor, client.lost)
    run_for(reactor, 0.02)
    assert len(server.reasons) == 1
    assert server.reasons[0].check(RuntimeError)
    assert len(client.reasons) == 1
    assert len(logged_failures.flush(RuntimeError)) >= 1


def test_client_factory_sees_the_connection_end(reactor: Any) -> None:
    """A client factory hears clientConnectionLost once the connection closes; then it stops."""
    factory = RecordingFactory()
    port = listen(reactor, factory)
    server_d = factory.next_connection()
    client_factory = FailureRecorder()
    connector = reactor.connectTCP("127.0.0.1", port.getHost().port, client_factory)
    server = run_until(reactor, server_d)
    assert connector.state == "connected"
    server.transport.loseConnection()
    run_until(reactor, client_factory.done)
    [reason] = client_factory.losses
    assert reason.check(ConnectionDone)
    assert client_factory.failures == []
    assert client_factory.numPorts == 0


def test_shutdown_closes_connections_and_ports(reactor: Any) -> None:
    """Stopping the reactor closes every connection (connectionLost once each) and every port."""
    factory = RecordingFactory()
    port = listen(reactor, factory)
    number = port.getHost().port
    client, server = run_until(reactor, connected_pair(reactor, factory, port))
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert len(client.reasons) == 1
    assert len(server.reasons) == 1
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", number)) == errno.ECONNREFUSED


def test_connect_timeout_is_cancelled_once_connected(reactor: Any) -> None:
    """A connected client's connect timeout does not fire later."""
    factory = RecordingFactory()
    port = listen(reactor, factory)
    client_factory = FailureRecorder()
    server_d = factory.next_connection()
    reactor.connectTCP("127.0.0.1", port.getHost().port, client_factory, timeout=0.1)
    run_until(reactor, server_d)
    run_until(reactor, sleep(reactor, 0.2))
    assert client_factory.failures == []
    assert client_factory.losses == []


def test_many_sequential_connections(reactor: Any) -> None:
    """200 connections made and closed one after another all work and all close."""
    factory = RecordingFactory(Echo)
    port = listen(reactor, factory)

    async def scenario() -> None:
        for i in range(200):
            client = await connect(reactor, port)
            client.transport.write(b"%d" % i)
            await client.wait_bytes(len(b"%d" % i))
            client.transport.loseConnection()
            await client.lost

    run_until(reactor, scenario(), timeout=30)
    wait_for(reactor, lambda: all(p.reasons for p in factory.protocols))
    assert len(factory.protocols) == 200
    assert all(len(p.reasons) == 1 for p in factory.protocols)


def test_reconnecting_client_factory_retries_then_gives_up(reactor: Any) -> None:
    """ReconnectingClientFactory on a real reactor retries a refused connection maxRetries times."""
    from torsion.protocol import ReconnectingClientFactory  # noqa: PLC0415

    blocker, number = _refusing_address()
    failures: list[Any] = []
    done: Deferred[None] = Deferred()

    class Retrying(ReconnectingClientFactory):
        initialDelay = delay = 0.01
        factor = 1.5
        maxRetries = 3
        noisy = False

        def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
            failures.append(reason)
            super().clientConnectionFailed(connector, reason)
            if self.retries > self.maxRetries and not done.called:
                done.callback(None)

    with blocker:
        factory = Retrying()
        factory.clock = reactor
        reactor.connectTCP("127.0.0.1", number, factory)
        run_until(reactor, done)
    assert len(failures) == 4  # the first attempt and three retries
    assert all(f.check(ConnectionRefusedError) for f in failures)
    assert reactor.getDelayedCalls() == [] or all(
        not c.active() for c in reactor.getDelayedCalls())


def test_client_creator_cancel_while_connecting(reactor: Any) -> None:
    """Cancelling ClientCreator's Deferred during the attempt fails it with CancelledError."""
    from torsion.defer import CancelledError  # noqa: PLC0415
    from torsion.protocol import ClientCreator  # noqa: PLC0415

    sockets, number = _unanswered_address()
    try:
        d = ClientCreator(reactor, Recorder).connectTCP("127.0.0.1", number, timeout=30)
        reactor.callLater(0.02, d.cancel)
        with pytest.raises(CancelledError):
            run_until(reactor, d)
        run_for(reactor, 0.02)  # the attempt's socket is closed on the next turn
    finally:
        for s in sockets:
            s.close()
