"""HTTP11ClientProtocol against canned server bytes over a StringTransport.

Deterministic: the test plays the server by hand (bytes in, bytes checked out), with a
``Clock`` for the read timeout. Pins what the adapter writes, how each framing ends a
body, the errors for each way an exchange can fail, flow control and keep-alive.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torsion import error
from torsion.defer import CancelledError, Deferred
from torsion.failure import Failure
from torsion.task import Clock
from torsion.testing import (
    StringTransport,
    assert_no_result,
    failure_result_of,
    success_result_of,
)
from torsion.web.client import (
    UNKNOWN_LENGTH,
    BytesBodyProducer,
    FileBodyProducer,
    HTTP11ClientProtocol,
    PartialDownloadError,
    PotentialDataLoss,
    Request,
    RequestGenerationFailed,
    RequestNotSent,
    RequestTransmissionFailed,
    Response,
    ResponseDone,
    ResponseFailed,
    ResponseNeverReceived,
    ResponseTimeout,
    ResponseTooLarge,
    WrongBodyLength,
    readBody,
)
from torsion.web.client import Headers as ClientHeaders
from torsion.web.sansio import RemoteProtocolError


class Recorder:
    """A body protocol that records what it gets."""

    def __init__(self) -> None:
        self.transport: Any = None
        self.data: list[bytes] = []
        self.reason: Failure | None = None

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport

    def dataReceived(self, data: bytes) -> None:
        self.data.append(data)

    def connectionLost(self, reason: Failure) -> None:
        self.reason = reason


def connect(clock: Clock | None = None) -> tuple[HTTP11ClientProtocol, StringTransport, list[Any]]:
    quiescent: list[Any] = []
    proto = HTTP11ClientProtocol(quiescent.append, clock=clock)
    transport = StringTransport(lenient=True)
    proto.makeConnection(transport)
    return proto, transport, quiescent


def get(method: bytes = b"GET", body: Any = None, persistent: bool = True,
        headers: ClientHeaders | None = None) -> Request:
    h = headers if headers is not None else ClientHeaders({b"Host": [b"example.com"]})
    return Request(method, b"/path", h, body, persistent, absoluteURI=b"http://example.com/path")


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


def test_get_writes_request_and_reads_response() -> None:
    """A GET goes out as a plain HTTP/1.1 head; the response fires the Deferred; the
    body arrives through deliverBody and ends with ResponseDone."""
    proto, transport, quiescent = connect()
    d = proto.request(get())
    assert transport.value() == b"GET /path HTTP/1.1\r\nHost: example.com\r\n\r\n"
    assert_no_result(d)
    proto.dataReceived(OK)
    response = success_result_of(d)
    assert (response.code, response.phrase, response.version) == (200, b"OK", (b"HTTP", 1, 1))
    assert response.length == 5
    assert response.headers.getRawHeaders(b"content-length") == [b"5"]
    assert success_result_of(readBody(response)) == b"hello"
    assert quiescent == [proto] and proto.state == "QUIESCENT"


def test_non_persistent_request_says_connection_close() -> None:
    """A request on a non-persistent connection carries Connection: close and the
    connection is closed after the response, not offered for reuse."""
    proto, transport, quiescent = connect()
    d = proto.request(get(persistent=False))
    assert b"Connection: close\r\n" in transport.value()
    proto.dataReceived(OK)
    assert success_result_of(readBody(success_result_of(d))) == b"hello"
    assert quiescent == [] and transport.disconnecting


def test_response_split_in_single_bytes() -> None:
    """Any split of the bytes gives the same response and body."""
    proto, _, _ = connect()
    d = proto.request(get())
    for i in range(len(OK)):
        proto.dataReceived(OK[i : i + 1])
    assert success_result_of(readBody(success_result_of(d))) == b"hello"


def test_chunked_response_has_unknown_length() -> None:
    """A chunked body: length UNKNOWN_LENGTH, pieces delivered as they come, trailers ok."""
    proto, _, quiescent = connect()
    d = proto.request(get())
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    response = success_result_of(d)
    assert response.length is UNKNOWN_LENGTH
    rec = Recorder()
    response.deliverBody(rec)
    assert b"".join(rec.data) == b"hello" and rec.reason is None
    proto.dataReceived(b"6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n")
    assert b"".join(rec.data) == b"hello world"
    assert rec.reason is not None and rec.reason.check(ResponseDone)
    assert quiescent == [proto]


def test_body_until_close_ends_with_potential_data_loss() -> None:
    """No length, not chunked: the body runs to the close; the protocol gets
    PotentialDataLoss, readBody PartialDownloadError, content() the bytes."""
    proto, _transport, quiescent = connect()
    d = proto.request(get())
    proto.dataReceived(b"HTTP/1.1 200 OK\r\n\r\nsome")
    response = success_result_of(d)
    assert response.length is UNKNOWN_LENGTH
    rec = Recorder()
    response.deliverBody(rec)
    proto.dataReceived(b" data")
    proto.connectionLost(Failure(error.ConnectionDone()))
    assert b"".join(rec.data) == b"some data"
    assert rec.reason is not None and rec.reason.check(PotentialDataLoss)
    assert quiescent == []


def test_read_body_reports_partial_download_and_content_accepts_it() -> None:
    """readBody mirrors Twisted (PartialDownloadError with the bytes); content() accepts."""
    for use_content in (False, True):
        proto, _, _ = connect()
        d = proto.request(get())
        proto.dataReceived(b"HTTP/1.0 200 OK\r\n\r\nabc")
        response = success_result_of(d)
        body = response.content() if use_content else readBody(response)
        proto.connectionLost(Failure(error.ConnectionDone()))
        if use_content:
            assert success_result_of(body) == b"abc"
        else:
            f = failure_result_of(body, PartialDownloadError)
            assert f.value.response == b"abc"


@pytest.mark.parametrize(("method", "status"), [(b"HEAD", 200), (b"GET", 204), (b"GET", 304)])
def test_bodiless_responses(method: bytes, status: int) -> None:
    """HEAD, 204 and 304 have no body whatever the headers say; length is 0; the
    connection is reusable at once."""
    proto, _, quiescent = connect()
    d = proto.request(get(method))
    proto.dataReceived(b"HTTP/1.1 %d X\r\nContent-Length: 100\r\n\r\n" % status)
    response = success_result_of(d)
    assert response.length == 0
    assert success_result_of(readBody(response)) == b""
    assert quiescent == [proto]


def test_informational_responses_are_skipped() -> None:
    """1xx responses before the final one are not the response."""
    proto, _, _ = connect()
    d = proto.request(get())
    proto.dataReceived(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
    assert_no_result(d)
    proto.dataReceived(OK)
    assert success_result_of(d).code == 200


def test_keep_alive_second_request_on_same_connection() -> None:
    """After a complete exchange the connection takes another request."""
    proto, transport, quiescent = connect()
    for _ in range(3):
        transport.clear()
        d = proto.request(get())
        assert transport.value().startswith(b"GET /path")
        proto.dataReceived(OK)
        assert success_result_of(readBody(success_result_of(d))) == b"hello"
    assert proto.requests == 3 and quiescent == [proto] * 3


def test_connection_close_from_server_is_not_reused() -> None:
    """Connection: close in the response: the protocol closes instead of going quiescent."""
    proto, transport, quiescent = connect()
    d = proto.request(get())
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
    assert success_result_of(readBody(success_result_of(d))) == b""
    assert quiescent == [] and transport.disconnecting
    assert failure_result_of(proto.request(get()), RequestNotSent)


def test_extra_bytes_after_response_mean_no_reuse() -> None:
    """Bytes beyond the response (nothing asked for them): the connection is dropped."""
    proto, transport, quiescent = connect()
    d = proto.request(get())
    proto.dataReceived(OK + b"HTTP/1.1 200 OK\r\n")
    success_result_of(d)
    assert quiescent == [] and transport.disconnecting


def test_data_without_request_aborts() -> None:
    """An idle connection that receives bytes is dropped (never handed to a request)."""
    proto, transport, _ = connect()
    proto.dataReceived(b"HTTP/1.1 200 OK\r\n\r\n")
    assert transport.disconnected and proto.state == "CLOSED"


def test_busy_connection_refuses_a_second_request() -> None:
    """One request at a time: RequestNotSent, and the first goes on."""
    proto, _, _ = connect()
    d1 = proto.request(get())
    failure_result_of(proto.request(get()), RequestNotSent)
    proto.dataReceived(OK)
    assert success_result_of(d1).code == 200


@pytest.mark.parametrize("raw", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"SPDY/3 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n",
    b"HTTP/1.1 200 OK\nContent-Length: 0\n\r\n",
])
def test_malformed_head_fails_with_response_failed(raw: bytes) -> None:
    """A malformed head (smuggling vectors included): ResponseFailed holding the core's
    RemoteProtocolError, and the connection is dropped."""
    proto, transport, _ = connect()
    d = proto.request(get())
    proto.dataReceived(raw)
    f = failure_result_of(d, ResponseFailed)
    assert any(r.check(RemoteProtocolError) for r in f.value.reasons)
    assert transport.disconnected


def test_malformed_chunk_fails_the_body() -> None:
    """A bad chunk size after the head: the body protocol gets ResponseFailed."""
    proto, transport, _ = connect()
    d = proto.request(get())
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    rec = Recorder()
    success_result_of(d).deliverBody(rec)
    proto.dataReceived(b"zz\r\n")
    assert rec.reason is not None and rec.reason.check(ResponseFailed)
    assert rec.reason.value.reasons[-1].check(RemoteProtocolError)  # type: ignore[union-attr]
    assert transport.disconnected


def test_lost_before_any_byte_is_response_never_received() -> None:
    """The server closes without a byte: ResponseNeverReceived([ConnectionDone])."""
    proto, _, _ = connect()
    d = proto.request(get())
    proto.connectionLost(Failure(error.ConnectionDone()))
    f = failure_result_of(d, ResponseNeverReceived)
    assert f.value.reasons[0].check(error.ConnectionDone)
    assert not proto.receivedAny


def test_lost_in_the_middle_of_the_head() -> None:
    """Part of a head, then the close: ResponseFailed with the core's error."""
    proto, _, _ = connect()
    d = proto.request(get())
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-")
    proto.connectionLost(Failure(error.ConnectionLost()))
    f = failure_result_of(d, ResponseFailed)
    assert [r.type for r in f.value.reasons] == [error.ConnectionLost, RemoteProtocolError]


