"""``sendfile`` on stream transports (``ISendfileTransport``) and ``send_file`` elsewhere.

Real loopback connections on the epoll, poll, select, asyncio and uvloop reactors,
read by a blocking socket in a thread: the file's bytes arrive exactly, in order with
what was written before and after, and the connection closes after them when
``loseConnection`` was called right after ``sendfile``; a 64 MiB file to a slow reader
keeps the process's memory bounded; a reader leaving mid-file fails the Deferred with
``ConnectionLost`` and leaves no descriptor open (the ``reactor`` fixture checks for
leaks too). The stream transports' own paths (zero copy, the copy fallback, a file
that shrinks, flow control of a registered producer, UNIX sockets) on epoll.
"""

from __future__ import annotations

import errno
import hashlib
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from support.deferreds import run_in_thread
from support.protocols import RecordingPushProducer
from torsion import error
from torsion._transports import _sendfile
from torsion._transports._sendfile import send_file
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.interfaces import ISendfileTransport
from torsion.protocol import Factory, Protocol
from torsion.testing import open_fds

pytestmark = pytest.mark.torsion_timeout(60)

MiB = 1024 * 1024
LOCAL = "127.0.0.1"


@pytest.fixture(params=["epoll", "poll", "select", "asyncio", "uvloop"])
def backend(request: pytest.FixtureRequest) -> str:
    """The backends this suite runs on (tk shares the stream transport of poll)."""
    from torsion.testing import backend_unavailable  # noqa: PLC0415

    reason = backend_unavailable(request.param)
    if reason is not None:
        pytest.skip(reason)
    name: str = request.param
    return name


