"""TLS over any stream transport: an ``ssl.SSLObject`` driven through two memory BIOs.

:class:`TLSMemoryBIO` sits between a stream transport and the application
protocol.  To the transport it is the protocol (``dataReceived``,
``connectionLost``...); to the application it is the transport (``write``,
``loseConnection``, ``getPeerCertificate``...).  It does no I/O of its own:
ciphertext comes in through ``dataReceived`` and goes out through the
transport's ``write``, so TLS works on every reactor backend, on any stream
transport, and can start in the middle of a connection (:func:`start_tls`).
The standard library's ``SSLObject`` with its ``MemoryBIO`` pair is the
sans-IO core; this module is the adapter (the lesson of asyncio's sslproto).

Behaviour, following Twisted's ``TLSMemoryBIOProtocol`` where it has one:

* The application's ``connectionMade`` runs when the transport connects,
  before the handshake; what it writes waits for the handshake.  An optional
  ``handshakeCompleted()`` method is called once the handshake is done.
* A failed handshake (verification, no common version or protocol, the peer
  leaving) reaches ``connectionLost`` as a :class:`~torsion.ssl.TLSHandshakeError`
  with a readable message; a handshake that takes longer than its timeout
  (60 s by default) as :class:`~torsion.ssl.TLSHandshakeTimeout`.
* ``loseConnection`` sends close_notify, then closes the transport once its
  buffer is sent (not waiting for the peer's close_notify, as Twisted).  A
  peer's close_notify is answered the same way.  A peer that closes TCP
  without close_notify gives ``ConnectionLost`` (possible truncation).
* Half-close (not in Twisted, whose TLS transport has no
  ``loseWriteConnection``): ``loseWriteConnection`` sends close_notify and
  then shuts down the transport's sending side; reading goes on.  A peer's
  close_notify is given to a protocol that has ``readConnectionLost`` (it
  may go on writing); other protocols get the connection closed.  This is
  TLS 1.3's half-close (RFC 8446 section 6.1); a TLS 1.2 peer usually answers
  close_notify with its own and closes.
* Producers: the application's producer is paused when the transport's
  buffer is full and during the handshake; a pull producer is driven as
  Twisted does (asked for more once per reactor iteration while the
  transport has room).  Memory stays bounded by the transport's high-water
  mark plus one write.

Hard-won facts:

* ``SSLObject.read`` returns ``b""`` once for the peer's close_notify, then
  raises ``SSLZeroReturnError``; after ``MemoryBIO.write_eof`` a read raises
  ``SSLEOFError`` once the buffered records are used up.
* OpenSSL reads after we sent close_notify and writes after we received one,
  in TLS 1.2 and 1.3: that is what makes half-close possible.
* ``SSL_shutdown`` during the handshake is an error, so ``loseConnection``
  waits for the handshake to finish (or fail, or time out).
* A TLS 1.3 client finishes its handshake before the server has checked the
  client's certificate: a rejection arrives as an alert on the first read
  and is reported as a handshake error all the same.
* ``SSLObject.read(n)`` returns at most one record (16 KiB); reads are
  batched so the application gets one ``dataReceived`` per transport read.
"""

from __future__ import annotations

import enum
import ssl
from typing import Any, Protocol

from torsion import error
from torsion._logging import log_failure
from torsion.failure import Failure
from torsion.ssl import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    Certificate,
    CertificateOptions,
    TLSError,
    TLSHandshakeError,
    TLSHandshakeTimeout,
)

__all__ = ["SSLMixin", "TLSMemoryBIO", "TLSMemoryBIOFactory", "TLSMemoryBIOProtocol", "start_tls"]

_READ_SIZE = 65536  # one SSLObject.read (a record is at most 16 KiB)
_READ_BATCH = 262144  # plaintext gathered into one dataReceived
_WRITE_CHUNK = 262144  # plaintext encrypted per transport.write for big writes


class _State(enum.Enum):
    HANDSHAKING = "handshaking"
    OPEN = "open"
    CLOSED = "closed"  # failed or aborted: nothing more is read or written


def _text(reason: Failure) -> str:
    return str(reason.value) or type(reason.value).__name__