def test_lost_in_the_middle_of_a_sized_body() -> None:
    """A Content-Length body cut short: ResponseFailed (the loss and the core's error)."""
    proto, _, _ = connect()
    d = proto.request(get())
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    body = readBody(success_result_of(d))
    proto.connectionLost(Failure(error.ConnectionLost()))
    f = failure_result_of(body, ResponseFailed)
    assert "7 bytes of the body missing" in str(f.value)
    assert f.value.reasons[0].check(error.ConnectionLost)


def test_body_buffered_until_deliver_body_and_reading_paused() -> None:
    """Body bytes before deliverBody are kept; past 64 KiB reading pauses; deliverBody
    hands them over and resumes reading."""
    proto, transport, _ = connect()
    d = proto.request(get())
    size = 200_000
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
    response = success_result_of(d)
    proto.dataReceived(b"x" * 70_000)
    assert transport.producerState == "paused"
    rec = Recorder()
    response.deliverBody(rec)
    assert transport.producerState == "producing"
    assert sum(map(len, rec.data)) == 70_000
    proto.dataReceived(b"x" * (size - 70_000))
    assert rec.reason is not None and rec.reason.check(ResponseDone)


def test_body_protocol_flow_control_pauses_the_transport() -> None:
    """The body protocol's pauseProducing stops reading; resumeProducing starts it; the
    pause is dropped when the response ends, so a reused connection reads."""
    proto, transport, quiescent = connect()
    d = proto.request(get())
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n")
    rec = Recorder()
    success_result_of(d).deliverBody(rec)
    rec.transport.pauseProducing()
    assert transport.producerState == "paused"
    rec.transport.resumeProducing()
    assert transport.producerState == "producing"
    rec.transport.pauseProducing()
    proto.dataReceived(b"abcdef")  # already in flight when paused
    assert rec.reason is not None and rec.reason.check(ResponseDone)
    assert transport.producerState == "producing" and quiescent == [proto]
    rec.transport.pauseProducing()  # after the end: no effect on the connection
    assert transport.producerState == "producing"


