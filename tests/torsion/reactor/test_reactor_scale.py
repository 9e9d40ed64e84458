"""Many connections at once, on every backend.

The clients run in a child process with plain blocking sockets, so this
process holds only the server's descriptors: with the ``select`` backend (and
Tk, whose Tcl notifier also uses select) every descriptor number must stay
below FD_SETSIZE (1024), and the test uses as many connections as fit.
"""

from __future__ import annotations

import resource
import textwrap
from typing import Any

import pytest
from reactor_support import Echo, RecordingFactory, open_fds, spawn_python, wait_for

WANTED = 1000
FD_SETSIZE = 1024
_SELECT_LIKE = {"select", "tk"}

CLIENTS = textwrap.dedent(
    """
    import resource, socket, sys
    count, port = int(sys.argv[1]), int(sys.argv[2])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 64), hard))
    socks = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(count)]
    print("connected", flush=True)
    for i, s in enumerate(socks):
        s.sendall(b"%06d" % i)
    for i, s in enumerate(socks):
        data = b""
        while len(data) < 6:
            chunk = s.recv(6 - len(data))
            if not chunk:
                sys.exit(f"connection {i} closed early")
            data += chunk
        if data != b"%06d" % i:
            sys.exit(f"connection {i} echoed {data!r}")
    print("echoed", flush=True)
    for s in socks:
        s.close()
    print("closed", flush=True)
    """
)


def _connection_budget(backend: str) -> int:
    if backend not in _SELECT_LIKE:
        return WANTED
    # Descriptors the server will need beyond what is open now: one per
    # connection, plus the listening socket and some slack.
    highest = max(open_fds())
    return min(WANTED, FD_SETSIZE - highest - 16)


@pytest.fixture
def nofile_limit() -> Any:
    """Raise the soft RLIMIT_NOFILE for the test if it is too low for 1,000 connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = WANTED + 256
    if soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below {wanted}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_thousand_concurrent_connections(reactor: Any, backend: str, nofile_limit: Any) -> None:
    """1,000 clients connected at the same time each get their own echo; all close cleanly."""
    count = _connection_budget(backend)
    if count < 500:
        pytest.skip(f"only {count} descriptors below FD_SETSIZE are free for {backend}")
    live = [0]
    peak = [0]

    class Counted(Echo):
        def connectionMade(self) -> None:
            super().connectionMade()
            live[0] += 1
            peak[0] = max(peak[0], live[0])

        def connectionLost(self, reason: Any = None) -> None:
            live[0] -= 1
            super().connectionLost(reason)

    factory = RecordingFactory(Counted)
    port = reactor.listenTCP(0, factory, backlog=1024, interface="127.0.0.1")
    child = spawn_python(["-c", CLIENTS, str(count), str(port.getHost().port)])
    try:
        wait_for(reactor, lambda: child.poll() is not None, timeout=60, interval=0.01)
        out, err = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert out.split() == ["connected", "echoed", "closed"]
    wait_for(reactor, lambda: live[0] == 0, timeout=30)
    assert peak[0] == count, f"at most {peak[0]} of {count} connections were open at once"
    assert len(factory.protocols) == count
    assert all(len(p.reasons) == 1 for p in factory.protocols)
