"""Connection behaviour over whole exchanges: keep-alive, pipelining, 100-continue, HEAD,
1xx, bodiless statuses, close, HTTP/1.0 peers, CONNECT and Upgrade, errors."""

from __future__ import annotations

import pytest
from http_helpers import ConnectionPair, drain, normalize

from torsion.web.sansio import (
    NEED_DATA,
    PAUSED,
    Connection,
    ConnectionClosed,
    Data,
    EndOfMessage,
    InformationalResponse,
    LocalProtocolError,
    RemoteProtocolError,
    Request,
    Response,
    Role,
    State,
)

C, S = Role.CLIENT, Role.SERVER


def get(target: str = "/", *fields: tuple[str, str], method: str = "GET") -> Request:
    return Request(method=method, target=target, headers=[("Host", "example.com"), *fields])


def ok(*fields: tuple[str, str], status: int = 200) -> Response:
    return Response(status_code=status, headers=list(fields))


def test_simple_exchange_and_keep_alive() -> None:
    """Two cycles on one connection; both sides agree at each step."""
    pair = ConnectionPair()
    for n in range(2):
        assert pair.send(C, [get(f"/{n}"), EndOfMessage()]) == [get(f"/{n}"), EndOfMessage()]
        assert pair.server.states == {C: State.DONE, S: State.SEND_RESPONSE}
        got = pair.send(S, [ok(("Content-Length", "2")), Data(b"hi"), EndOfMessage()])
        assert got == [Response(status_code=200, reason="OK", headers=[("Content-Length", "2")]),
                       Data(b"hi"), EndOfMessage()]
        assert pair.client.states == pair.server.states == {C: State.DONE, S: State.DONE}
        pair.cycle()
        assert pair.client.our_state is State.IDLE


def test_server_pauses_on_pipelined_requests_until_the_next_cycle() -> None:
    """Pipelined requests wait: PAUSED until the response is done and start_next_cycle."""
    server = Connection(S)
    server.receive_data(b"".join(
        b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % n for n in range(3)
    ))
    targets = []
    for _ in range(3):
        request, end, paused = server.next_event(), server.next_event(), server.next_event()
        assert isinstance(request, Request) and end == EndOfMessage()
        targets.append(request.target)
        assert paused in (PAUSED, NEED_DATA)
        assert server.next_event() is paused  # stays paused while we answer
        server.send(ok(("Content-Length", "0")))
        server.send(EndOfMessage())
        server.start_next_cycle()
    assert targets == [b"/0", b"/1", b"/2"] and server.next_event() is NEED_DATA


def test_start_next_cycle_needs_both_sides_done() -> None:
    """Before the response is complete there is no next cycle, and nothing changes."""
    pair = ConnectionPair()
    pair.send(C, [get(), EndOfMessage()])
    with pytest.raises(LocalProtocolError, match="both must be DONE"):
        pair.server.start_next_cycle()
    assert pair.server.our_state is State.SEND_RESPONSE


def test_chunked_both_ways_with_trailers() -> None:
    """Without a length, an HTTP/1.1 body is chunked; trailers cross."""
    pair = ConnectionPair()
    request = get("/", ("Transfer-Encoding", "chunked"), method="POST")
    got = pair.send(C, [request, Data(b"ab"), Data(b""), Data(b"cd"),
                        EndOfMessage(headers=[("X-Sum", "1")])], cuts=range(0, 200, 3))
    assert got == [request, Data(b"abcd"), EndOfMessage(headers=[("X-Sum", "1")])]
    got = pair.send(S, [ok(), Data(b"x" * 100), EndOfMessage(headers=[("X-T", "2")])])
    assert got[0].headers == [(b"transfer-encoding", b"chunked")]  # type: ignore[union-attr]
    assert got[1:] == [Data(b"x" * 100), EndOfMessage(headers=[("X-T", "2")])]
    assert b"0\r\nX-T: 2\r\n\r\n" in pair.wire[S][-1]


def test_content_length_is_enforced_when_sending() -> None:
    """Too much or too little data for the Content-Length is our error."""
    conn = Connection(C)
    conn.send(get("/", ("Content-Length", "3"), method="PUT"))
    with pytest.raises(LocalProtocolError, match="left to the declared"):
        conn.send(Data(b"abcd"))
    assert conn.our_state is State.ERROR
    with pytest.raises(LocalProtocolError, match="ERROR"):
        conn.send(Data(b"a"))
    conn = Connection(C)
    conn.send(get("/", ("Content-Length", "3"), method="PUT"))
    conn.send(Data(b"ab"))
    with pytest.raises(LocalProtocolError, match="short"):
        conn.send(EndOfMessage())


