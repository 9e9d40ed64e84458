"""UNIX stream sockets on every backend: echo, addresses, modes, stale files, locks, errors."""

from __future__ import annotations

import errno
import os
import socket
import stat
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from unix_support import (
    Collector,
    Echo,
    RecordingClientFactory,
    dead_pid,
    echo_factory,
    socket_dir,
)

from torsion import error
from torsion._transports import _unix_paths
from torsion.address import UNIXAddress
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import ClientCreator, Factory, Protocol
from torsion.testing import checked_reactor, run_for, run_until


@pytest.fixture
def sockdir() -> Iterator[str]:
    """A short temporary directory for socket files."""
    with socket_dir() as path:
        yield path


def _echo_once(reactor: Any, address: str, message: bytes = b"hello") -> Collector:
    factory = RecordingClientFactory(message)
    reactor.connectUNIX(address, factory)
    run_until(reactor, factory.collector.done)
    return factory.collector


def _stop(reactor: Any, port: Any) -> None:
    run_until(reactor, port.stopListening())


# -- echo and addresses -------------------------------------------------------------


def test_echo_over_socket_file(reactor: Any, sockdir: str) -> None:
    """Bytes written by a UNIX client come back from an echo server on a socket file."""
    path = os.path.join(sockdir, "echo.sock")
    port = reactor.listenUNIX(path, echo_factory())
    collector = _echo_once(reactor, path, b"x" * 200_000)
    assert collector.received == b"x" * 200_000
    assert collector.reason is not None and collector.reason.check(error.ConnectionDone)
    _stop(reactor, port)


def test_addresses(reactor: Any, sockdir: str) -> None:
    """Server and client ends report Twisted's addresses: the path, and None for the client."""
    path = os.path.join(sockdir, "addr.sock")
    seen: dict[str, Any] = {}

    class Server(Protocol):
        def connectionMade(self) -> None:
            seen["server"] = (self.transport.getHost(), self.transport.getPeer())
            self.transport.loseConnection()

    port = reactor.listenUNIX(path, Factory.forProtocol(Server))
    assert port.getHost() == UNIXAddress(path)
    factory = RecordingClientFactory(b"")
    connector = reactor.connectUNIX(path, factory)
    assert connector.getDestination() == UNIXAddress(path)
    client = factory.collector

    def record() -> None:
        seen["client"] = (client.transport.getHost(), client.transport.getPeer())

    client.connectionMade = record  # type: ignore[method-assign]
    run_until(reactor, client.done)
    assert seen["server"] == (UNIXAddress(path), UNIXAddress(None))
    assert seen["client"] == (UNIXAddress(None), UNIXAddress(path))
    _stop(reactor, port)


def test_echo_in_abstract_namespace(reactor: Any) -> None:
    """A name starting with NUL lives in the abstract namespace: echo works, no file appears."""
    name = f"\0torsion-test-{uuid.uuid4().hex}"
    port = reactor.listenUNIX(name, echo_factory(), mode=0o600)
    assert port.getHost() == UNIXAddress(name)
    collector = _echo_once(reactor, name, b"abstract")
    assert collector.received == b"abstract"
    assert collector.transport.getPeer() == UNIXAddress(name)
    _stop(reactor, port)


def test_path_like_and_bytes_addresses(reactor: Any, sockdir: str) -> None:
    """listenUNIX and connectUNIX accept bytes and os.PathLike paths too."""
    import pathlib  # noqa: PLC0415

    path = pathlib.Path(sockdir) / "pathlike.sock"
    port = reactor.listenUNIX(path, echo_factory())
    assert port.getHost() == UNIXAddress(str(path))
    assert _echo_once(reactor, os.fsencode(path)).received == b"hello"  # type: ignore[arg-type]
    _stop(reactor, port)


def test_client_creator_and_buildProtocol_none(reactor: Any, sockdir: str) -> None:
    """ClientCreator.connectUNIX works; a server factory returning None closes the connection."""
    path = os.path.join(sockdir, "none.sock")

    class Refuse(Factory):
        def buildProtocol(self, addr: Any) -> None:
            return None

    port = reactor.listenUNIX(path, Refuse())
    proto = run_until(reactor, ClientCreator(reactor, Collector, b"").connectUNIX(path))
    assert run_until(reactor, proto.done) == b""
    _stop(reactor, port)