class TLSMemoryBIO:
    """The TLS layer of one connection: protocol of the transport, transport of the application.

    Usually made by :class:`TLSMemoryBIOFactory` (``listenSSL``/``connectSSL``)
    or :func:`start_tls`.

    Args:
        wrappedProtocol: the application protocol.
        contextFactory: an ``ssl.SSLContext``, an object with ``getContext()``,
            or one with ``clientConnectionForTLS``/``serverConnectionForTLS``
            (see :mod:`torsion.ssl`).
        isClient: whether this side starts the handshake.
        hostname: the name to send in SNI (and check, if the context checks
            host names) when ``contextFactory`` does not say it.
        handshakeTimeout: seconds the handshake may take; None for the
            context factory's ``handshakeTimeout`` or 60.
        clock: for the handshake timeout and pull producers; the
            transport's ``reactor`` when None.
        factory: the factory that built this protocol, if any.

    Attributes:
        wrappedProtocol: the application protocol.
        transport: the underlying transport (once connected).
        connected: 1 while the underlying connection is up.
        disconnecting: True once ``loseConnection`` was called.
        disconnected: True once ``connectionLost`` has run.
        lostReason: the reason given to the application's ``connectionLost``.
        TLS: always True (Twisted's transports say so after ``startTLS``).
    """

    TLS = True

    def __init__(
        self,
        wrappedProtocol: Any,
        contextFactory: Any,
        isClient: bool,
        *,
        hostname: str | None = None,
        handshakeTimeout: float | None = None,
        clock: Any = None,
        factory: Any = None,
    ) -> None:
        self.wrappedProtocol = wrappedProtocol
        self.factory = factory
        self._creator = contextFactory
        self._is_client = bool(isClient)
        self._hostname = hostname
        if handshakeTimeout is None:
            handshakeTimeout = getattr(contextFactory, "handshakeTimeout", None)
        self._timeout = DEFAULT_HANDSHAKE_TIMEOUT if handshakeTimeout is None else handshakeTimeout
        if self._timeout <= 0:
            raise ValueError(f"handshakeTimeout must be > 0, not {self._timeout!r}")
        self._clock = clock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._sslobj: ssl.SSLObject | None = None
        self.transport: Any = None
        self._state = _State.HANDSHAKING
        self.connected = 0
        self.disconnecting = False
        self.disconnected = False
        self.lostReason: Failure | None = None
        self._app_connected = False
        self._pending: list[bytes] = []
        self._reason: Failure | None = None
        self._sent_close = False
        self._received_close = False
        self._write_closing = False
        self._read_paused = False
        self._relay: _ProducerRelay | None = None
        self._timer: Any = None
        self._resume_call: Any = None

    def __repr__(self) -> str:
        side = "client" if self._is_client else "server"
        return f"<TLSMemoryBIO {side} {self._state.value} for {self.wrappedProtocol!r}>"

    def logPrefix(self) -> str:
        prefix = getattr(self.wrappedProtocol, "logPrefix", None)
        name = prefix() if callable(prefix) else type(self.wrappedProtocol).__name__
        return f"{name} (TLS)"

    # -- setting up ------------------------------------------------------------------
    def wrapContext(self, context: ssl.SSLContext, server_hostname: str | None = None
                    ) -> ssl.SSLObject:
        """Make this connection's ``SSLObject`` from ``context`` (for context factories).

        ``server_hostname`` matters on the client side only: it is sent in
        SNI and, when ``context.check_hostname`` is set, checked.
        """
        return context.wrap_bio(
            self._incoming, self._outgoing, server_side=not self._is_client,
            server_hostname=server_hostname if self._is_client else None,
        )

    def _make_sslobj(self) -> ssl.SSLObject:
        creator = self._creator
        if not isinstance(creator, ssl.SSLContext):
            name = "clientConnectionForTLS" if self._is_client else "serverConnectionForTLS"
            method = getattr(creator, name, None)
            if method is not None:
                made: ssl.SSLObject = method(self)
                return made
            creator = creator.getContext()
        return self.wrapContext(creator, self._hostname)

    def _attach(self, transport: Any) -> None:
        """Take ``transport`` as ours and set up TLS; the handshake starts with :meth:`_begin`."""
        self._sslobj = self._make_sslobj()
        self.transport = transport
        self.connected = 1
        if self._clock is None:
            self._clock = getattr(transport, "reactor", None)
        if self._clock is not None:
            self._timer = self._clock.callLater(self._timeout, self._handshake_timed_out)

    def _begin(self) -> None:
        if self._state is _State.HANDSHAKING:
            self._progress()

    # -- the transport's protocol ----------------------------------------------------------
    def makeConnection(self, transport: Any) -> None:
        """Start TLS over a new connection; the application's ``connectionMade`` runs now."""
        self._attach(transport)
        self._app_connected = True
        self.wrappedProtocol.makeConnection(self)
        self._begin()

    def dataReceived(self, data: bytes) -> None:
        """Ciphertext from the peer: advance the handshake, hand plaintext to the application."""
        if self._state is _State.CLOSED:
            return
        self._incoming.write(data)
        self._progress()

    def readConnectionLost(self) -> None:
        """The peer shut down its sending side (TCP EOF)."""
        if self._state is _State.CLOSED or self._sslobj is None:
            return
        if self._received_close:
            if self._sent_close or not hasattr(self.wrappedProtocol, "readConnectionLost"):
                self.transport.loseConnection()
            return
        self._incoming.write_eof()
        self._progress()  # what is left, then the EOF: a truncation

    def writeConnectionLost(self) -> None:
        """Our sending side is shut down (after ``loseWriteConnection``); told once."""
        hook = getattr(self.wrappedProtocol, "writeConnectionLost", None)
        if hook is not None:
            hook()

    def connectionLost(self, reason: Failure) -> None:
        """The transport is gone: tell the application, with the TLS-level reason if any."""
        if self.disconnected:
            return
        self.disconnected = True
        self.connected = 0
        self._cancel_calls()
        if self._state is _State.OPEN and self._reason is None and self._sslobj is not None:
            # Records the application did not take yet (it paused reading).
            self._read_paused = False
            try:
                self._deliver()
            except ssl.SSLError:
                pass
            except BaseException:
                log_failure(Failure(), f"Unhandled error in {self.logPrefix()}:", "torsion.tls")
        handshaking = self._state is _State.HANDSHAKING
        self._state = _State.CLOSED
        if self._relay is not None:
            self._relay.detach()
            self._relay = None
        if self._reason is not None:
            final = self._reason
        elif self._closed_cleanly(reason):
            final = Failure(error.ConnectionDone())
        elif handshaking and not self.disconnecting and not reason.check(error.ConnectionAborted):
            final = Failure(TLSHandshakeError(
                f"the connection was lost during the handshake ({_text(reason)})", None))
        else:
            final = reason
        self.lostReason = final
        if self._app_connected:
            self.wrappedProtocol.connectionLost(final)

    def _closed_cleanly(self, reason: Failure) -> bool:
        """Both close_notify alerts went and nothing was left unsent, whatever TCP said.

        A peer that closes its socket right after its close_notify resets the
        connection when our answering close_notify arrives, so the transport
        may report ConnectionLost for a session that ended cleanly.
        """
        return (
            self._received_close and self._sent_close
            and reason.check(error.ConnectionLost) is not None
            and reason.check(error.ConnectionAborted) is None
            and not getattr(self.transport, "_buffered", 0)
        )

    # -- the engine --------------------------------------------------------------------
    def _progress(self) -> None:
        """Advance the handshake, deliver plaintext, send what TLS produced."""
        try:
            if self._state is _State.HANDSHAKING:
                assert self._sslobj is not None
                try:
                    self._sslobj.do_handshake()
                except ssl.SSLWantReadError:
                    return
                self._handshake_done()
            if self._state is _State.OPEN:
                self._deliver()
        except ssl.SSLEOFError:
            if self._state is _State.HANDSHAKING:
                self._fail(TLSHandshakeError(
                    "the peer closed the connection during the handshake", None))
            else:
                self._fail(error.ConnectionLost(
                    "the peer closed the connection without a TLS close_notify"))
        except ssl.SSLError as exc:
            self._fail(TLSError.wrap(exc, self._state is _State.HANDSHAKING))
        finally:
            self._flush()

    def _handshake_done(self) -> None:
        self._state = _State.OPEN
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        for chunk in pending:
            self._encrypt(chunk)
        if self._read_paused:
            self.transport.pauseProducing()
        if self._relay is not None:
            self._relay.unpause("handshake")
        hook = getattr(self.wrappedProtocol, "handshakeCompleted", None)
        if hook is not None:
            hook()
        if self._state is not _State.OPEN or self._relay is not None:
            return
        if self.disconnecting:
            self._shutdown()
        elif self._write_closing:
            self._close_write()

    def _deliver(self) -> None:
        """Give decrypted data to the application until TLS needs more or reading is paused."""
        read = self._sslobj.read  # type: ignore[union-attr]
        while self._state is _State.OPEN and not self._read_paused and not self._received_close:
            chunks: list[bytes] = []
            size = 0
            failure: ssl.SSLError | None = None
            try:
                while size < _READ_BATCH:
                    chunk = read(_READ_SIZE)
                    if not chunk:
                        self._received_close = True
                        break
                    chunks.append(chunk)
                    size += len(chunk)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                self._received_close = True
            except ssl.SSLError as exc:
                failure = exc
            if chunks:
                self.wrappedProtocol.dataReceived(chunks[0] if len(chunks) == 1
                                                  else b"".join(chunks))
            if failure is not None:
                raise failure
            if self._received_close:
                self._close_notify_received()
                return
            if size < _READ_BATCH:
                return

    def _close_notify_received(self) -> None:
        if self._state is not _State.OPEN or self.disconnected:
            return
        hook = getattr(self.wrappedProtocol, "readConnectionLost", None)
        if self._sent_close or self.disconnecting:
            self.transport.loseConnection()
        elif hook is not None:
            hook()
        else:
            self._shutdown()

    def _encrypt(self, data: bytes) -> None:
        assert self._sslobj is not None
        write = self._sslobj.write
        try:
            if len(data) <= _WRITE_CHUNK:
                write(data)
                self._flush()
                return
            view = memoryview(data)
            for start in range(0, len(view), _WRITE_CHUNK):
                write(view[start:start + _WRITE_CHUNK])
                self._flush()
        except ssl.SSLError as exc:
            self._fail(TLSError.wrap(exc, False))

    def _flush(self) -> None:
        if self._outgoing.pending and self.transport is not None:
            self.transport.write(self._outgoing.read())

    def _send_close_notify(self) -> None:
        if self._sent_close:
            return
        self._sent_close = True
        try:
            self._sslobj.unwrap()  # type: ignore[union-attr]
        except ssl.SSLWantReadError:
            pass  # close_notify is written; the peer's answer is not awaited
        except ssl.SSLError:
            pass
        self._flush()

    def _shutdown(self) -> None:
        self._send_close_notify()
        self.transport.loseConnection()

    def _close_write(self) -> None:
        if self._received_close:
            self._shutdown()
            return
        self._send_close_notify()
        self.transport.loseWriteConnection()

    def _fail(self, exc: BaseException, abort: bool = False) -> None:
        """Give up on this connection because of ``exc`` (reported to the application)."""
        if self._state is _State.CLOSED:
            return
        self._reason = Failure(exc)
        self._state = _State.CLOSED
        self._cancel_calls()
        self._flush()  # an alert telling the peer why
        if abort:
            self.transport.abortConnection()
        else:
            self.transport.loseConnection()

    def _handshake_timed_out(self) -> None:
        self._timer = None
        if self._state is _State.HANDSHAKING:
            self._fail(TLSHandshakeTimeout(f"timed out after {self._timeout:g} seconds"),
                       abort=True)

    def _cancel_calls(self) -> None:
        for name in ("_timer", "_resume_call"):
            call = getattr(self, name)
            if call is not None:
                if call.active():
                    call.cancel()
                setattr(self, name, None)

    # -- the application's transport --------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Encrypt and send ``data``; before the handshake is done it waits.

        Ignored once close_notify was sent or the connection failed.

        Raises:
            TypeError: when ``data`` is not bytes-like (``str`` included).
        """
        if not isinstance(data, bytes):
            if isinstance(data, str) or not isinstance(data, bytearray | memoryview):
                raise TypeError(f"data must be bytes, not {type(data).__name__}")
            data = bytes(data)
        if not data or self._sent_close or self._state is _State.CLOSED:
            return
        if self._state is _State.HANDSHAKING:
            self._pending.append(data)
        else:
            self._encrypt(data)
            if self._relay is not None:
                self._relay.wrote()

    def writeSequence(self, iovec: Any) -> None:
        """Write the chunks of ``iovec`` as one."""
        chunks = list(iovec)
        for chunk in chunks:
            if isinstance(chunk, str):
                raise TypeError("data must be bytes, not str")
        self.write(b"".join(chunks))

    def loseConnection(self) -> None:
        """Send what is written, then close_notify, then close the transport.

        During the handshake this waits for the handshake; with a producer
        registered, for ``unregisterProducer``.
        """
        if self.disconnecting or self._state is _State.CLOSED or self.transport is None:
            return
        self.disconnecting = True
        if self._state is _State.OPEN and self._relay is None:
            self._shutdown()

    def abortConnection(self) -> None:
        """Close at once, without close_notify, dropping anything not yet sent."""
        if self.disconnected or self.transport is None:
            return
        self.disconnecting = True
        self._state = _State.CLOSED
        self._cancel_calls()
        self.transport.abortConnection()

    def loseWriteConnection(self) -> None:
        """Half-close: send what is written and close_notify, then shut down our sending side."""
        if self._write_closing or self.disconnecting or self._state is _State.CLOSED:
            return
        self._write_closing = True
        if self._state is _State.OPEN and self._relay is None:
            self._close_write()

    def startTLS(self, contextFactory: Any, normal: bool = True) -> None:
        """TLS inside TLS is not offered.

        Raises:
            RuntimeError: always.
        """
        raise RuntimeError("TLS is already started on this connection")

    def getPeer(self) -> Any:
        return self.transport.getPeer()

    def getHost(self) -> Any:
        return self.transport.getHost()

    def getHandle(self) -> ssl.SSLObject | None:
        """The connection's ``ssl.SSLObject`` (cipher(), version(), session...)."""
        return self._sslobj

    def getPeerCertificate(self) -> Certificate | None:
        """The peer's certificate once the handshake is done; None if it sent none."""
        if self._sslobj is None or self._state is _State.HANDSHAKING:
            return None
        der = self._sslobj.getpeercert(binary_form=True)
        if der is None:
            return None
        info = self._sslobj.getpeercert()
        return Certificate(der, info or None)

    @property
    def negotiatedProtocol(self) -> bytes | None:
        """The ALPN protocol agreed on (``b"h2"``), or None."""
        if self._sslobj is None or self._state is _State.HANDSHAKING:
            return None
        chosen = self._sslobj.selected_alpn_protocol()
        return chosen.encode("ascii") if chosen else None

    def getTcpNoDelay(self) -> bool:
        return bool(self.transport.getTcpNoDelay())

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.transport.setTcpNoDelay(enabled)

    def getTcpKeepAlive(self) -> bool:
        return bool(self.transport.getTcpKeepAlive())

    def setTcpKeepAlive(self, enabled: bool) -> None:
        self.transport.setTcpKeepAlive(enabled)

    # -- the application's consumer side -----------------------------------------------
    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Attach the application's producer (push if ``streaming``, else pull).

        Raises:
            RuntimeError: when another producer is registered.
        """
        if self._relay is not None:
            raise RuntimeError(f"cannot register producer {producer!r}: "
                               f"{self._relay.producer!r} is registered")
        if self._state is _State.CLOSED or self.disconnected:
            producer.stopProducing()
            return
        relay = _ProducerRelay(producer, bool(streaming), self._clock)
        self._relay = relay
        if self._state is _State.HANDSHAKING:
            relay.pause("handshake")
        self.transport.registerProducer(relay, relay.streaming_to_transport)
        relay.start()

    def unregisterProducer(self) -> None:
        """Detach the producer; a pending ``loseConnection`` then completes."""
        relay, self._relay = self._relay, None
        if relay is None:
            return
        relay.detach()
        if self.transport is not None and not self.disconnected:
            self.transport.unregisterProducer()
        if self._state is _State.OPEN:
            if self.disconnecting:
                self._shutdown()
            elif self._write_closing:
                self._close_write()

    # -- the application's producer side (reading) -------------------------------------
    def pauseProducing(self) -> None:
        """Deliver no more data until ``resumeProducing``."""
        if self._read_paused:
            return
        self._read_paused = True
        if self._state is _State.OPEN:
            self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        """Deliver data again (what was decrypted already first, on the next iteration)."""
        if not self._read_paused:
            return
        self._read_paused = False
        if self._state is not _State.OPEN:
            return
        self.transport.resumeProducing()
        if self._clock is None:
            self._progress()
        elif self._resume_call is None:
            self._resume_call = self._clock.callLater(0, self._resumed)

    def _resumed(self) -> None:
        self._resume_call = None
        if self._state is _State.OPEN and not self._read_paused:
            self._progress()

    def stopProducing(self) -> None:
        """Close the connection (the consumer wants no more)."""
        self.loseConnection()


TLSMemoryBIOProtocol = TLSMemoryBIO
"""Twisted's name for the TLS layer (``twisted.protocols.tls``)."""