def test_request_without_length_has_no_body() -> None:
    """A request with neither Content-Length nor Transfer-Encoding can't carry data."""
    conn = Connection(C)
    conn.send(get(method="POST"))
    with pytest.raises(LocalProtocolError):
        conn.send(Data(b"x"))


def test_trailers_need_chunked() -> None:
    """Trailers with Content-Length framing are refused."""
    conn = Connection(C)
    conn.send(get("/", ("Content-Length", "0"), method="POST"))
    with pytest.raises(LocalProtocolError, match="trailers"):
        conn.send(EndOfMessage(headers=[("X", "y")]))


def test_expect_100_continue_flow() -> None:
    """The client waits; the server sees the flag, sends 100, then the body comes."""
    pair = ConnectionPair()
    request = get("/", ("Content-Length", "4"), ("Expect", "100-Continue"), method="PUT")
    assert pair.send(C, request) == [request]
    assert pair.client.client_is_waiting_for_100_continue
    assert pair.server.client_is_waiting_for_100_continue
    assert pair.server.they_are_waiting_for_100_continue
    assert not pair.client.they_are_waiting_for_100_continue
    assert pair.send(S, InformationalResponse(status_code=100)) == [
        InformationalResponse(status_code=100, reason="Continue")]
    assert not pair.client.client_is_waiting_for_100_continue
    assert not pair.server.client_is_waiting_for_100_continue
    assert pair.send(C, [Data(b"body"), EndOfMessage()]) == [Data(b"body"), EndOfMessage()]


def test_final_response_to_a_waiting_client_closes_the_connection() -> None:
    """Refusing the body (no 100) leaves doubt whether it comes: Connection: close."""
    pair = ConnectionPair()
    pair.send(C, get("/", ("Content-Length", "4"), ("Expect", "100-continue"), method="PUT"))
    got = pair.send(S, [ok(("Content-Length", "0"), status=417), EndOfMessage()])
    assert got[0].headers.get(b"connection") == b"close"  # type: ignore[union-attr]
    assert pair.server.our_state is State.MUST_CLOSE


def test_client_sending_body_without_waiting_clears_the_flag() -> None:
    """A client that gives up waiting and sends its body is no longer waiting."""
    pair = ConnectionPair()
    pair.send(C, get("/", ("Content-Length", "1"), ("Expect", "100-continue"), method="PUT"))
    pair.send(C, Data(b"x"))
    assert not pair.server.client_is_waiting_for_100_continue
    assert not pair.client.client_is_waiting_for_100_continue


