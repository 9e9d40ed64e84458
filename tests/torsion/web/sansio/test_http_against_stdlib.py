"""Real peers: the standard library's http.client and http.server talk to our core.

Each test joins the two ends with a socketpair, runs the stdlib peer in a thread and
drives our Connection by hand with blocking sockets: no reactor involved.
"""

from __future__ import annotations

import http.client
import http.server
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from torsion.web.sansio import (
    NEED_DATA,
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    Event,
    Request,
    Response,
    Role,
    State,
)

TIMEOUT = 5.0


class PeerThread(threading.Thread):
    """Runs ``target`` and keeps its exception for the test to re-raise."""

    def __init__(self, target: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self._target_fn = target
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._target_fn()
        except BaseException as exc:  # re-raised in the test's thread
            self.error = exc

    def finish(self) -> None:
        self.join(TIMEOUT)
        assert not self.is_alive(), "the peer thread did not finish"
        if self.error is not None:
            raise self.error


@pytest.fixture
def socks() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.settimeout(TIMEOUT)
    b.settimeout(TIMEOUT)
    yield a, b
    a.close()
    b.close()


def next_event(conn: Connection, sock: socket.socket) -> Event:
    """The next event, reading from the socket as needed."""
    while True:
        event = conn.next_event()
        if event is NEED_DATA:
            conn.receive_data(sock.recv(65536))
            continue
        assert isinstance(event, Event), event
        return event


# -- our server, http.client as the client -------------------------------------------

Handler = Callable[[Request, bytes], list[Event]]


def serve(sock: socket.socket, handler: Handler, seen: list[tuple[Request, bytes]]) -> None:
    """A tiny server on our core: one handler call per request, keep-alive honoured."""
    conn = Connection(Role.SERVER)
    while True:
        event = next_event(conn, sock)
        if isinstance(event, ConnectionClosed):
            return
        assert isinstance(event, Request)
        body = b""
        while not isinstance(part := next_event(conn, sock), EndOfMessage):
            assert isinstance(part, Data)
            body += part.data
        seen.append((event, body))
        wire = b"".join(conn.send(out) for out in handler(event, body))
        sock.sendall(wire)
        if conn.our_state is State.MUST_CLOSE:
            sock.shutdown(socket.SHUT_WR)
            return
        conn.start_next_cycle()


def stdlib_client(sock: socket.socket) -> http.client.HTTPConnection:
    client = http.client.HTTPConnection("example.com", timeout=TIMEOUT)
    client.sock = sock  # already connected: http.client will not call connect()
    return client


def echo(request: Request, body: bytes) -> list[Event]:
    payload = b"%s %s %d:%s" % (request.method, request.target, len(body), body)
    length = [] if request.target.endswith(b"chunked") else [("Content-Length", str(len(payload)))]
    return [Response(status_code=200, headers=length), Data(payload), EndOfMessage()]


def test_stdlib_client_keep_alive_on_our_server(socks: tuple[socket.socket, socket.socket]) -> None:
    """Three requests on one connection, bodies by Content-Length and chunked."""
    ours, theirs = socks
    seen: list[tuple[Request, bytes]] = []
    peer = PeerThread(lambda: serve(ours, echo, seen))
    peer.start()
    client = stdlib_client(theirs)
    client.request("GET", "/one")
    assert client.getresponse().read() == b"GET /one 0:"
    client.request("POST", "/two", body=b"hello", headers={"Content-Type": "text/plain"})
    assert client.getresponse().read() == b"POST /two 5:hello"
    client.request("GET", "/three/chunked")
    response = client.getresponse()
    assert response.getheader("Transfer-Encoding") == "chunked"
    assert response.read() == b"GET /three/chunked 0:"
    assert client.sock is theirs  # never reconnected: keep-alive held
    theirs.shutdown(socket.SHUT_WR)
    peer.finish()
    assert [r.headers.get(b"host") for r, _ in seen] == [b"example.com"] * 3


def test_stdlib_client_chunked_upload(socks: tuple[socket.socket, socket.socket]) -> None:
    """http.client's encode_chunked request body is decoded by our server."""
    ours, theirs = socks
    seen: list[tuple[Request, bytes]] = []
    peer = PeerThread(lambda: serve(ours, echo, seen))
    peer.start()
    client = stdlib_client(theirs)
    client.request("PUT", "/up", body=iter([b"ab", b"cde", b"f"]), encode_chunked=True,
                   headers={"Transfer-Encoding": "chunked"})
    assert client.getresponse().read() == b"PUT /up 6:abcdef"
    theirs.shutdown(socket.SHUT_WR)
    peer.finish()


def test_stdlib_client_head_and_close(socks: tuple[socket.socket, socket.socket]) -> None:
    """HEAD gets headers only; Connection: close ends the exchange cleanly."""
    ours, theirs = socks
    seen: list[tuple[Request, bytes]] = []
    peer = PeerThread(lambda: serve(ours, echo, seen))
    peer.start()
    client = stdlib_client(theirs)
    client.request("HEAD", "/h")
    response = client.getresponse()
    assert response.getheader("Content-Length") == "10" and response.read() == b""
    client.request("GET", "/bye", headers={"Connection": "close"})
    response = client.getresponse()
    assert response.getheader("Connection") == "close" and response.read() == b"GET /bye 0:"
    peer.finish()
    assert client.sock is None  # http.client saw "close" and closed its side


# -- our client, http.server as the server -------------------------------------------


class EchoHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _reply(self, body: bytes, *, head: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def do_GET(self) -> None:
        self._reply(b"got " + self.path.encode())

    def do_HEAD(self) -> None:
        self._reply(b"got " + self.path.encode(), head=True)

    def do_POST(self) -> None:
        size = int(self.headers["Content-Length"])
        self._reply(b"posted " + self.rfile.read(size))


class OldHandler(EchoHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:  # no Content-Length: the body runs to the close
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"old style body")


def run_stdlib_server(sock: socket.socket, handler: type[EchoHandler]) -> PeerThread:
    class FakeServer:
        server_name = "test"
        server_port = 0

    def run() -> None:
        handler(sock, ("127.0.0.1", 0), FakeServer())  # type: ignore[arg-type]
        sock.shutdown(socket.SHUT_WR)  # what socketserver does after the handler

    peer = PeerThread(run)
    peer.start()
    return peer


def exchange(conn: Connection, sock: socket.socket, events: list[Event]) -> list[Event]:
    for event in events:
        sock.sendall(conn.send(event))
    got = [next_event(conn, sock)]
    while not isinstance(got[-1], (EndOfMessage, ConnectionClosed)):
        got.append(next_event(conn, sock))
    return got


def get(target: str, method: str = "GET", *fields: tuple[str, str]) -> Request:
    return Request(method=method, target=target, headers=[("Host", "localhost"), *fields])


def test_our_client_on_stdlib_server_keep_alive(socks: tuple[socket.socket, socket.socket]) -> None:
    """GET, POST and HEAD on one connection to http.server."""
    ours, theirs = socks
    peer = run_stdlib_server(theirs, EchoHandler)
    conn = Connection(Role.CLIENT)
    got = exchange(conn, ours, [get("/a"), EndOfMessage()])
    assert isinstance(got[0], Response) and got[0].status_code == 200
    assert got[1:] == [Data(b"got /a"), EndOfMessage()]
    conn.start_next_cycle()
    got = exchange(conn, ours, [get("/p", "POST", ("Content-Length", "3")), Data(b"xyz"),
                                EndOfMessage()])
    assert b"".join(e.data for e in got if isinstance(e, Data)) == b"posted xyz"
    conn.start_next_cycle()
    got = exchange(conn, ours, [get("/h", "HEAD"), EndOfMessage()])
    assert isinstance(got[0], Response) and got[0].headers.get(b"content-length") == b"6"
    assert got[1:] == [EndOfMessage()]
    conn.start_next_cycle()
    ours.shutdown(socket.SHUT_WR)
    peer.finish()


def test_our_client_reads_an_http10_close_delimited_body(
    socks: tuple[socket.socket, socket.socket],
) -> None:
    """An HTTP/1.0 server's body without length ends at the close."""
    ours, theirs = socks
    peer = run_stdlib_server(theirs, OldHandler)
    conn = Connection(Role.CLIENT)
    got = exchange(conn, ours, [get("/"), EndOfMessage()])
    assert isinstance(got[0], Response) and got[0].http_version == b"1.0"
    assert b"".join(e.data for e in got if isinstance(e, Data)) == b"old style body"
    assert conn.their_state is State.MUST_CLOSE
    assert next_event(conn, ours) == ConnectionClosed()
    peer.finish()