def test_body_protocol_stop_producing_drops_the_connection() -> None:
    """stopProducing from the body protocol: abort, and connectionLost(ResponseFailed)."""
    proto, transport, quiescent = connect()
    d = proto.request(get())
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
    rec = Recorder()
    success_result_of(d).deliverBody(rec)
    rec.transport.stopProducing()
    assert transport.disconnected
    assert rec.reason is not None and rec.reason.check(ResponseFailed)
    assert quiescent == []


def test_deliver_body_twice_is_refused() -> None:
    """A body can be delivered once."""
    proto, _, _ = connect()
    d = proto.request(get())
    proto.dataReceived(OK)
    response = success_result_of(d)
    response.deliverBody(Recorder())
    with pytest.raises(RuntimeError, match="delivered already"):
        response.deliverBody(Recorder())


def test_max_size_by_content_length_and_by_count() -> None:
    """readBody(maxSize): a larger Content-Length fails at once; a chunked body fails
    when the count passes it; either way the connection is dropped."""
    proto, transport, _ = connect()
    d = proto.request(get())
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    f = failure_result_of(readBody(success_result_of(d), maxSize=10), ResponseTooLarge)
    assert f.value.length == 100 and transport.disconnected
    proto, transport, _ = connect()
    d = proto.request(get())
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    body = readBody(success_result_of(d), maxSize=10)
    proto.dataReceived(b"8\r\n12345678\r\n")
    assert_no_result(body)
    proto.dataReceived(b"8\r\n12345678\r\n")
    assert failure_result_of(body, ResponseTooLarge).value.length is None
    assert transport.disconnected