def test_expect_ignored_in_http10() -> None:
    """An HTTP/1.0 client's Expect is ignored (RFC 9110 section 10.1.1)."""
    server = Connection(S)
    server.receive_data(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
    server.next_event()
    assert not server.client_is_waiting_for_100_continue


def test_head_response_keeps_content_length_and_drops_the_body() -> None:
    """A HEAD response is sent with its Content-Length, without body; data is discarded."""
    pair = ConnectionPair()
    pair.send(C, [get(method="HEAD"), EndOfMessage()])
    got = pair.send(S, [ok(("Content-Length", "5")), Data(b"hello"), EndOfMessage()])
    assert got == [Response(status_code=200, reason="OK", headers=[("Content-Length", "5")]),
                   EndOfMessage()]
    assert pair.wire[S][-1].endswith(b"Content-Length: 5\r\n\r\n")
    pair.cycle()


@pytest.mark.parametrize("status", [204, 304])
def test_bodiless_statuses(status: int) -> None:
    """204 and 304 carry no body; data for them is our error; keep-alive survives."""
    pair = ConnectionPair()
    pair.send(C, [get(), EndOfMessage()])
    got = pair.send(S, [ok(status=status), EndOfMessage()])
    assert got == [Response(status_code=status, reason=got[0].reason), EndOfMessage()]  # type: ignore[union-attr]
    assert b"Transfer-Encoding" not in pair.wire[S][-1]
    pair.cycle()
    pair.send(C, [get(), EndOfMessage()])
    pair.server.send(ok(status=status))
    with pytest.raises(LocalProtocolError):
        pair.server.send(Data(b"x"))


def test_forbidden_framing_headers_in_responses() -> None:
    """Content-Length in a 204 or 1xx, Transfer-Encoding in a 304, are our errors."""
    for response in (ok(("Content-Length", "0"), status=204),
                     ok(("Transfer-Encoding", "chunked"), status=304),
                     ok(("Content-Length", "1"), ("Transfer-Encoding", "chunked")),
                     ok(("Content-Length", "1, 2")),
                     ok(("Transfer-Encoding", "gzip"))):
        pair = ConnectionPair()
        pair.send(C, [get(), EndOfMessage()])
        with pytest.raises(LocalProtocolError):
            pair.server.send(response)
        assert pair.server.our_state is State.ERROR
    pair = ConnectionPair()
    pair.send(C, [get(), EndOfMessage()])
    with pytest.raises(LocalProtocolError, match="1xx"):
        pair.server.send(InformationalResponse(status_code=103, headers=[("Content-Length", "0")]))


def test_connection_close_from_the_client() -> None:
    """A request with Connection: close makes both sides MUST_CLOSE; the response says close."""
    pair = ConnectionPair()
    pair.send(C, [get("/", ("Connection", "close")), EndOfMessage()])
    assert pair.client.our_state is State.MUST_CLOSE
    got = pair.send(S, [ok(("Content-Length", "0")), EndOfMessage()])
    assert got[0].headers.get(b"connection") == b"close"  # type: ignore[union-attr]
    assert pair.server.states == {C: State.MUST_CLOSE, S: State.MUST_CLOSE}
    assert pair.server.send(ConnectionClosed()) == b""
    assert pair.close(S) == [ConnectionClosed()]
    assert pair.client.their_state is State.CLOSED


def test_connection_close_from_the_server() -> None:
    """A response with Connection: close ends keep-alive for the client too."""
    pair = ConnectionPair()
    pair.send(C, [get(), EndOfMessage()])
    pair.send(S, [ok(("Content-Length", "0"), ("Connection", "Close")), EndOfMessage()])
    assert pair.client.states == {C: State.MUST_CLOSE, S: State.MUST_CLOSE}


def test_data_after_a_close_message_is_ignored() -> None:
    """Requests pipelined after Connection: close are not processed (RFC 9112 section 9.6)."""
    server = Connection(S)
    server.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                        b"GET /evil HTTP/1.1\r\nHost: a\r\n\r\n")
    assert [type(e) for e in drain(server)] == [Request, EndOfMessage, type(NEED_DATA)]
    server.receive_data(b"")
    assert server.next_event() == ConnectionClosed()


def test_client_closing_while_idle() -> None:
    """EOF between requests: ConnectionClosed, and the server must close too."""
    pair = ConnectionPair()
    assert pair.close(C) == [ConnectionClosed()]
    assert pair.server.states == {C: State.CLOSED, S: State.MUST_CLOSE}
    pair.server.send(ConnectionClosed())
    assert pair.server.our_state is State.CLOSED


def test_http10_client_gets_a_close_delimited_response() -> None:
    """No chunked for HTTP/1.0: the body runs to the close, announced by Connection: close."""
    server = Connection(S)
    server.receive_data(b"GET / HTTP/1.0\r\n\r\n")
    drain(server)
    out = server.send(ok()) + server.send(Data(b"abc")) + server.send(EndOfMessage())
    assert out == b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc"
    assert server.our_state is State.MUST_CLOSE