def make_file(path: Path, size: int) -> Path:
    """A file of ``size`` bytes whose every MiB differs (so misplaced pieces show)."""
    with open(path, "wb") as f:
        block = 0
        while size > 0:
            piece = hashlib.sha256(b"%d" % block).digest() * (MiB // 32)
            f.write(piece[:size])
            size -= len(piece)
            block += 1
    return path


def sha_of(path: Path, offset: int = 0, count: int | None = None) -> tuple[int, str]:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        left = count if count is not None else os.path.getsize(path) - offset
        while left:
            chunk = f.read(min(MiB, left))
            digest.update(chunk)
            left -= len(chunk)
    return (count if count is not None else os.path.getsize(path) - offset), digest.hexdigest()


class Scripted(Protocol):
    """Runs ``script(transport)`` once connected; keeps the Deferred it returns."""

    def __init__(self, script: Callable[[Any], Deferred[Any]], outcome: Deferred[Any]) -> None:
        self.script = script
        self.outcome = outcome
        self.lost: Deferred[list[Failure]] = Deferred()

    def connectionMade(self) -> None:
        try:
            result = self.script(self.transport)
        except BaseException:
            self.outcome.errback(Failure())
            return
        result.addBoth(self._done)

    def _done(self, result: Any) -> None:
        self.outcome.callback([result])  # boxed: a Failure is a value the test looks at

    def connectionLost(self, reason: Failure = Failure(error.ConnectionDone())) -> None:  # noqa: B008
        self.lost.callback([reason])


def serve(reactor: Any, script: Callable[[Any], Deferred[Any]]) -> tuple[Any, Deferred[Any],
                                                                         list[Scripted]]:
    """Listen on 127.0.0.1; each connection runs ``script``; the first one's outcome."""
    outcome: Deferred[Any] = Deferred()
    made: list[Scripted] = []

    class Serve(Factory):
        def buildProtocol(self, addr: Any) -> Scripted:
            p = Scripted(script, outcome)
            p.factory = self
            made.append(p)
            return p

    port = reactor.listenTCP(0, Serve(), interface=LOCAL)
    return port, outcome, made


def reader(port: Any, *, chunk: int = 65536, rcvbuf: int | None = None, stop_after: int | None
           = None, on_progress: Callable[[int], None] | None = None) -> Callable[[], Any]:
    """A blocking client (for a thread): reads to EOF, returns (size, sha256, head 4 KiB)."""

    def run() -> tuple[int, str, bytes, bytes]:
        s = socket.socket()
        try:
            if rcvbuf is not None:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.settimeout(30)
            s.connect((LOCAL, port.getHost().port))
            digest = hashlib.sha256()
            size = 0
            head = b""
            tail = b""
            while data := s.recv(chunk):
                digest.update(data)
                if len(head) < 4096:
                    head += data[: 4096 - len(head)]
                tail = (tail + data)[-4096:]
                size += len(data)
                if on_progress is not None:
                    on_progress(size)
                if stop_after is not None and size >= stop_after:
                    # Unread data in the buffer: the close resets the connection.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
                    break
            return size, digest.hexdigest(), head, tail
        finally:
            s.close()

    return run


async def unbox(d: Deferred[list[Any]]) -> Any:
    """What a boxed Deferred of :class:`Scripted` carries (a value, or a Failure)."""
    return (await d)[0]


def vm_rss() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


# -- every backend ----------------------------------------------------------------------

async def test_file_between_writes_then_close(reactor: Any, tmp_path: Path) -> None:
    """1 MiB written, 3 MiB of a file from an offset, a tail; then closed after them."""
    path = make_file(tmp_path / "f.bin", 5 * MiB)
    head = b"H" * MiB  # more than a socket takes at once: it is buffered first
    tail = b"--tail--"

    def script(transport: Any) -> Deferred[Any]:
        f = open(path, "rb")  # noqa: SIM115 - closed when the Deferred fires
        transport.write(head)
        if isinstance(transport, ISendfileTransport):
            d = transport.sendfile(f, 12345, 3 * MiB)
            transport.write(tail)
            transport.loseConnection()  # waits for the file, then the tail
        else:
            d = send_file(transport, f, 12345, 3 * MiB)

            def rest(sent: int) -> int:
                transport.write(tail)
                transport.loseConnection()
                return sent

            d.addCallback(rest)
        d.addBoth(lambda r: (f.close(), r)[1])
        return d

    port, outcome, made = serve(reactor, script)
    size, digest, got_head, got_tail = await run_in_thread(reactor, reader(port))
    assert await unbox(outcome) == 3 * MiB
    expected = hashlib.sha256(head)
    with open(path, "rb") as f:
        f.seek(12345)
        expected.update(f.read(3 * MiB))
    expected.update(tail)
    assert (size, digest) == (len(head) + 3 * MiB + len(tail), expected.hexdigest())
    assert got_head == b"H" * 4096 and got_tail.endswith(tail)
    reason = await unbox(made[0].lost)
    assert reason.check(error.ConnectionDone)
    await port.stopListening()


async def test_large_file_slow_reader_bounded_memory(reactor: Any, tmp_path: Path) -> None:
    """64 MiB to a reader with a small receive buffer: exact bytes, RSS bounded."""
    path = make_file(tmp_path / "big.bin", 64 * MiB)
    base = vm_rss()
    peak = [base]

    def script(transport: Any) -> Deferred[Any]:
        f = open(path, "rb")  # noqa: SIM115
        d = send_file(transport, f)
        d.addBoth(lambda r: (f.close(), transport.loseConnection(), r)[2])
        return d

    def progress(size: int) -> None:
        if size % (4 * MiB) < 16384:
            peak[0] = max(peak[0], vm_rss())

    port, outcome, _ = serve(reactor, script)
    got = await run_in_thread(
        reactor, reader(port, chunk=16384, rcvbuf=65536, on_progress=progress)
    )
    assert await unbox(outcome) == 64 * MiB
    assert got[:2] == sha_of(path)
    assert peak[0] - base < 16 * MiB, (peak[0] - base) // MiB
    await port.stopListening()


async def test_reader_leaving_mid_file(reactor: Any, tmp_path: Path) -> None:
    """The peer resets after 1 MiB of 32: ConnectionLost, the file closable, no fd left."""
    path = make_file(tmp_path / "big.bin", 32 * MiB)
    files: list[Any] = []

    def script(transport: Any) -> Deferred[Any]:
        f = open(path, "rb")  # noqa: SIM115
        files.append(f)
        return send_file(transport, f.fileno(), 0, None)

    port, outcome, made = serve(reactor, script)
    size, *_ = await run_in_thread(reactor, reader(port, chunk=65536, stop_after=MiB))
    assert size >= MiB
    result = await unbox(outcome)
    assert isinstance(result, Failure) and result.check(error.ConnectionLost), result
    await unbox(made[0].lost)
    files[0].close()
    await port.stopListening()
    # Nothing duplicated the file's descriptor (the reactor fixture checks the rest).
    assert [t for t in open_fds().values() if t == str(path)] == []


async def test_sendfile_on_a_closed_connection_fails(reactor: Any, tmp_path: Path) -> None:
    """After the connection is gone, sendfile fails at once with ConnectionLost."""
    path = make_file(tmp_path / "f.bin", 1000)
    later: list[Deferred[int]] = []

    def script(transport: Any) -> Deferred[Any]:
        transport.loseConnection()
        d: Deferred[None] = Deferred()
        made[0].lost.addCallback(lambda _: later.append(send_file(transport, fd, 0, 10)))
        made[0].lost.addCallback(lambda _: d.callback(None))
        return d

    fd = os.open(path, os.O_RDONLY)
    try:
        port, outcome, made = serve(reactor, script)
        await run_in_thread(reactor, reader(port))
        await unbox(outcome)
        with pytest.raises(error.ConnectionLost):
            await later[0]
    finally:
        os.close(fd)
    await port.stopListening()


# -- the stream transport's own paths (epoll) -------------------------------------------

def only(name: str) -> Any:
    return pytest.mark.parametrize("backend", [name], indirect=True)


@only("epoll")
async def test_is_a_sendfile_transport_and_checks_arguments(reactor: Any, tmp_path: Path) -> None:
    """StreamTransport provides ISendfileTransport; bad ranges raise; count 0 is done."""
    path = make_file(tmp_path / "f.bin", 100)
    checks: list[Any] = []

    def script(transport: Any) -> Deferred[Any]:
        checks.append(isinstance(transport, ISendfileTransport))
        with open(path, "rb") as f:
            for offset, count in ((-1, 1), (0, -1)):
                try:
                    transport.sendfile(f, offset, count)
                except ValueError:
                    checks.append("ValueError")
            d = transport.sendfile(f, 100)  # at the end: nothing left
        transport.loseConnection()
        return d

    port, outcome, _ = serve(reactor, script)
    size, *_ = await run_in_thread(reactor, reader(port))
    assert await unbox(outcome) == 0 and size == 0
    assert checks == [True, "ValueError", "ValueError"]
    await port.stopListening()


@only("epoll")
async def test_copy_fallback_when_sendfile_refuses(
    reactor: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.sendfile failing with EINVAL at the start: the file goes out by pread+send."""
    path = make_file(tmp_path / "f.bin", 3 * MiB + 7)
    calls: list[int] = []

    def refuse(*args: Any) -> int:
        calls.append(1)
        raise OSError(errno.EINVAL, "not for this file")

    monkeypatch.setattr(_sendfile.os, "sendfile", refuse)

    def script(transport: Any) -> Deferred[Any]:
        f = open(path, "rb")  # noqa: SIM115
        d = transport.sendfile(f)
        transport.write(b"!")
        transport.loseConnection()
        d.addBoth(lambda r: (f.close(), r)[1])
        return d

    port, outcome, _ = serve(reactor, script)
    size, _digest, _, tail = await run_in_thread(reactor, reader(port))
    assert await unbox(outcome) == 3 * MiB + 7
    assert calls == [1]
    assert size == 3 * MiB + 8 and tail.endswith(b"!")
    await port.stopListening()


@only("epoll")
async def test_file_that_shrinks_closes_the_connection(reactor: Any, tmp_path: Path) -> None:
    """Asking for more than the file holds: the Deferred fails (ENODATA), the stream is cut."""
    path = make_file(tmp_path / "f.bin", 2 * MiB)

    def script(transport: Any) -> Deferred[Any]:
        f = open(path, "rb")  # noqa: SIM115
        d = transport.sendfile(f, 0, 3 * MiB)
        transport.write(b"never")
        d.addBoth(lambda r: (f.close(), r)[1])
        return d

    port, outcome, made = serve(reactor, script)
    size, *_ = await run_in_thread(reactor, reader(port))
    result = await unbox(outcome)
    assert isinstance(result, Failure) and result.check(OSError)
    assert result.value.errno == errno.ENODATA
    assert size == 2 * MiB
    reason = await unbox(made[0].lost)
    assert reason.check(error.ConnectionLost)
    await port.stopListening()


@only("epoll")
async def test_a_queued_file_counts_for_flow_control(reactor: Any, tmp_path: Path) -> None:
    """A streaming producer is paused while 8 MiB of file are queued, resumed once sent."""
    path = make_file(tmp_path / "f.bin", 8 * MiB)
    producer = RecordingPushProducer()

    def script(transport: Any) -> Deferred[Any]:
        transport.registerProducer(producer, True)
        f = open(path, "rb")  # noqa: SIM115
        d = transport.sendfile(f)
        producer.events.append("queued")

        def sent(n: int) -> int:
            producer.events.append("sent")
            transport.unregisterProducer()
            transport.loseConnection()
            return n

        d.addCallback(sent)
        d.addBoth(lambda r: (f.close(), r)[1])
        return d

    port, outcome, _ = serve(reactor, script)
    size, *_ = await run_in_thread(reactor, reader(port))
    assert await unbox(outcome) == 8 * MiB == size
    assert producer.events[:2] == ["pause", "queued"]
    assert producer.events.index("resume") < producer.events.index("sent")
    await port.stopListening()


@only("epoll")
async def test_several_files_and_writes_in_order_over_unix(reactor: Any, tmp_path: Path) -> None:
    """On a UNIX socket (the copy path: its socket counts what it sends), in order."""
    path = make_file(tmp_path / "f.bin", 2 * MiB)
    outcome: Deferred[Any] = Deferred()

    def script(transport: Any) -> Deferred[Any]:
        f = open(path, "rb")  # noqa: SIM115
        first = transport.sendfile(f, MiB, MiB)
        transport.write(b"|")
        second = transport.sendfile(f, 0, 1000)
        transport.loseConnection()
        second.addCallback(lambda n: (first.result, n))
        second.addBoth(lambda r: (f.close(), r)[1])
        return second

    class Serve(Factory):
        def buildProtocol(self, addr: Any) -> Scripted:
            return Scripted(script, outcome)

    address = str(tmp_path / "s.sock")
    port = reactor.listenUNIX(address, Serve())

    def read() -> bytes:
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(30)
            s.connect(address)
            data = bytearray()
            while chunk := s.recv(65536):
                data += chunk
            return bytes(data)

    data = await run_in_thread(reactor, read)
    assert await unbox(outcome) == (MiB, 1000)
    content = path.read_bytes()
    assert data == content[MiB:] + b"|" + content[:1000]
    await port.stopListening()


@only("epoll")
async def test_plain_tcp_uses_zero_copy(
    reactor: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On plain TCP the bytes go through os.sendfile, never through pread."""
    path = make_file(tmp_path / "f.bin", 2 * MiB)
    used: list[str] = []
    real_sendfile = os.sendfile

    def spy_sendfile(*args: Any) -> int:
        used.append("sendfile")
        return real_sendfile(*args)

    def no_pread(*args: Any) -> bytes:
        raise AssertionError("pread on the zero-copy path")

    monkeypatch.setattr(_sendfile.os, "sendfile", spy_sendfile)
    monkeypatch.setattr(_sendfile.os, "pread", no_pread)

    def script(transport: Any) -> Deferred[Any]:
        f = open(path, "rb")  # noqa: SIM115
        d = transport.sendfile(f)
        transport.loseConnection()
        d.addBoth(lambda r: (f.close(), r)[1])
        return d

    port, outcome, _ = serve(reactor, script)
    got = await run_in_thread(reactor, reader(port))
    assert await unbox(outcome) == 2 * MiB
    assert got[:2] == sha_of(path) and "sendfile" in used
    await port.stopListening()


@only("epoll")
async def test_web_multiple_ranges_go_out_with_sendfile(
    reactor: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torsion.web's static files queue each range on the transport: a multipart/byteranges
    answer, exact, with no pread, then an HTTP/1.0 request closed after its file."""
    import http.client  # noqa: PLC0415

    from torsion.web.server import Site  # noqa: PLC0415
    from torsion.web.static import File  # noqa: PLC0415

    www = tmp_path / "www"
    www.mkdir()
    data = make_file(www / "f.bin", 3 * MiB).read_bytes()

    def no_pread(*args: Any) -> bytes:
        raise AssertionError("pread on the zero-copy path")

    monkeypatch.setattr(_sendfile.os, "pread", no_pread)
    port = reactor.listenTCP(0, Site(File(www), reactor=reactor), interface=LOCAL)

    def fetch() -> tuple[bytes, bytes, bytes]:
        conn = http.client.HTTPConnection(LOCAL, port.getHost().port, timeout=10)
        conn.request("GET", "/f.bin", headers={"Range": "bytes=0-9,2000000-2999999"})
        response = conn.getresponse()
        kind = response.getheader("content-type", "").encode()
        body = response.read()
        conn.close()
        with socket.create_connection((LOCAL, port.getHost().port), timeout=10) as s:
            s.sendall(b"GET /f.bin HTTP/1.0\r\n\r\n")
            whole = bytearray()
            while chunk := s.recv(1 << 20):
                whole += chunk
        return kind, body, bytes(whole)

    kind, body, whole = await run_in_thread(reactor, fetch)
    boundary = kind.split(b"boundary=")[1]
    parts = [p for p in body.split(b"--" + boundary) if p.strip(b"\r\n-")]
    assert [p.split(b"\r\n\r\n", 1)[1][:-2] for p in parts] == [data[:10],
                                                                 data[2000000:3000000]]
    assert whole.split(b"\r\n\r\n", 1)[1] == data
    await port.stopListening()
