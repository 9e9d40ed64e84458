"""A Tk window showing network calls complete live, on torsion's Tk reactor.

    python examples/tkfetch.py [--count N] [--quit-after SECONDS] [--seed S]

One reactor, one thread, no polling: Tk's event loop runs the window *and* the
sockets.  The window starts a tiny line server on 127.0.0.1 (in the same
reactor) that answers each request after a random delay, then fires ``--count``
requests at it in parallel.  Each row of the table fills in as its Deferred
fires (status, bytes, milliseconds), the progress bar follows, and the window
stays responsive throughout: type in the box, resize, press "Fetch again".

The protocol, one request per connection::

    client: GET <n>\\n          server (after 50-1200 ms): <status> <size>\\n<size bytes>

Closing the window stops the reactor cleanly (the shutdown event runs, the
server port closes).  ``--quit-after`` stops it after that many seconds (for
tests and demos).  Lines on stdout say what happened, for scripts::

    ready window=0x... port=PORT      the window is shown
    done round=R ok=K failed=F seconds=S
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import tkinter
from tkinter import ttk
from typing import Any

import torsion.reactor
from torsion.defer import Deferred, DeferredList
from torsion.failure import Failure
from torsion.protocol import ClientFactory, Protocol, ServerFactory, connectionDone

# -- the server: answers "GET <n>" after a random delay ------------------------------------


class SlowLineServer(Protocol):
    """Answers one ``GET <n>`` line after a random delay, then closes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.buffer = b""
        self.pending: Any = None

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        if b"\n" not in self.buffer or self.pending is not None:
            return
        line = self.buffer.split(b"\n", 1)[0].decode("ascii", "replace").split()
        delay = self.rng.uniform(0.05, 1.2)
        self.pending = self.transport.reactor.callLater(delay, self.answer, line)

    def answer(self, line: list[str]) -> None:
        self.pending = None
        if len(line) != 2 or line[0] != "GET" or not line[1].isdigit():
            self.transport.write(b"400 0\n")
        elif self.rng.random() < 0.1:  # now and then, something goes wrong
            self.transport.write(b"503 0\n")
        else:
            body = bytes(self.rng.randrange(32, 127) for _ in range(self.rng.randrange(200, 20000)))
            self.transport.write(b"200 %d\n" % len(body) + body)
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.pending is not None and self.pending.active():
            self.pending.cancel()


class SlowLineFactory(ServerFactory):
    """A :class:`SlowLineServer` per connection, all drawing from one random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def buildProtocol(self, addr: Any) -> SlowLineServer:
        return SlowLineServer(self.rng)


# -- the client: one request per connection, a Deferred per request ------------------------


class Fetch(Protocol):
    """Sends ``GET <n>``, collects the reply until the server closes."""

    def __init__(self, number: int, done: Deferred[tuple[str, int]]) -> None:
        self.number = number
        self.done = done
        self.received = bytearray()

    def connectionMade(self) -> None:
        self.transport.write(b"GET %d\n" % self.number)

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        head, _, body = bytes(self.received).partition(b"\n")
        fields = head.decode("ascii", "replace").split()
        if len(fields) == 2 and fields[1].isdigit() and len(body) == int(fields[1]):
            self.done.callback((fields[0], len(body)))
        else:
            self.done.errback(Failure(ValueError(f"bad reply: {head[:40]!r}")))


class FetchFactory(ClientFactory):
    """Builds the one :class:`Fetch` of a request; a failed connection fails the request."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.done: Deferred[tuple[str, int]] = Deferred()

    def buildProtocol(self, addr: Any) -> Fetch:
        return Fetch(self.number, self.done)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        self.done.errback(reason)


def fetch(reactor: Any, port: int, number: int) -> Deferred[tuple[str, int]]:
    """Request ``number`` from the server on ``port``; fires with (status, body length)."""
    factory = FetchFactory(number)
    reactor.connectTCP("127.0.0.1", port, factory, timeout=10)
    return factory.done


# -- the window ------------------------------------------------------------------------------