def test_post_with_bytes_body_uses_content_length() -> None:
    """A body of known length: Content-Length, then the bytes."""
    proto, transport, _ = connect()
    proto.request(get(b"POST", BytesBodyProducer(b"a=1&b=2")))
    assert transport.value() == (
        b"POST /path HTTP/1.1\r\nHost: example.com\r\nContent-Length: 7\r\n\r\na=1&b=2"
    )


def test_post_without_body_says_content_length_zero() -> None:
    """POST, PUT and PATCH without a body say Content-Length: 0 (RFC 9110 8.6)."""
    proto, transport, _ = connect()
    proto.request(get(b"POST"))
    assert b"Content-Length: 0\r\n" in transport.value()


class UnknownLengthProducer:
    """Writes what it is told to, when it is told to; length unknown (chunked)."""

    length = UNKNOWN_LENGTH

    def __init__(self) -> None:
        self.consumer: Any = None
        self.done: Deferred[None] = Deferred()
        self.paused = False
        self.stopped = False

    def startProducing(self, consumer: Any) -> Deferred[None]:
        self.consumer = consumer
        return self.done

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.stopped = True


def test_streaming_body_of_unknown_length_is_chunked() -> None:
    """UNKNOWN_LENGTH: Transfer-Encoding: chunked, each write a chunk, the producer
    registered with the transport (its flow control) until it is done."""
    proto, transport, _ = connect()
    producer = UnknownLengthProducer()
    d = proto.request(get(b"PUT", producer))
    assert b"Transfer-Encoding: chunked\r\n" in transport.value()
    assert transport.producer is producer and transport.streaming
    assert proto.state == "TRANSMITTING"
    transport.clear()
    producer.consumer.write(b"hello")
    producer.consumer.write(b"!")
    producer.done.callback(None)
    assert transport.value() == b"5\r\nhello\r\n1\r\n!\r\n0\r\n\r\n"
    assert transport.producer is None and proto.state == "WAITING"
    proto.dataReceived(OK)
    assert success_result_of(d).code == 200


def test_producer_writing_too_much_fails_generation() -> None:
    """More bytes than the announced length: RequestGenerationFailed(WrongBodyLength)."""
    proto, transport, _ = connect()
    producer = UnknownLengthProducer()
    producer.length = 3  # type: ignore[assignment]
    d = proto.request(get(b"POST", producer))
    with pytest.raises(WrongBodyLength):
        producer.consumer.write(b"toolong")
    f = failure_result_of(d, RequestGenerationFailed)
    assert f.value.reasons[0].check(WrongBodyLength)
    assert transport.disconnected and producer.stopped


def test_producer_writing_too_little_fails_generation() -> None:
    """Fewer bytes than announced when the producer is done: WrongBodyLength."""
    proto, _, _ = connect()
    producer = UnknownLengthProducer()
    producer.length = 3  # type: ignore[assignment]
    d = proto.request(get(b"POST", producer))
    producer.consumer.write(b"a")
    producer.done.callback(None)
    failure_result_of(d, RequestGenerationFailed)