class _ProducerRelay:
    """Registered on the transport for the application's producer.

    The producer runs while nothing holds it: ``"transport"`` (the transport's
    buffer is full) or ``"handshake"`` (TLS is not ready).  A pull producer is
    asked for a chunk when it starts running, and again on the next reactor
    iteration after each time it wrote (:meth:`wrote`): one that wrote nothing
    is left alone until it writes, as on a plain TCP transport, instead of
    being asked on every iteration.  Without a clock, the transport asks
    (registered as a pull producer).
    """

    def __init__(self, producer: Any, streaming: bool, clock: Any) -> None:
        self.producer = producer
        self.streaming = streaming
        self._clock = clock
        self.streaming_to_transport = streaming or clock is not None
        self._holds: set[str] = set()
        self._active = True
        self._call: Any = None

    def start(self) -> None:
        if not self.streaming and self._clock is not None and not self._holds:
            self._schedule()

    def pause(self, why: str) -> None:
        running = not self._holds
        self._holds.add(why)
        if running and self._active:
            if self.streaming:
                self.producer.pauseProducing()
            else:
                self._cancel()

    def unpause(self, why: str) -> None:
        if why not in self._holds:
            return
        self._holds.discard(why)
        if self._holds or not self._active:
            return
        if self.streaming:
            self.producer.resumeProducing()
        elif self._clock is not None:
            self._schedule()
        else:
            self.producer.resumeProducing()

    # IPushProducer, as the transport sees it.
    def pauseProducing(self) -> None:
        self.pause("transport")

    def resumeProducing(self) -> None:
        if not self.streaming_to_transport:  # the transport pulls: hand it on
            if self._active and not self._holds:
                self.producer.resumeProducing()
            return
        self.unpause("transport")

    def stopProducing(self) -> None:
        if not self._active:
            return
        self.detach()
        self.producer.stopProducing()

    def detach(self) -> None:
        self._active = False
        self._cancel()

    def _schedule(self) -> None:
        if self._call is None:
            self._call = self._clock.callLater(0, self._pull)

    def _cancel(self) -> None:
        if self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None

    def wrote(self) -> None:
        """The application wrote: a running pull producer is asked again soon."""
        if not self.streaming and self._clock is not None and not self._holds and self._active:
            self._schedule()

    def _pull(self) -> None:
        self._call = None
        if self._holds or not self._active:
            return
        self.producer.resumeProducing()  # its writes schedule the next call


