"""The Tk reactor under a real X server (Xvfb): timers, threads, idleness, TCP, windows.

The conformance suite under ``tests/torsion/reactor`` runs its contract on the
"tk" backend too; the tests here pin what is particular to Tk: the loop is
Tk's own, it never polls (an idle reactor uses no CPU and still wakes at once
for another thread), closing the window stops it cleanly, an application may
run ``mainloop()`` itself, and the ``examples/tkfetch.py`` window draws.
"""

from __future__ import annotations

import os
import resource
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.peers import need
from torsion._reactors._tk import FD_SETSIZE, TkReactor, TkUnavailableError
from torsion.defer import Deferred
from torsion.failure import Failure
from torsion.protocol import ClientFactory, Protocol, ServerFactory
from torsion.reactor import BACKENDS, new_reactor
from torsion.testing import checked_reactor, run_for, run_until

try:
    import tkinter
except ImportError:
    if os.environ.get("CI"):
        raise  # CI must test the Tk reactor: install python3-tk (or libtk8.6 for pyenv's Python)
    pytest.skip("tkinter is not available (Debian: python3-tk)", allow_module_level=True)


REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures("x_display")


# -- helpers --------------------------------------------------------------------------------------


@pytest.fixture
def reactor() -> Iterator[TkReactor]:
    """A TkReactor on its own (withdrawn) root; stopped, closed and checked for leaks after."""
    with checked_reactor("tk") as r:
        yield r