def test_producer_failure_fails_generation() -> None:
    """The producer's Deferred fails: RequestGenerationFailed with its error."""
    proto, transport, _ = connect()
    producer = UnknownLengthProducer()
    d = proto.request(get(b"POST", producer))
    producer.done.errback(ValueError("disk on fire"))
    f = failure_result_of(d, RequestGenerationFailed)
    assert f.value.reasons[0].check(ValueError) and transport.disconnected


def test_lost_while_sending_body_is_transmission_failure() -> None:
    """The connection breaks while the body is being sent: RequestTransmissionFailed,
    and the producer is stopped."""
    proto, _, _ = connect()
    producer = UnknownLengthProducer()
    d = proto.request(get(b"POST", producer))
    proto.connectionLost(Failure(error.ConnectionLost()))
    failure_result_of(d, RequestTransmissionFailed)
    assert producer.stopped


def test_early_response_while_sending_stops_the_body() -> None:
    """The server answers (e.g. 413) before the body is sent: the response is given,
    the producer stopped, the connection dropped (never reused)."""
    proto, transport, quiescent = connect()
    producer = UnknownLengthProducer()
    d = proto.request(get(b"POST", producer))
    proto.dataReceived(b"HTTP/1.1 413 Too Large\r\nContent-Length: 0\r\n\r\n")
    response = success_result_of(d)
    assert response.code == 413
    assert success_result_of(readBody(response)) == b""
    assert producer.stopped and transport.disconnected and quiescent == []


def test_file_body_producer_streams_with_flow_control() -> None:
    """FileBodyProducer: length from the file, writes until the transport pauses it,
    goes on when resumed, closes the file at the end."""
    data = bytes(range(256)) * 1000
    f = io.BytesIO(data)
    producer = FileBodyProducer(f, readSize=10_000)
    assert producer.length == len(data)

    class PausingConsumer:
        def __init__(self) -> None:
            self.chunks: list[bytes] = []

        def write(self, chunk: bytes) -> None:
            self.chunks.append(chunk)
            if len(self.chunks) % 5 == 0:
                producer.pauseProducing()

        def registerProducer(self, p: Any, streaming: bool) -> None: ...

        def unregisterProducer(self) -> None: ...

    consumer = PausingConsumer()
    done = producer.startProducing(consumer)  # type: ignore[arg-type]
    assert len(consumer.chunks) == 5
    assert_no_result(done)
    while not done.called:
        producer.resumeProducing()
    assert b"".join(consumer.chunks) == data and f.closed