def _check_creator(creator: Any, is_client: bool) -> None:
    """Refuse, early, a context factory that cannot work for this side."""
    side = "client" if is_client else "server"
    if isinstance(creator, ssl.SSLContext):
        wrong = ssl.PROTOCOL_TLS_SERVER if is_client else ssl.PROTOCOL_TLS_CLIENT
        if creator.protocol == wrong:
            raise ValueError(f"a TLS {side} needs an ssl.SSLContext made with "
                             f"{'PROTOCOL_TLS_CLIENT' if is_client else 'PROTOCOL_TLS_SERVER'}")
        return
    method = "clientConnectionForTLS" if is_client else "serverConnectionForTLS"
    if not hasattr(creator, method) and not hasattr(creator, "getContext"):
        raise TypeError(f"{creator!r} is not a TLS context factory: it needs getContext() "
                        "or is an ssl.SSLContext")
    if not is_client and isinstance(creator, CertificateOptions) and creator.certificate is None:
        raise ValueError("a TLS server needs a certificate and a private key "
                         "(CertificateOptions(privateKey=..., certificate=...))")


class TLSMemoryBIOFactory:
    """Wraps a factory so each of its protocols runs over TLS (what listenSSL/connectSSL use).

    Client factory events (``startedConnecting``, ``clientConnectionFailed``,
    ``clientConnectionLost``) are passed on; the latter gets the reason the
    protocol got (a handshake failure rather than a clean TCP close).

    Raises:
        ValueError, TypeError: ``contextFactory`` cannot serve this side.
    """

    noisy = False

    def __init__(
        self,
        contextFactory: Any,
        isClient: bool,
        wrappedFactory: Any,
        *,
        hostname: str | None = None,
        handshakeTimeout: float | None = None,
        clock: Any = None,
    ) -> None:
        _check_creator(contextFactory, isClient)
        self.contextFactory = contextFactory
        self.isClient = isClient
        self.wrappedFactory = wrappedFactory
        self.hostname = hostname
        self.handshakeTimeout = handshakeTimeout
        self.clock = clock
        self._last_built: TLSMemoryBIO | None = None

    def __repr__(self) -> str:
        return f"<TLSMemoryBIOFactory for {self.wrappedFactory!r}>"

    def logPrefix(self) -> str:
        prefix = getattr(self.wrappedFactory, "logPrefix", None)
        name = prefix() if callable(prefix) else type(self.wrappedFactory).__name__
        return f"{name} (TLS)"

    def doStart(self) -> None:
        self.wrappedFactory.doStart()

    def doStop(self) -> None:
        self.wrappedFactory.doStop()

    def buildProtocol(self, addr: Any) -> TLSMemoryBIO | None:
        protocol = self.wrappedFactory.buildProtocol(addr)
        if protocol is None:
            return None
        tls = TLSMemoryBIO(
            protocol, self.contextFactory, self.isClient, hostname=self.hostname,
            handshakeTimeout=self.handshakeTimeout, clock=self.clock, factory=self,
        )
        # A connector builds one protocol per attempt, one attempt at a time.
        self._last_built = tls
        return tls

    def startedConnecting(self, connector: Any) -> None:
        hook = getattr(self.wrappedFactory, "startedConnecting", None)
        if hook is not None:
            hook(connector)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        hook = getattr(self.wrappedFactory, "clientConnectionFailed", None)
        if hook is not None:
            hook(connector, reason)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        hook = getattr(self.wrappedFactory, "clientConnectionLost", None)
        if hook is None:
            return
        tls = self._last_built
        if tls is not None and tls.lostReason is not None:
            reason = tls.lostReason
        hook(connector, reason)