def test_http10_chunked_response_falls_back_to_close() -> None:
    """A Transfer-Encoding: chunked asked for an HTTP/1.0 client is dropped for close framing."""
    server = Connection(S)
    server.receive_data(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    drain(server)
    out = server.send(ok(("Transfer-Encoding", "chunked"))) + server.send(Data(b"abc"))
    assert out == b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc"


def test_http10_keep_alive_when_asked_and_length_known() -> None:
    """An HTTP/1.0 client asking keep-alive gets it, said so, when the length is known."""
    server = Connection(S)
    for _ in range(2):
        server.receive_data(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        drain(server)
        out = server.send(ok(("Content-Length", "1"))) + server.send(Data(b"x"))
        server.send(EndOfMessage())
        assert b"Connection: keep-alive\r\n" in out
        server.start_next_cycle()


def test_http10_response_read_by_our_client() -> None:
    """A 1.0 response with Content-Length and keep-alive keeps the connection; without, not."""
    client = Connection(C)
    client.send(get())
    client.send(EndOfMessage())
    client.receive_data(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")
    drain(client)
    client.start_next_cycle()
    client.send(get())
    client.send(EndOfMessage())
    client.receive_data(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
    drain(client)
    assert client.our_state is State.MUST_CLOSE


def test_no_1xx_to_an_http10_client() -> None:
    """RFC 9110 section 15.2: a server never sends 1xx to an HTTP/1.0 client."""
    server = Connection(S)
    server.receive_data(b"GET / HTTP/1.0\r\n\r\n")
    drain(server)
    with pytest.raises(LocalProtocolError, match=r"HTTP/1\.0"):
        server.send(InformationalResponse(status_code=100))


def test_upgrade_accepted_hands_back_the_rest() -> None:
    """Upgrade + 101: both sides switch; bytes after the heads are trailing data."""
    pair = ConnectionPair()
    request = get("/chat", ("Connection", "Upgrade"), ("Upgrade", "websocket"))
    assert pair.send(C, [request, EndOfMessage()]) == [request, EndOfMessage()]
    assert pair.server.their_state is State.MIGHT_SWITCH_PROTOCOL
    pair.server.receive_data(b"\x81\x05hello")
    assert pair.server.next_event() is PAUSED
    switch = InformationalResponse(status_code=101, headers=[("Upgrade", "websocket"),
                                                               ("Connection", "Upgrade")])
    data = pair.server.send(switch)
    assert pair.server.states == {C: State.SWITCHED_PROTOCOL, S: State.SWITCHED_PROTOCOL}
    assert pair.server.trailing_data == (b"\x81\x05hello", False)
    pair.client.receive_data(data + b"\x82\x00")
    assert pair.client.next_event() == InformationalResponse(
        status_code=101, reason="Switching Protocols", headers=switch.headers)
    assert pair.client.next_event() is PAUSED
    assert pair.client.states == pair.server.states
    assert pair.client.trailing_data == (b"\x82\x00", False)


def test_upgrade_declined() -> None:
    """A normal response declines the Upgrade: an ordinary cycle follows."""
    pair = ConnectionPair()
    pair.send(C, [get("/", ("Connection", "upgrade"), ("Upgrade", "h2c")), EndOfMessage()])
    assert pair.client.our_state is State.MIGHT_SWITCH_PROTOCOL
    pair.send(S, [ok(("Content-Length", "0")), EndOfMessage()])
    assert pair.client.states == {C: State.DONE, S: State.DONE}
    pair.cycle()


def test_upgrade_header_without_connection_option_is_not_a_proposal() -> None:
    """Upgrade without ``Connection: upgrade`` is ignored; a 101 is then our error."""
    pair = ConnectionPair()
    pair.send(C, [get("/", ("Upgrade", "h2c")), EndOfMessage()])
    assert pair.server.their_state is State.DONE
    with pytest.raises(LocalProtocolError, match="switch"):
        pair.server.send(InformationalResponse(status_code=101))


def test_connect_accepted_and_declined() -> None:
    """CONNECT + 2xx switches both sides; a 407 is an ordinary response."""
    pair = ConnectionPair()
    connect = Request(method="CONNECT", target="example.com:443",
                      headers=[("Host", "example.com:443")])
    pair.send(C, [connect, EndOfMessage()])
    got = pair.send(S, ok(), cuts=[5])
    assert got == [Response(status_code=200, reason="OK")]
    assert pair.client.states == {C: State.SWITCHED_PROTOCOL, S: State.SWITCHED_PROTOCOL}
    assert pair.server.states == pair.client.states
    pair = ConnectionPair()
    pair.send(C, [connect, EndOfMessage()])
    pair.send(S, [ok(("Content-Length", "0"), status=407), EndOfMessage()])
    assert pair.client.states == {C: State.DONE, S: State.DONE}


def test_connect_accept_cannot_carry_framing() -> None:
    """A 2xx to CONNECT with Content-Length is our error."""
    pair = ConnectionPair()
    pair.send(C, [Request(method="CONNECT", target="a:1", headers=[("Host", "a:1")]),
                  EndOfMessage()])
    with pytest.raises(LocalProtocolError, match="CONNECT"):
        pair.server.send(ok(("Content-Length", "0")))


def test_error_response_after_a_remote_error() -> None:
    """After a broken request the server can still answer (from IDLE), then must close."""
    server = Connection(S)
    server.receive_data(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        server.next_event()
    assert server.their_state is State.ERROR and server.our_state is State.IDLE
    out = server.send(Response(status_code=info.value.error_status_hint,
                               headers=[("Content-Length", "0")]))
    out += server.send(EndOfMessage())
    assert out == b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    assert server.states[S] is State.MUST_CLOSE


def test_error_response_mid_body() -> None:
    """A body over the limit: 413 is sent while the request is unfinished."""
    server = Connection(S, max_body_size=3)
    server.receive_data(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\n")
    server.next_event()
    with pytest.raises(RemoteProtocolError):
        server.next_event()
    out = server.send(ok(("Content-Length", "0"), status=413))
    assert b"413 Content Too Large" in out or b"413 Request Entity Too Large" in out
    assert b"Connection: close" in out


def test_server_cannot_respond_before_a_request() -> None:
    """A Response from IDLE without a client error is our misuse."""
    with pytest.raises(LocalProtocolError, match="before a request"):
        Connection(S).send(ok())


def test_wrong_role_events_are_refused() -> None:
    """A client can't send responses; a server can't send requests."""
    with pytest.raises(LocalProtocolError):
        Connection(C).send(ok())
    with pytest.raises(LocalProtocolError):
        Connection(S).send(get())
    with pytest.raises(LocalProtocolError, match="not an event"):
        Connection(S).send("GET /")  # type: ignore[arg-type]


def test_receive_after_eof_is_our_error() -> None:
    """Data reported after EOF is a misuse of the API."""
    conn = Connection(S)
    conn.receive_data(b"")
    with pytest.raises(LocalProtocolError, match="after EOF"):
        conn.receive_data(b"x")
    assert conn.our_state is State.ERROR


def test_send_failed_puts_our_side_in_error() -> None:
    """The adapter reports a failed write: no more sending."""
    conn = Connection(C)
    conn.send_failed()
    with pytest.raises(LocalProtocolError):
        conn.send(get())


def test_passthrough_returns_body_objects_untouched() -> None:
    """send_with_data_passthrough gives back the data object itself between framing."""

    class FileRegion:
        def __len__(self) -> int:
            return 1000

    region = FileRegion()
    pair = ConnectionPair()
    pair.send(C, [get(), EndOfMessage()])
    pair.server.send(ok())
    pieces = pair.server.send_with_data_passthrough(Data(region))  # type: ignore[arg-type]
    assert pieces == [b"3e8\r\n", region, b"\r\n"]
    assert pieces[1] is region  # type: ignore[comparison-overlap]
    payload = bytearray(b"x" * 10)
    pair = ConnectionPair()
    pair.send(C, [get(), EndOfMessage()])
    pair.server.send(ok(("Content-Length", "10")))
    assert pair.server.send_with_data_passthrough(Data(payload))[0] is payload  # type: ignore[arg-type]


def test_their_http_version_and_repr() -> None:
    """The peer's version is kept; repr shows role and states."""
    pair = ConnectionPair()
    assert pair.server.their_http_version is None
    pair.send(C, get())
    assert pair.server.their_http_version == b"1.1"
    assert repr(pair.server) == (
        "<Connection server our_state=SEND_RESPONSE their_state=DONE buffered=0>"
    )


def test_requests_go_out_as_http11() -> None:
    """An HTTP/1.0 Request event is sent as HTTP/1.1 (with its Host)."""
    conn = Connection(C)
    data = conn.send(Request(method="GET", target="/", headers=[("Host", "a")],
                             http_version="1.0"))
    assert data.startswith(b"GET / HTTP/1.1\r\n")


def test_events_after_close_are_repeated() -> None:
    """Once the peer is CLOSED, next_event keeps saying ConnectionClosed."""
    conn = Connection(S)
    conn.receive_data(b"")
    assert normalize([conn.next_event(), conn.next_event()]) == [ConnectionClosed()] * 2


def test_early_response_then_the_rest_of_the_body() -> None:
    """A server may answer before the request body is in; the cycle ends when both are done."""
    pair = ConnectionPair()
    pair.send(C, [get("/", ("Content-Length", "4"), method="PUT"), Data(b"ab")])
    pair.send(S, [ok(("Content-Length", "0")), EndOfMessage()])
    assert pair.server.states == {C: State.SEND_BODY, S: State.DONE}
    with pytest.raises(LocalProtocolError):
        pair.server.start_next_cycle()
    assert pair.send(C, [Data(b"cd"), EndOfMessage()]) == [Data(b"cd"), EndOfMessage()]
    pair.cycle()


def test_responses_go_out_as_http11() -> None:
    """Whatever http_version a Response event carries, the status line says HTTP/1.1."""
    pair = ConnectionPair()
    pair.send(C, [get(), EndOfMessage()])
    out = pair.server.send(Response(status_code=200, headers=[("Content-Length", "0")],
                                    http_version="1.0"))
    assert out.startswith(b"HTTP/1.1 200 OK\r\n")