def test_file_body_producer_unknown_length_for_unseekable() -> None:
    """A pipe-like file has no length: the body goes chunked."""

    class Unseekable(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def seekable(self) -> bool:
            return False

        def tell(self) -> int:
            raise OSError("unseekable")

    assert FileBodyProducer(Unseekable()).length is UNKNOWN_LENGTH  # type: ignore[arg-type]


def test_cancel_before_response() -> None:
    """Cancelling the request: ResponseNeverReceived([CancelledError]) and the
    connection is aborted (as Twisted)."""
    proto, transport, _ = connect()
    d = proto.request(get())
    d.cancel()
    f = failure_result_of(d, ResponseNeverReceived)
    assert f.value.reasons[0].check(CancelledError)
    assert transport.disconnected
    proto.connectionLost(Failure(error.ConnectionAborted()))  # nothing more happens


def test_cancel_read_body() -> None:
    """Cancelling readBody: CancelledError and the connection dropped."""
    proto, transport, _ = connect()
    d = proto.request(get())
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab")
    body = readBody(success_result_of(d))
    body.cancel()
    failure_result_of(body, CancelledError)
    assert transport.disconnected


def test_read_timeout_waiting_for_head() -> None:
    """Silence for readTimeout seconds before the head: ResponseNeverReceived with a
    ResponseTimeout that says what was awaited."""
    clock = Clock()
    proto, transport, _ = connect(clock)
    d = proto.request(get(), readTimeout=5)
    clock.advance(4)
    assert_no_result(d)
    clock.advance(1)
    f = failure_result_of(d, ResponseNeverReceived)
    assert f.value.reasons[0].check(ResponseTimeout)
    assert "5 seconds" in str(f.value) and "readTimeout" in str(f.value)
    assert transport.disconnected


def test_read_timeout_is_reset_by_data_and_stops_while_paused() -> None:
    """Each piece of data restarts the timer; a body protocol that pauses is not timed
    out; the body fails with ResponseFailed(ResponseTimeout) after real silence."""
    clock = Clock()
    proto, _transport, _quiescent = connect(clock)
    d = proto.request(get(), readTimeout=5)
    clock.advance(4)
    proto.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\na")
    rec = Recorder()
    success_result_of(d).deliverBody(rec)
    clock.advance(4)
    proto.dataReceived(b"b")
    rec.transport.pauseProducing()
    clock.advance(100)
    assert rec.reason is None
    rec.transport.resumeProducing()
    clock.advance(5)
    assert rec.reason is not None and rec.reason.check(ResponseFailed)
    assert rec.reason.value.reasons[0].check(ResponseTimeout)  # type: ignore[union-attr]
    assert not clock.getDelayedCalls()


def test_read_timeout_not_counted_while_uploading() -> None:
    """A slow upload is not a silent server: the read timer starts once the request
    is sent."""
    clock = Clock()
    proto, _, _ = connect(clock)
    producer = UnknownLengthProducer()
    d = proto.request(get(b"PUT", producer), readTimeout=5)
    clock.advance(100)
    producer.consumer.write(b"late")
    producer.done.callback(None)
    clock.advance(4)
    assert_no_result(d)
    clock.advance(1)
    failure_result_of(d, ResponseNeverReceived)


def test_no_timer_left_after_a_complete_response() -> None:
    """The read timer is cancelled once the response is complete (idle is the pool's)."""
    clock = Clock()
    proto, _, _ = connect(clock)
    d = proto.request(get(), readTimeout=5)
    proto.dataReceived(OK)
    success_result_of(readBody(success_result_of(d)))
    assert not clock.getDelayedCalls()


def test_bad_header_fails_generation_without_writing() -> None:
    """A request the core refuses (no Host) fails with RequestGenerationFailed and
    writes nothing; the connection stays usable."""
    proto, transport, _ = connect()
    d = proto.request(get(headers=ClientHeaders()))
    f = failure_result_of(d, RequestGenerationFailed)
    assert "Host" in str(f.value)
    assert transport.value() == b""
    assert proto.state == "QUIESCENT"


def test_abort_fires_when_lost() -> None:
    """abort(): fails what is pending, and its Deferred fires on connectionLost."""
    proto, transport, _ = connect()
    d = proto.request(get())
    done = proto.abort()
    failure_result_of(d, ResponseNeverReceived)
    assert transport.disconnected
    assert_no_result(done)
    proto.connectionLost(Failure(error.ConnectionAborted()))
    assert success_result_of(done) is None


def test_response_text_and_json() -> None:
    """content(), text() (charset from Content-Type) and json() for await."""
    for raw, method, expected in [
        (b"Content-Type: text/plain; charset=latin-1\r\nContent-Length: 1\r\n\r\n\xe9",
         "text", "\xe9"),
        (b"Content-Length: 2\r\n\r\n\xc3\xa9", "text", "\xe9"),
        (b"Content-Length: 8\r\n\r\n{\"a\": 1}", "json", {"a": 1}),
    ]:
        proto, _, _ = connect()
        d = proto.request(get())
        proto.dataReceived(b"HTTP/1.1 200 OK\r\n" + raw)
        response: Response = success_result_of(d)
        assert success_result_of(getattr(response, method)()) == expected


@settings(max_examples=120, deadline=None)
@given(
    body=st.binary(max_size=3000),
    framing=st.sampled_from(["length", "chunked", "close"]),
    chunk=st.integers(1, 700),
    cuts=st.lists(st.integers(1, 400), max_size=12),
)
def test_any_framing_any_split_gives_the_body(body: bytes, framing: str, chunk: int,
                                              cuts: list[int]) -> None:
    """Whatever the framing and however the bytes are cut, the body read is the body
    sent, and only a close-delimited body leaves the connection unusable."""
    if framing == "length":
        wire = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    elif framing == "chunked":
        pieces = [body[i : i + chunk] for i in range(0, len(body), chunk)]
        wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(
            b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    else:
        wire = b"HTTP/1.0 200 OK\r\n\r\n" + body
    proto, _, quiescent = connect()
    d = proto.request(get())
    position = 0
    for cut in cuts:
        proto.dataReceived(wire[position : position + cut])
        position += cut
    proto.dataReceived(wire[position:])
    content = success_result_of(d).content()
    if framing == "close":
        proto.connectionLost(Failure(error.ConnectionDone()))
    assert success_result_of(content) == body
    assert quiescent == ([] if framing == "close" else [proto])