# -- socket files: mode, removal, stale files, locks --------------------------------------


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o666])
def test_mode_bits(reactor: Any, sockdir: str, mode: int) -> None:
    """The socket file gets exactly the permission bits asked for."""
    path = os.path.join(sockdir, "mode.sock")
    port = reactor.listenUNIX(path, echo_factory(), mode=mode)
    st = os.stat(path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == mode
    _stop(reactor, port)


def test_socket_file_removed_on_stop(reactor: Any, sockdir: str) -> None:
    """stopListening removes the socket file; the path can be listened on again."""
    path = os.path.join(sockdir, "gone.sock")
    port = reactor.listenUNIX(path, echo_factory())
    assert os.path.exists(path)
    _stop(reactor, port)
    assert not os.path.exists(path)
    port = reactor.listenUNIX(path, echo_factory())
    _stop(reactor, port)


def test_replaced_file_is_not_removed(reactor: Any, sockdir: str) -> None:
    """A port removes only the file it created, not one put at the path since."""
    path = os.path.join(sockdir, "replaced.sock")
    port = reactor.listenUNIX(path, echo_factory())
    os.unlink(path)
    with open(path, "w") as f:
        f.write("not ours")
    _stop(reactor, port)
    with open(path) as f:
        assert f.read() == "not ours"


def _stale_socket(path: str) -> None:
    skt = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    skt.bind(path)
    skt.close()


def test_stale_socket_file_replaced(reactor: Any, sockdir: str) -> None:
    """Without wantPID, a socket file nobody listens on is replaced (Twisted refuses)."""
    path = os.path.join(sockdir, "stale.sock")
    _stale_socket(path)
    port = reactor.listenUNIX(path, echo_factory())
    assert _echo_once(reactor, path).received == b"hello"
    _stop(reactor, port)


def test_live_server_not_replaced(reactor: Any, sockdir: str) -> None:
    """A path a live server listens on gives CannotListenError, and that server goes on."""
    path = os.path.join(sockdir, "live.sock")
    port = reactor.listenUNIX(path, echo_factory())
    with pytest.raises(error.CannotListenError) as info:
        reactor.listenUNIX(path, echo_factory())
    assert "another socket is bound to" in str(info.value)
    assert path in str(info.value)
    assert _echo_once(reactor, path).received == b"hello"
    _stop(reactor, port)


def test_regular_file_not_replaced(reactor: Any, sockdir: str) -> None:
    """A regular file at the path is left alone: CannotListenError says it is not a socket."""
    path = os.path.join(sockdir, "file.sock")
    with open(path, "w") as f:
        f.write("data")
    with pytest.raises(error.CannotListenError, match="exists and is not a socket"):
        reactor.listenUNIX(path, echo_factory())
    with open(path) as f:
        assert f.read() == "data"


def test_wantPID_recovers_stale_lock(reactor: Any, sockdir: str) -> None:
    """A lock held by a dead process, and its socket, are replaced; both go on stop."""
    path = os.path.join(sockdir, "pid.sock")
    _stale_socket(path)
    os.symlink(str(dead_pid()), path + ".lock")
    port = reactor.listenUNIX(path, echo_factory(), wantPID=True)
    assert os.readlink(path + ".lock") == str(os.getpid())
    assert _echo_once(reactor, path).received == b"hello"
    _stop(reactor, port)
    assert not os.path.lexists(path + ".lock")
    assert not os.path.exists(path)


def test_wantPID_refuses_live_lock(reactor: Any, sockdir: str) -> None:
    """A second wantPID listener on a path whose lock a live process holds fails, naming it."""
    path = os.path.join(sockdir, "pid2.sock")
    port = reactor.listenUNIX(path, echo_factory(), wantPID=True)
    with pytest.raises(error.CannotListenError) as info:
        reactor.listenUNIX(path, echo_factory(), wantPID=True)
    assert f"held by live process {os.getpid()}" in str(info.value)
    assert os.readlink(path + ".lock") == str(os.getpid())
    _stop(reactor, port)
    assert not os.path.lexists(path + ".lock")


def test_wantPID_lock_released_when_bind_fails(reactor: Any, sockdir: str) -> None:
    """When binding fails after the lock was taken, the lock is released again."""
    path = os.path.join(sockdir, "blocked.sock")
    with open(path, "w") as f:
        f.write("in the way")
    with pytest.raises(error.CannotListenError):
        reactor.listenUNIX(path, echo_factory(), wantPID=True)
    assert not os.path.lexists(path + ".lock")


def test_checkPID(reactor: Any, sockdir: str) -> None:
    """checkPID fails with BadFileError unless a live process holds the path's lock."""
    path = os.path.join(sockdir, "check.sock")
    port = reactor.listenUNIX(path, echo_factory())
    factory = RecordingClientFactory()
    reactor.connectUNIX(path, factory, checkPID=True)
    reason = factory.wait_failure(reactor)
    assert reason.check(error.BadFileError)
    assert path + ".lock" in str(reason.value)
    _stop(reactor, port)
    port = reactor.listenUNIX(path, echo_factory(), wantPID=True)
    factory = RecordingClientFactory()
    reactor.connectUNIX(path, factory, checkPID=True)
    assert run_until(reactor, factory.collector.done) == b"hello"
    _stop(reactor, port)


# -- errors -------------------------------------------------------------------------------


def _connect_failure(reactor: Any, address: str, **kw: Any) -> Failure:
    factory = RecordingClientFactory()
    reactor.connectUNIX(address, factory, **kw)
    reason = factory.wait_failure(reactor)
    assert factory.started == 1
    return reason


def test_connect_missing_path(reactor: Any, sockdir: str) -> None:
    """Connecting to a path with no socket fails with ConnectError naming the path."""
    path = os.path.join(sockdir, "missing.sock")
    reason = _connect_failure(reactor, path)
    assert type(reason.value) is error.ConnectError
    assert reason.value.osError == errno.ENOENT
    assert f"no such socket file {path!r}" in str(reason.value)


def test_connect_missing_directory(reactor: Any, sockdir: str) -> None:
    """Connecting into a missing directory names that directory."""
    path = os.path.join(sockdir, "nodir", "x.sock")
    reason = _connect_failure(reactor, path)
    assert f"no such directory {os.path.dirname(path)!r}" in str(reason.value)


def test_connect_refused_by_stale_file(reactor: Any, sockdir: str) -> None:
    """A socket file nobody listens on refuses: ConnectionRefusedError naming the path."""
    path = os.path.join(sockdir, "refuse.sock")
    _stale_socket(path)
    reason = _connect_failure(reactor, path)
    assert reason.check(error.ConnectionRefusedError)
    assert f"nothing is listening on {path!r}" in str(reason.value)


def test_path_too_long(reactor: Any) -> None:
    """A path over 108 bytes is refused with its length, listening and connecting."""
    path = "/tmp/" + "x" * 120
    with pytest.raises(error.CannotListenError, match="path too long: 125 bytes, at most 108"):
        reactor.listenUNIX(path, echo_factory())
    reason = _connect_failure(reactor, path)
    assert "path too long: 125 bytes" in str(reason.value)


def test_listen_missing_directory(reactor: Any, sockdir: str) -> None:
    """Listening in a missing directory names that directory."""
    path = os.path.join(sockdir, "nodir", "x.sock")
    with pytest.raises(error.CannotListenError) as info:
        reactor.listenUNIX(path, echo_factory())
    assert f"no such directory {os.path.dirname(path)!r}" in str(info.value)
    assert info.value.socketError.errno == errno.ENOENT  # type: ignore[attr-defined]


@pytest.mark.skipif(os.geteuid() == 0, reason="root is never denied permission")
def test_listen_permission_denied(reactor: Any, sockdir: str) -> None:
    """Listening in a directory we may not write to says permission denied."""
    locked = os.path.join(sockdir, "locked")
    os.mkdir(locked, 0o500)
    path = os.path.join(locked, "x.sock")
    with pytest.raises(error.CannotListenError, match="permission denied binding"):
        reactor.listenUNIX(path, echo_factory())


@pytest.mark.parametrize(
    ("code", "action", "expected"),
    [
        (errno.EACCES, "binding", "permission denied binding '/run/x.sock'"),
        (errno.EPERM, "connecting to", "permission denied connecting to '/run/x.sock'"),
        (errno.EADDRINUSE, "binding", "address already in use: '/run/x.sock'"),
        (errno.EROFS, "binding", "read-only file system binding '/run/x.sock'"),
        (errno.ENOTDIR, "binding", "a component of '/run/x.sock' is not a directory"),
        (errno.ECONNREFUSED, "connecting to", "nothing is listening on '/run/x.sock'"),
    ],
)
def test_error_wording(code: int, action: str, expected: str) -> None:
    """Socket errors are reworded to name the cause and the path, keeping the errno."""
    explained = _unix_paths.explain(OSError(code, os.strerror(code)), action, "/run/x.sock")
    assert explained.errno == code
    assert explained.strerror == expected


# -- connecting: full backlogs, timeouts, cancelling ---------------------------------------


def _full_listener(path: str) -> tuple[socket.socket, socket.socket]:
    """A listener that never accepts, with its one-connection backlog already used."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(0)
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    filler.connect(path)
    return listener, filler


def test_connect_retries_while_backlog_full(reactor: Any, sockdir: str) -> None:
    """A connect refused with EAGAIN (full backlog) is retried until the server accepts."""
    path = os.path.join(sockdir, "full.sock")
    listener, filler = _full_listener(path)
    accepted: list[socket.socket] = []
    try:
        factory = RecordingClientFactory(b"")
        reactor.connectUNIX(path, factory)
        run_for(reactor, 0.05)
        assert factory.collector.transport is None  # still waiting for room
        accepted.append(listener.accept()[0])
        connected: Deferred[None] = Deferred()
        factory.collector.connectionMade = lambda: connected.callback(None)  # type: ignore[method-assign]
        run_until(reactor, connected)
        accepted.append(listener.accept()[0])
        assert factory.collector.transport is not None
        factory.collector.transport.loseConnection()
        run_until(reactor, factory.collector.done)
    finally:
        for s in [listener, filler, *accepted]:
            s.close()


def test_connect_timeout(reactor: Any, sockdir: str) -> None:
    """A connect that cannot get into a full backlog fails with TimeoutError after timeout."""
    path = os.path.join(sockdir, "timeout.sock")
    listener, filler = _full_listener(path)
    try:
        reason = _connect_failure(reactor, path, timeout=0.2)
        assert reason.check(error.TimeoutError)
    finally:
        listener.close()
        filler.close()


def test_stop_connecting(reactor: Any, sockdir: str) -> None:
    """stopConnecting while waiting for room fails the attempt with UserError."""
    path = os.path.join(sockdir, "stop.sock")
    listener, filler = _full_listener(path)
    try:
        factory = RecordingClientFactory()
        connector = reactor.connectUNIX(path, factory)
        reactor.callLater(0.05, connector.stopConnecting)
        reason = factory.wait_failure(reactor)
        assert reason.check(error.UserError)
        with pytest.raises(error.NotConnectingError):
            connector.stopConnecting()
    finally:
        listener.close()
        filler.close()


def test_shutdown_while_waiting_for_room(backend: str, sockdir: str) -> None:
    """A reactor stopped while a connect waits for room leaks no descriptor."""
    path = os.path.join(sockdir, "shutdown.sock")
    listener, filler = _full_listener(path)
    try:
        with checked_reactor(backend) as reactor:
            reactor.connectUNIX(path, RecordingClientFactory())
            run_for(reactor, 0.03)
    finally:
        listener.close()
        filler.close()


def test_connector_reconnects(reactor: Any, sockdir: str) -> None:
    """connect() may be called again on the connector after a connection ended."""
    path = os.path.join(sockdir, "again.sock")
    port = reactor.listenUNIX(path, echo_factory())
    factory = RecordingClientFactory()
    connector = reactor.connectUNIX(path, factory)
    run_until(reactor, factory.collector.done)
    factory.collector = Collector(b"again")
    connector.connect()
    assert run_until(reactor, factory.collector.done) == b"again"
    _stop(reactor, port)


def test_half_close(reactor: Any, sockdir: str) -> None:
    """loseWriteConnection works over UNIX sockets: the echo comes back after our EOF."""
    path = os.path.join(sockdir, "half.sock")

    class HalfEcho(Echo):
        def readConnectionLost(self) -> None:
            self.transport.write(b"!")
            self.transport.loseConnection()

    port = reactor.listenUNIX(path, Factory.forProtocol(HalfEcho))
    factory = RecordingClientFactory(b"abc")
    factory.collector.expected = 10

    def made() -> None:
        factory.collector.transport.write(b"abc")
        factory.collector.transport.loseWriteConnection()

    factory.collector.connectionMade = made  # type: ignore[method-assign]
    factory.collector.readConnectionLost = lambda: None  # type: ignore[attr-defined]
    reactor.connectUNIX(path, factory)
    assert run_until(reactor, factory.collector.done) == b"abc!"
    _stop(reactor, port)