def start_tls(transport: Any, contextFactory: Any, normal: bool = True, *,
              handshakeTimeout: float | None = None) -> TLSMemoryBIO:
    """Switch a live stream transport to TLS (STARTTLS), keeping the application protocol.

    Bytes the transport still buffers go out in the clear first; from now on
    the protocol's ``transport`` is the returned TLS layer (its
    ``connectionMade`` is not called again) and a registered producer moves
    to it.  Keep no other reference to the old transport for writing: what
    is written there is not encrypted.

    Example (a server answering STARTTLS)::

        def lineReceived(self, line):
            if line == b"STARTTLS":
                self.sendLine(b"220 go ahead")
                self.transport.startTLS(server_options)   # start_tls(self.transport, ...)

    Args:
        transport: a connected stream transport with a ``protocol`` attribute.
        contextFactory: as for ``listenSSL``/``connectSSL``.
        normal: True for this side's usual role (client for a connection we
            made, server for one we accepted); False for the other role.
        handshakeTimeout: seconds the handshake may take (default 60).

    Raises:
        RuntimeError: TLS is already on, or the connection is closed.
    """
    app = transport.protocol
    if isinstance(app, TLSMemoryBIO):
        raise RuntimeError("TLS is already started on this connection")
    if not transport.connected or getattr(transport, "disconnecting", False):
        raise RuntimeError("cannot start TLS on a connection that is closed or closing")
    default_client = getattr(transport, "_tlsClientDefault", None)
    if default_client is None:
        default_client = getattr(transport, "connector", None) is not None
    is_client = bool(default_client) == bool(normal)
    hostname = getattr(getattr(transport, "connector", None), "host", None) if is_client else None
    _check_creator(contextFactory, is_client)
    tls = TLSMemoryBIO(app, contextFactory, is_client, hostname=hostname,
                       handshakeTimeout=handshakeTimeout)
    tls._attach(transport)
    producer = getattr(transport, "producer", None)
    streaming = bool(getattr(transport, "streamingProducer", False))
    if producer is not None:
        transport.unregisterProducer()
    replace = getattr(transport, "_replace_protocol", None)
    if replace is not None:
        replace(tls)  # a transport whose protocol is not just its attribute
    else:
        transport.protocol = tls
    tls._app_connected = True
    app.transport = tls
    tls._begin()
    if producer is not None:
        tls.registerProducer(producer, streaming)
    return tls


