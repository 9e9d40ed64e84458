"""Property tests of the HTTP/1.1 core, driven by hypothesis.

1. The fuzz invariant: any bytes, split any way, make ``next_event`` return events or
   raise ``RemoteProtocolError`` (peer then in ERROR), nothing else. Random bytes alone
   rarely get past the request line, so valid messages with random mutations are fed
   too, to both roles.
2. Split invariance: the same bytes give the same events, or the same error status,
   whole or in pieces.
3. Round trip: events sent by one side come back equal from the other, whatever the
   chunking of the byte stream, over several keep-alive cycles.
"""

from __future__ import annotations

import importlib.util
import string
import sys
from pathlib import Path
from types import ModuleType

from http_helpers import ConnectionPair, drain, normalize, split_at
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from torsion.web.sansio import (
    Connection,
    Data,
    EndOfMessage,
    Event,
    RemoteProtocolError,
    Request,
    Response,
    Role,
)


def _load_fuzz_target() -> ModuleType:
    path = Path(__file__).resolve().parents[4] / "fuzz" / "http_parser.py"
    spec = importlib.util.spec_from_file_location("torsion_fuzz_http_parser", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fuzz = _load_fuzz_target()

C, S = Role.CLIENT, Role.SERVER
RESERVED = {b"host", b"content-length", b"transfer-encoding", b"connection", b"upgrade",
            b"expect", b"te", b"trailer", b"keep-alive", b"proxy-connection"}
TCHARS = "!#$%&'*+-.^_`|~" + string.ascii_letters + string.digits

tokens = st.text(alphabet=TCHARS, min_size=1, max_size=8)
names = tokens.filter(lambda n: n.lower().encode() not in RESERVED)
values = st.binary(max_size=20).map(
    lambda b: bytes(c for c in b if c == 9 or 32 <= c <= 126 or c >= 128)
)
fields = st.lists(st.tuples(names, values), max_size=5)
targets = st.text(alphabet=[chr(c) for c in range(0x21, 0x7F)], min_size=1, max_size=20)
bodies = st.lists(st.binary(max_size=40), max_size=4)
cut_lists = st.lists(st.integers(min_value=0, max_value=600), max_size=12)
LIMITS = {"max_incomplete_event_size": 2048, "max_request_line_size": 512,
          "max_header_count": 20, "max_body_size": 4096}
SMALL_LIMITS = {"max_incomplete_event_size": 120, "max_request_line_size": 24,
                "max_header_count": 3, "max_body_size": 20}
"""Small enough that the generated messages hit every limit (414, 431, 413)."""


@st.composite
def requests(draw: st.DrawFn) -> list[Event]:
    """A request message as events: head, data pieces, end (with trailers when chunked)."""
    method = draw(st.sampled_from(["GET", "POST", "PUT", "DELETE", "X-CUSTOM"]))
    body = draw(bodies)
    headers: list[tuple[str | bytes, str | bytes]] = [("Host", draw(st.sampled_from(
        ["a", "example.com:8080", "[::1]", ""])))]
    headers += draw(fields)
    trailers: list[tuple[str, bytes]] = []
    if draw(st.booleans()):
        headers.append(("Content-Length", str(sum(map(len, body)))))
    else:
        headers.append(("Transfer-Encoding", "chunked"))
        trailers = draw(fields)
    head = Request(method=method, target=draw(targets), headers=headers)
    return [head, *(Data(b) for b in body), EndOfMessage(headers=trailers)]


@st.composite
def responses(draw: st.DrawFn) -> list[Event]:
    """A final response message (with a body: not 204/304) as events."""
    status = draw(st.integers(200, 599).filter(lambda s: s not in (204, 304)))
    reason = draw(st.text(alphabet=string.ascii_letters + " ", min_size=1, max_size=12)).strip()
    body = draw(bodies)
    headers: list[tuple[str | bytes, str | bytes]] = list(draw(fields))
    trailers: list[tuple[str, bytes]] = []
    if draw(st.booleans()):
        headers.append(("Content-Length", str(sum(map(len, body)))))
    else:
        headers.append(("Transfer-Encoding", "chunked"))
        trailers = draw(fields)
    head = Response(status_code=status, reason=reason or "R", headers=headers)
    return [head, *(Data(b) for b in body), EndOfMessage(headers=trailers)]


def requests_wire(messages: list[list[Event]]) -> bytes:
    """The bytes our own client writes for these requests (a valid pipelined stream)."""
    client = Connection(C)
    out = []
    for message in messages:
        out.append(b"".join(client.send(e) for e in message))
        client.receive_data(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        drain(client)
        client.start_next_cycle()
    return b"".join(out)


def _server_side(message: list[Event]) -> list[bytes]:
    """The bytes our own server writes for this response to a GET."""
    server = Connection(S)
    server.receive_data(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    server.next_event()
    server.next_event()
    return [server.send(e) for e in message]


MUTATION_BYTES = [b"\r", b"\n", b"\r\n", b" ", b"\t", b":", b";", b"0", b"\x00", b",", b'"',
                  b"a", b"\xff", b"-", b"f" * 17, b"Transfer-Encoding: chunked\r\n",
                  b"Content-Length: 1\r\n", b"\r\n\r\n"]
mutations = st.lists(st.tuples(st.integers(0, 2000), st.sampled_from(["insert", "delete",
                                                                       "replace"]),
                               st.sampled_from(MUTATION_BYTES)), max_size=4)


def mutate(data: bytes, ops: list[tuple[int, str, bytes]]) -> bytes:
    for position, op, piece in ops:
        i = position % (len(data) + 1)
        if op == "insert":
            data = data[:i] + piece + data[i:]
        elif op == "delete":
            data = data[:i] + data[i + len(piece):]
        else:
            data = data[:i] + piece + data[i + len(piece):]
    return data


def outcome(result: list[Event] | RemoteProtocolError) -> object:
    if isinstance(result, RemoteProtocolError):
        return ("error", result.error_status_hint)
    return normalize(result)


# -- 1. the fuzz invariant ------------------------------------------------------------


@settings(max_examples=300)
@given(st.binary(max_size=400), cut_lists)
def test_random_bytes_to_a_server_only_raise_remote_errors(data: bytes, cuts: list[int]) -> None:
    """Arbitrary bytes: events or RemoteProtocolError, never another exception."""
    fuzz.check_server(split_at(data, cuts), **LIMITS)


@settings(max_examples=150)
@given(st.binary(max_size=400), cut_lists, st.sampled_from(["GET", "HEAD", "CONNECT"]))
def test_random_bytes_to_a_client_only_raise_remote_errors(
    data: bytes, cuts: list[int], method: str
) -> None:
    """The same for a client waiting for a response."""
    fuzz.check_client(split_at(b"HTTP/1.1 " + data, cuts), method=method)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(requests(), min_size=1, max_size=3), mutations, cut_lists)
def test_mutated_requests_only_raise_remote_errors(
    messages: list[list[Event]], ops: list[tuple[int, str, bytes]], cuts: list[int]
) -> None:
    """Valid pipelined requests with bytes inserted, deleted or replaced."""
    data = mutate(requests_wire(messages), ops)
    fuzz.check_server(split_at(data, cuts), **LIMITS)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(responses(), mutations, cut_lists, st.sampled_from(["GET", "HEAD"]))
def test_mutated_responses_only_raise_remote_errors(
    message: list[Event], ops: list[tuple[int, str, bytes]], cuts: list[int], method: str
) -> None:
    """A valid response with mutations, to a client."""
    data = mutate(b"".join(_server_side(message)), ops)
    fuzz.check_client(split_at(data, cuts), method=method)


def test_fuzz_target_entry_point_takes_any_input() -> None:
    """The atheris entry point itself, on a few inputs of both roles."""
    for data in (b"", b"\x00GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"\x01200 OK\r\n\r\n",
                 b"\xffPOST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"):
        fuzz.test_one_input(data)


# -- 2. split invariance -------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(requests(), min_size=1, max_size=3), mutations, cut_lists,
       st.sampled_from([LIMITS, SMALL_LIMITS]))
def test_splitting_does_not_change_the_outcome(
    messages: list[list[Event]], ops: list[tuple[int, str, bytes]], cuts: list[int],
    limits: dict[str, int],
) -> None:
    """Whole, cut at random, or byte by byte: same events or the same error status."""
    data = mutate(requests_wire(messages), ops)
    whole = outcome(fuzz.check_server([data], **limits))
    event(f"outcome: {whole[1] if isinstance(whole, tuple) else 'events'}")
    assert outcome(fuzz.check_server(split_at(data, cuts), **limits)) == whole
    bytewise = [data[i : i + 1] for i in range(len(data))]
    assert outcome(fuzz.check_server(bytewise, **limits)) == whole


# -- 3. round trip ---------------------------------------------------------------------


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(requests(), responses()), min_size=1, max_size=3), st.data())
def test_events_round_trip_through_the_wire(
    exchanges: list[tuple[list[Event], list[Event]]], data: st.DataObject
) -> None:
    """What one side sends, the other parses back equal, cycle after cycle."""
    pair = ConnectionPair()
    for request, response in exchanges:
        assert pair.send(C, request, cuts=data.draw(cut_lists)) == normalize(request)
        assert pair.send(S, response, cuts=data.draw(cut_lists)) == normalize(response)
        pair.cycle()