def cpu_seconds() -> float:
    """CPU time (user + system) of the whole process: every thread, Tcl's notifier included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _x_request(sock: socket.socket, request: bytes, reply: bool) -> bytes:
    sock.sendall(request)
    if not reply:
        return b""
    data = b""
    while len(data) < 32:
        chunk = sock.recv(32 - len(data))
        assert chunk, "the X server closed the connection"
        data += chunk
    assert data[0] == 1, f"X error {data[1]} for request {request[0]}"
    return data


def send_wm_delete_window(display: str, window: int) -> None:
    """Ask ``window`` to close as a window manager does: a WM_PROTOCOLS ClientMessage.

    A raw X11 client in a few requests (no Xlib for Python here): connect,
    intern the two atoms, SendEvent, then a round trip so the server has
    handled the event before we hang up.
    """
    number = display.lstrip(":").split(".")[0]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(f"/tmp/.X11-unix/X{number}")
        sock.sendall(struct.pack("<BxHHHHxx", ord("l"), 11, 0, 0, 0))
        head = sock.recv(8, socket.MSG_WAITALL)
        assert head[0] == 1, f"the X server refused the connection: {head!r}"
        extra = struct.unpack("<H", head[6:8])[0] * 4
        while extra:
            extra -= len(sock.recv(min(extra, 65536)))

        def intern(name: bytes) -> int:
            pad = b"\0" * (-len(name) % 4)
            request = struct.pack("<BBHHxx", 16, 0, 2 + (len(name) + len(pad)) // 4, len(name))
            atom: int = struct.unpack("<I", _x_request(sock, request + name + pad, True)[8:12])[0]
            return atom

        wm_protocols = intern(b"WM_PROTOCOLS")
        wm_delete = intern(b"WM_DELETE_WINDOW")
        event = struct.pack("<BBHII5I", 33, 32, 0, window, wm_protocols, wm_delete, 0, 0, 0, 0)
        _x_request(sock, struct.pack("<BBHII", 25, 0, 11, window, 0) + event, False)
        _x_request(sock, struct.pack("<BxH", 43, 1), True)  # GetInputFocus: a round trip


def show(root: Any) -> int:
    """Map ``root`` and return the X window a window manager would talk to (Tk's wrapper)."""
    root.deiconify()
    root.geometry("200x100+0+0")
    root.update()
    return int(root.wm_frame(), 16)


# -- construction ---------------------------------------------------------------------------------


def test_registered_as_tk_backend() -> None:
    """``new_reactor("tk")`` makes a TkReactor: the conformance suite picks it up."""
    assert BACKENDS["tk"] == "torsion._reactors._tk:TkReactor"
    r = new_reactor("tk")
    try:
        assert isinstance(r, TkReactor)
        assert r.root.state() == "withdrawn"
    finally:
        r.close()


def test_without_display_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """With no DISPLAY, making the reactor raises TkUnavailableError saying what is missing."""
    monkeypatch.delenv("DISPLAY")
    with pytest.raises(TkUnavailableError, match=r"needs a display.*DISPLAY"):
        new_reactor("tk")


def test_given_root_is_used_and_kept() -> None:
    """A root passed in is the one the reactor runs on; ``close()`` leaves it alive."""
    root = tkinter.Tk()
    try:
        r = TkReactor(root)
        assert r.root is root
        ran: list[int] = []
        r.callLater(0, ran.append, 1)
        run_for(r, 0.02)
        r.callWhenRunning(r.stop)
        r.run(installSignalHandlers=False)
        r.close()
        assert ran == [1]
        assert root.winfo_exists()
    finally:
        root.destroy()


def test_descriptors_above_fd_setsize_are_refused(reactor: TkReactor) -> None:
    """Tcl's select() notifier would abort the process on fd >= 1024: ValueError instead."""

    class Far:
        def fileno(self) -> int:
            return FD_SETSIZE + 5

    with pytest.raises(ValueError, match="must be >= 0 and < 1024"):
        reactor.addReader(Far())
    with pytest.raises(ValueError, match="< 1024"):
        reactor.addWriter(Far())
    assert Far() not in reactor.getReaders() + reactor.getWriters()


# -- timers ---------------------------------------------------------------------------------------


def test_timers_run_in_order(reactor: TkReactor) -> None:
    """Calls run by due time, ties in scheduling order, each no earlier than its delay."""
    ran: list[tuple[str, float]] = []
    start = reactor.seconds()
    for name, delay in (("c", 0.03), ("a", 0.01), ("b", 0.02), ("zero", 0.0), ("b2", 0.02)):
        reactor.callLater(
            delay, lambda n=name, d=delay: ran.append((n, reactor.seconds() - start - d))
        )
    run_for(reactor, 0.1)
    assert [name for name, _ in ran] == ["zero", "a", "b", "b2", "c"]
    assert all(late >= 0 for _, late in ran), ran


def test_cancelled_calls_never_run(reactor: TkReactor) -> None:
    """A cancelled call does not run, even the earliest (the armed timer just fires for nothing)."""
    ran: list[str] = []
    first = reactor.callLater(0.01, ran.append, "first")
    reactor.callLater(0.03, ran.append, "second")
    first.cancel()

    def from_a_timer() -> None:
        doomed = reactor.callLater(0.001, ran.append, "doomed")
        doomed.cancel()

    reactor.callLater(0.005, from_a_timer)
    run_for(reactor, 0.08)
    assert ran == ["second"]
    assert reactor.getDelayedCalls() == []


def test_reset_and_delay_move_calls(reactor: TkReactor) -> None:
    """``reset`` earlier re-arms Tk's timer at once; ``reset``/``delay`` later postpone the call."""
    ran: list[tuple[str, float]] = []
    start = reactor.seconds()

    def record(name: str) -> None:
        ran.append((name, reactor.seconds() - start))

    far = reactor.callLater(5.0, record, "far moved to 0.02")
    later = reactor.callLater(0.01, record, "0.01 moved to 0.05")
    delayed = reactor.callLater(0.02, record, "0.02 delayed to 0.06")

    def move() -> None:
        far.reset(0.02 - (reactor.seconds() - start))
        later.reset(0.05 - (reactor.seconds() - start))
        delayed.delay(0.04)

    reactor.callLater(0, move)
    run_for(reactor, 0.15)
    assert [name for name, _ in ran] == [
        "far moved to 0.02", "0.01 moved to 0.05", "0.02 delayed to 0.06",
    ]
    times = dict(ran)
    assert 0.02 <= times["far moved to 0.02"] < 1.0  # not 5 s: the timer was re-armed
    assert times["0.01 moved to 0.05"] >= 0.05
    assert times["0.02 delayed to 0.06"] >= 0.06


def test_call_scheduled_earlier_than_the_armed_timer_runs_on_time(reactor: TkReactor) -> None:
    """With a timer armed 5 s out, a new 20 ms call re-arms it and runs in about 20 ms."""
    reactor.callLater(5, lambda: None)
    ran_at: list[float] = []
    start: list[float] = []

    def schedule() -> None:
        start.append(time.monotonic())
        reactor.callLater(0.02, lambda: ran_at.append(time.monotonic()))

    reactor.callLater(0.01, schedule)
    run_for(reactor, 0.3)
    assert ran_at
    assert 0.02 <= ran_at[0] - start[0] < 0.25


def test_timers_wait_while_crashed(reactor: TkReactor) -> None:
    """After ``crash()`` timers do not fire even if someone pumps Tk; a new ``run`` fires them."""
    ran: list[int] = []
    reactor.callWhenRunning(reactor.crash)
    reactor.run(installSignalHandlers=False)
    reactor.callLater(0, ran.append, 1)
    deadline = time.monotonic() + 0.05
    while time.monotonic() < deadline:
        reactor.root.update()  # pump Tk events as an application might
        time.sleep(0.005)
    assert ran == []
    run_for(reactor, 0.02)
    assert ran == [1]


# -- threads and idleness -------------------------------------------------------------------------


def test_call_from_thread_wakes_an_idle_reactor_promptly(reactor: TkReactor) -> None:
    """With nothing to do Tk sleeps; another thread's call still runs within milliseconds.

    There is no timer at all during each wait (the guard is 10 s away), so only
    the waker can wake Tk: a poll-based design would show its period here.
    """
    latencies: list[float] = []
    done: Deferred[None] = Deferred()
    rounds = 15

    def arrived(sent: float) -> None:
        latencies.append(time.perf_counter() - sent)
        if len(latencies) == rounds:
            done.callback(None)

    def worker() -> None:
        for _ in range(rounds):
            time.sleep(0.05)  # long enough for Tk to go back to sleep
            reactor.callFromThread(arrived, time.perf_counter())

    thread = threading.Thread(target=worker)
    reactor.callWhenRunning(thread.start)
    run_until(reactor, done, timeout=20)
    thread.join()
    median = statistics.median(latencies)
    worst = max(latencies)
    print(f"callFromThread latency: median {median * 1e3:.2f} ms, max {worst * 1e3:.2f} ms")
    assert median < 0.02, latencies
    assert max(latencies) < 0.25, latencies


def test_idle_reactor_uses_no_cpu(reactor: TkReactor) -> None:
    """A running TkReactor with nothing to do for 1 s uses (almost) no CPU: no busy polling."""
    measured: list[float] = []

    def begin() -> None:
        measured.append(cpu_seconds())
        reactor.callLater(1.0, end)

    def end() -> None:
        measured.append(cpu_seconds() - measured[0])
        reactor.crash()

    reactor.callLater(0.1, begin)  # let start-up work settle first
    guard = reactor.callLater(10, reactor.crash)
    reactor.run(installSignalHandlers=False)
    guard.cancel()
    used = measured[1]
    print(f"CPU used by an idle TkReactor over 1 s: {used * 1000:.1f} ms")
    assert used < 0.05, f"an idle reactor used {used:.3f} s of CPU in 1 s"


def test_call_from_thread_before_run_waits_for_run(reactor: TkReactor) -> None:
    """Calls queued from threads before ``run`` run once the reactor runs, in order."""
    ran: list[int] = []
    threads = [
        threading.Thread(target=reactor.callFromThread, args=(ran.append, i)) for i in (1, 2)
    ]
    for thread in threads:
        thread.start()
        thread.join()
    reactor.root.update()
    assert ran == []
    run_for(reactor, 0.02)
    assert ran == [1, 2]


# -- triggers -------------------------------------------------------------------------------------


def test_startup_and_shutdown_triggers(reactor: TkReactor) -> None:
    """Startup triggers fire before Tk's loop; a "before shutdown" Deferred holds the loop open."""
    order: list[str] = []
    reactor.addSystemEventTrigger("before", "startup", order.append, "before startup")
    reactor.addSystemEventTrigger("after", "startup", order.append, "after startup")

    def slow_cleanup() -> Deferred[None]:
        order.append("before shutdown")
        d: Deferred[None] = Deferred()
        def finish() -> None:
            order.append("cleanup done")
            d.callback(None)

        reactor.callLater(0.05, finish)
        return d

    reactor.addSystemEventTrigger("before", "shutdown", slow_cleanup)
    reactor.addSystemEventTrigger("during", "shutdown", order.append, "during shutdown")
    reactor.addSystemEventTrigger("after", "shutdown", order.append, "after shutdown")
    reactor.callLater(0.01, reactor.stop)
    start = time.monotonic()
    reactor.run(installSignalHandlers=False)
    assert order == [
        "before startup", "after startup", "before shutdown", "cleanup done",
        "during shutdown", "after shutdown",
    ]
    assert time.monotonic() - start < 2
    assert not reactor.running


# -- TCP ------------------------------------------------------------------------------------------


class Echo(Protocol):
    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class Collect(Protocol):
    def __init__(self, expected: int, done: Deferred[bytes]) -> None:
        self.expected = expected
        self.done = done
        self.received = bytearray()

    def connectionMade(self) -> None:
        self.transport.write(b"x" * self.expected)

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if len(self.received) >= self.expected:
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.done.callback(bytes(self.received))


def test_tcp_echo_round_trip(reactor: TkReactor) -> None:
    """A TCP echo server and client on the Tk reactor: 1 MB out and back (writers and readers)."""
    server = ServerFactory.forProtocol(Echo)
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    done: Deferred[bytes] = Deferred()
    client = ClientFactory()
    size = 1 << 20
    client.buildProtocol = lambda addr: Collect(size, done)  # type: ignore[method-assign]
    reactor.connectTCP("127.0.0.1", port.getHost().port, client)
    echoed = run_until(reactor, done, timeout=30)
    assert echoed == b"x" * size
    run_until(reactor, port.stopListening())
    assert [r for r in reactor.getReaders() if r is not reactor._waker] == []
    assert reactor.getWriters() == []


def test_error_in_a_selectable_is_logged_and_the_loop_goes_on(
    reactor: TkReactor, logged_failures: Any
) -> None:
    """``doRead`` raising: the error is logged, the selectable closed, other work goes on."""
    a, b = socket.socketpair()
    lost: list[Failure] = []

    class Broken:
        def fileno(self) -> int:
            return a.fileno()

        def doRead(self) -> None:
            raise RuntimeError("broken reader")

        def connectionLost(self, reason: Failure) -> None:
            lost.append(reason)

        def logPrefix(self) -> str:
            return "Broken"

    try:
        reactor.addReader(Broken())
        b.send(b"!")
        ran: list[int] = []
        reactor.callLater(0.05, ran.append, 1)
        run_for(reactor, 0.1)
        assert ran == [1]
        assert len(lost) == 1 and lost[0].check(RuntimeError)
        logged = logged_failures.flush(RuntimeError)
        assert [str(f.value) for f in logged] == ["broken reader"]
        assert reactor.getReaders() == [reactor._waker]
    finally:
        a.close()
        b.close()


class _Quit(BaseException):
    """Not an Exception: what KeyboardInterrupt or a test runner's timeout is to Tk."""


def test_errors_in_tk_callbacks_are_logged(reactor: TkReactor, logged_failures: Any) -> None:
    """An exception in a Tk command callback (``after``, a button) is logged as a failure
    instead of being printed and forgotten by tkinter; the loop goes on."""
    reactor.root.after(0, lambda: 1 / 0)
    ran: list[int] = []
    reactor.callLater(0.05, ran.append, 1)
    run_for(reactor, 0.1)
    assert ran == [1]
    [logged] = logged_failures.flush(ZeroDivisionError)
    assert logged.check(ZeroDivisionError)


def test_a_base_exception_in_a_tk_callback_ends_run(reactor: TkReactor) -> None:
    """Anything that is not an Exception raised in a Tk callback ends ``run()`` with it."""

    def quit_now() -> None:
        raise _Quit()

    reactor.root.after(0, quit_now)
    guard = reactor.callLater(10, reactor.crash)
    with pytest.raises(_Quit):
        reactor.run(installSignalHandlers=False)
    guard.cancel()
    assert not reactor.running
    run_for(reactor, 0.01)  # and it runs again


def test_the_applications_error_reporting_comes_back_after_close() -> None:
    """On a root the application gave, ``report_callback_exception`` is the reactor's
    while it exists, and the application's own again after ``close()``."""
    root = tkinter.Tk()
    root.withdraw()

    def mine(*args: object) -> None:
        pass

    root.report_callback_exception = mine  # type: ignore[method-assign]
    try:
        r = TkReactor(root)
        assert root.report_callback_exception == r._callback_failed
        r.close()
        assert root.report_callback_exception is mine
    finally:
        root.update_idletasks()
        root.destroy()


# -- windows --------------------------------------------------------------------------------------


def test_closing_the_window_stops_the_reactor(x_display: str) -> None:
    """A WM_DELETE_WINDOW sent through the X server runs shutdown, ends ``run``, kills the root."""
    root = tkinter.Tk()
    r = TkReactor(root)
    window = show(root)
    fired: list[str] = []
    r.addSystemEventTrigger("before", "shutdown", fired.append, "shutdown")
    r.callLater(0.05, send_wm_delete_window, x_display, window)
    guard = r.callLater(10, r.crash)
    start = time.monotonic()
    r.run(installSignalHandlers=False)
    assert guard.called is False
    guard.cancel()
    assert fired == ["shutdown"]
    assert time.monotonic() - start < 5
    assert not r.running
    with pytest.raises(tkinter.TclError):
        root.winfo_exists()  # destroyed: its Tk commands are gone
    r.close()


def test_destroying_the_root_stops_the_reactor() -> None:
    """If the application destroys the root under ``run()``, the reactor shuts down cleanly."""
    root = tkinter.Tk()
    r = TkReactor(root)
    fired: list[str] = []

    def slow() -> Deferred[None]:
        d: Deferred[None] = Deferred()
        r.callLater(0.02, d.callback, None)  # timers still run with the window gone
        return d

    r.addSystemEventTrigger("before", "shutdown", slow)
    r.addSystemEventTrigger("after", "shutdown", fired.append, "after")
    r.callLater(0.02, root.destroy)
    guard = r.callLater(10, r.crash)
    r.run(installSignalHandlers=False)
    assert not guard.called
    guard.cancel()
    assert fired == ["after"]
    r.close()


def test_application_runs_mainloop_itself(x_display: str) -> None:
    """``startRunning()`` then the application's own ``mainloop()``: timers, TCP, then window close.

    ``stop()`` leaves the application's loop alone; closing the window runs the
    shutdown event, then destroys the window, which ends ``mainloop()``.
    """
    root = tkinter.Tk()
    r = TkReactor(root)
    window = show(root)
    events: list[str] = []
    port = r.listenTCP(0, ServerFactory.forProtocol(Echo), interface="127.0.0.1")
    done: Deferred[bytes] = Deferred()
    client = ClientFactory()
    client.buildProtocol = lambda addr: Collect(1000, done)  # type: ignore[method-assign]

    def echoed(data: bytes) -> None:
        events.append(f"echoed {len(data)}")
        root.after(20, send_wm_delete_window, x_display, window)

    done.addCallback(echoed)
    r.addSystemEventTrigger("before", "shutdown", events.append, "shutdown")
    r.callLater(0.01, events.append, "timer")
    r.callLater(0.02, r.connectTCP, "127.0.0.1", port.getHost().port, client)
    r.startRunning()
    watchdog = root.after(10_000, root.destroy)
    start = time.monotonic()
    root.mainloop()  # the application's loop, not the reactor's
    assert time.monotonic() - start < 5, "the watchdog ended mainloop"
    assert events == ["timer", "echoed 1000", "shutdown"]
    assert not r.running
    del watchdog
    r.close()


def test_stop_leaves_the_applications_loop_running() -> None:
    """With the application's ``mainloop()``, ``stop()`` runs shutdown and the loop goes on."""
    root = tkinter.Tk()
    root.withdraw()
    r = TkReactor(root)
    events: list[str] = []
    r.addSystemEventTrigger("after", "shutdown", events.append, "shutdown")
    r.callLater(0.01, r.stop)
    def later() -> None:
        events.append("app still running")
        root.quit()

    root.after(200, later)
    r.startRunning()
    root.mainloop()
    assert events == ["shutdown", "app still running"]
    r.close()
    root.destroy()


def test_sigterm_stops_an_idle_reactor_at_once(x_display: str) -> None:
    """``run()`` installs signal handlers that work while Tk sleeps (via ``set_wakeup_fd``)."""
    script = (
        "import sys\n"
        "from torsion.reactor import new_reactor\n"
        "r = new_reactor('tk')\n"
        "r.addSystemEventTrigger('after', 'shutdown', print, 'shutdown ran', flush=True)\n"
        "r.callWhenRunning(print, 'ready', flush=True)\n"
        "r.callLater(30, print, 'timed out', flush=True)\n"
        "r.run()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.3)  # idle in Tk's loop: no timer due for 30 s
        sent = time.monotonic()
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=10)
        elapsed = time.monotonic() - sent
    assert child.returncode == 0
    assert out.strip() == "shutdown ran"
    assert elapsed < 2, f"SIGTERM took {elapsed:.2f} s to stop the reactor"


# -- the example ----------------------------------------------------------------------------------


def test_tkfetch_example_draws_live_results(x_display: str, tmp_path: Path) -> None:
    """``examples/tkfetch.py`` fetches 20 requests, shows them, and closes with its window.

    A screenshot of the screen (ImageMagick's ``import``) taken once every row
    is filled in must show a drawn window: many distinct colours, not a blank
    screen.  Then a WM_DELETE_WINDOW ends it long before ``--quit-after``.
    """
    import_ = need("import", "imagemagick")
    convert = need("convert", "imagemagick")
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    with subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "tkfetch.py"), "--count", "20",
         "--quit-after", "60", "--seed", "1"],
        stdout=subprocess.PIPE, text=True, env=env,
    ) as child:
        try:
            assert child.stdout is not None
            ready = child.stdout.readline().split()
            assert ready[0] == "ready", ready
            window = int(ready[1].removeprefix("window="), 16)
            done = child.stdout.readline().split()
            assert done[:2] == ["done", "round=1"], done
            results = dict(field.split("=") for field in done[2:])
            assert int(results["ok"]) + int(results["failed"]) == 20
            assert int(results["ok"]) >= 10  # about 1 in 10 answers 503 on purpose
            time.sleep(0.3)  # let Tk draw the last row
            shot = tmp_path / "shot.png"
            subprocess.run([import_, "-window", "root", str(shot)], check=True, timeout=30, env=env)
            assert shot.stat().st_size > 1000
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            colours = subprocess.run(
                [convert, str(shot), "-format", "%k", "info:"],
                check=True, timeout=30, capture_output=True, text=True,
            ).stdout
            assert int(colours) > 50, f"the screenshot looks blank: {colours} colours"
            closing = time.monotonic()
            send_wm_delete_window(x_display, window)
            child.wait(timeout=15)
            assert time.monotonic() - closing < 10
        finally:
            if child.poll() is None:
                child.kill()
    assert child.returncode == 0