class _TCPReactor(Protocol):
    def listenTCP(self, port: int, factory: Any, backlog: int = ...,
                  interface: str = ...) -> Any: ...

    def connectTCP(self, host: str, port: int, factory: Any, timeout: float = ...,
                   bindAddress: tuple[str, int] | None = ...) -> Any: ...


class SSLMixin:
    """``IReactorSSL``: TLS servers and clients, built on ``listenTCP``/``connectTCP``."""

    def listenSSL(
        self: _TCPReactor,
        port: int,
        factory: Any,
        contextFactory: Any,
        backlog: int = 50,
        interface: str = "",
    ) -> Any:
        """Listen for TLS connections; each gets a protocol from ``factory``.

        Example::

            from torsion.ssl import PrivateCertificate
            cert = PrivateCertificate.loadPEM(open("server.pem").read())
            port = reactor.listenSSL(8443, factory, cert.options(), interface="127.0.0.1")

        Args:
            port: the TCP port (0 picks a free one).
            factory: builds the application protocol of each connection.
            contextFactory: server settings: :class:`torsion.ssl.CertificateOptions`,
                a ``getContext()`` object, or an ``ssl.SSLContext``
                (``PROTOCOL_TLS_SERVER``).
            backlog: the listen queue length.
            interface: the address to bind.

        Raises:
            CannotListenError: when the port cannot be bound.
            ValueError: when ``contextFactory`` has no certificate or is a client context.
        """
        return self.listenTCP(port, TLSMemoryBIOFactory(contextFactory, False, factory),
                              backlog, interface)

    def connectSSL(
        self: _TCPReactor,
        host: str,
        port: int,
        factory: Any,
        contextFactory: Any,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> Any:
        """Connect over TLS; ``factory`` (a ClientFactory) hears how it went.

        Example::

            from torsion.ssl import optionsForClientTLS
            reactor.connectSSL("example.org", 443, factory, optionsForClientTLS("example.org"))

        With a bare ``ssl.SSLContext`` (or a ``getContext()`` object), ``host``
        is sent in SNI and checked if the context checks host names.

        Raises:
            ValueError, TypeError: when ``contextFactory`` cannot make a client.
        """
        wrapper = TLSMemoryBIOFactory(contextFactory, True, factory, hostname=host)
        return self.connectTCP(host, port, wrapper, timeout, bindAddress)