class FetchWindow:
    """The table of requests, the progress bar and the buttons."""

    def __init__(self, reactor: Any, root: tkinter.Tk, port: int, count: int) -> None:
        self.reactor = reactor
        self.root = root
        self.port = port
        self.count = count
        self.round = 0
        self.finished = 0
        self.ok = 0
        self.started_at = 0.0
        self.spinner: Any = None

        root.title("torsion tkfetch")
        root.geometry("+0+0")
        frame = ttk.Frame(root, padding=8)
        frame.pack(fill="both", expand=True)

        self.tree = ttk.Treeview(
            frame, columns=("status", "bytes", "ms"), height=min(count, 20), selectmode="browse"
        )
        self.tree.heading("#0", text="request")
        self.tree.column("#0", width=110)
        for column, width in (("status", 90), ("bytes", 90), ("ms", 80)):
            self.tree.heading(column, text=column)
            self.tree.column(column, width=width, anchor="e")
        self.tree.tag_configure("ok", foreground="#1b7f2a")
        self.tree.tag_configure("failed", foreground="#b3261e")
        self.tree.tag_configure("waiting", foreground="#777777")
        self.tree.grid(row=0, column=0, columnspan=3, sticky="nsew")

        self.progress = ttk.Progressbar(frame, maximum=count, length=370)
        self.progress.grid(row=1, column=0, columnspan=3, sticky="ew", pady=(8, 4))
        self.status = ttk.Label(frame, text="starting...")
        self.status.grid(row=2, column=0, columnspan=2, sticky="w")
        self.again = ttk.Button(frame, text="Fetch again", command=self.start_round)
        self.again.grid(row=2, column=2, sticky="e")
        ttk.Label(frame, text="Type here while it fetches:").grid(
            row=3, column=0, columnspan=2, sticky="w", pady=(8, 0)
        )
        self.entry = ttk.Entry(frame)
        self.entry.grid(row=4, column=0, columnspan=3, sticky="ew")
        frame.columnconfigure(0, weight=1)
        frame.rowconfigure(0, weight=1)

    def start_round(self) -> None:
        """Fire every request at once; rows fill in as the answers arrive."""
        self.round += 1
        self.finished = 0
        self.ok = 0
        self.started_at = time.monotonic()
        self.again.state(["disabled"])
        self.progress.configure(value=0)
        self.tree.delete(*self.tree.get_children())
        requests = []
        for number in range(1, self.count + 1):
            row = self.tree.insert(
                "", "end", text=f"GET {number}", values=("...", "", ""), tags=("waiting",)
            )
            d = fetch(self.reactor, self.port, number)
            d.addCallbacks(self.succeeded, self.failed, callbackArgs=(row,), errbackArgs=(row,))
            requests.append(d)
        DeferredList(requests).addCallback(self.round_done, self.round)
        self.spin()

    def _elapsed_ms(self) -> str:
        return f"{(time.monotonic() - self.started_at) * 1000:.0f}"

    def succeeded(self, result: tuple[str, int], row: str) -> None:
        status, size = result
        tag = "ok" if status == "200" else "failed"
        self.tree.item(row, values=(status, size, self._elapsed_ms()), tags=(tag,))
        self.ok += status == "200"
        self.step()

    def failed(self, failure: Failure, row: str) -> None:
        self.tree.item(row, values=(type(failure.value).__name__, 0, self._elapsed_ms()),
                       tags=("failed",))
        self.step()

    def step(self) -> None:
        self.finished += 1
        self.progress.configure(value=self.finished)

    def spin(self) -> None:
        """Animate the status line while requests are out (it proves the loop is free)."""
        if self.finished >= self.count:
            return
        dots = "." * (int(time.monotonic() * 8) % 4)
        self.status.configure(text=f"{self.finished}/{self.count} answered{dots}")
        self.spinner = self.reactor.callLater(0.1, self.spin)

    def round_done(self, results: list[tuple[bool, Any]], round_number: int) -> None:
        seconds = time.monotonic() - self.started_at
        ok = self.ok
        failed = len(results) - ok
        self.status.configure(
            text=f"{len(results)} answered in {seconds:.2f} s: {ok} ok, {failed} failed"
        )
        self.again.state(["!disabled"])
        print(f"done round={round_number} ok={ok} failed={failed} seconds={seconds:.2f}",
              flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Live network results in a Tk window.")
    parser.add_argument("--count", type=int, default=20, help="requests per round (default 20)")
    parser.add_argument("--quit-after", type=float, metavar="SECONDS", help="stop after this long")
    parser.add_argument("--seed", type=int, help="seed the server's random delays and sizes")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error("--count must be >= 1")

    try:
        reactor: Any = torsion.reactor.new_reactor("tk")
    except RuntimeError as exc:  # TkUnavailableError: no display
        print(f"tkfetch: {exc}", file=sys.stderr)
        return 2
    root: tkinter.Tk = reactor.root  # the reactor made it (withdrawn); we show it
    rng = random.Random(args.seed)
    server = reactor.listenTCP(0, SlowLineFactory(rng), interface="127.0.0.1")
    port = server.getHost().port
    window = FetchWindow(reactor, root, port, args.count)
    root.deiconify()

    def started() -> None:
        root.update_idletasks()
        print(f"ready window={root.wm_frame()} port={port}", flush=True)
        window.start_round()

    reactor.callWhenRunning(started)
    if args.quit_after is not None:
        reactor.callLater(args.quit_after, reactor.stop)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
