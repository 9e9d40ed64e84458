"""A connected, non-blocking stream socket as a transport (TCP; UNIX later).

The write path follows the lesson of asyncio's selector transports: with
nothing buffered, ``write`` sends at once; only the unsent tail is buffered,
and the descriptor is watched for writability until the buffer drains.  A
failure found while writing is never reported from inside ``write``: it is
kept and reported by the next ``doWrite``, so ``connectionLost`` is always
called from the reactor, exactly once.

Flow control (from :class:`~torsion._transports._write_buffer.WriteBuffer`): a
streaming (push) producer is paused when the buffer grows past ``highWater``
bytes and resumed once it is back to ``lowWater``; a pull producer is asked for
more each time the buffer empties.
"""

from __future__ import annotations

import errno
import socket
import struct
from collections.abc import Iterable
from typing import Any

from torsion import error
from torsion._logging import log_failure
from torsion._transports._sendfile import SendfileMixin
from torsion._transports._write_buffer import WriteBuffer, as_bytes
from torsion.failure import Failure

__all__ = ["StreamTransport"]

CONNECTION_DONE = error.ConnectionDone()
_ABORTED = error.ConnectionAborted()

# Errors from send/recv meaning "the peer is gone", reported as ConnectionLost.
_LOST_ERRNOS = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ENOTCONN, errno.ESHUTDOWN,
                          errno.ECONNABORTED, errno.ETIMEDOUT, errno.EHOSTUNREACH})
# How many buffered chunks one sendmsg call gathers (below IOV_MAX = 1024).
_GATHER = 512


def _lost(exc: OSError) -> error.ConnectionLost:
    return error.ConnectionLost(exc.strerror or str(exc))


class StreamTransport(SendfileMixin, WriteBuffer):
    """A connected stream socket driven by a reactor; provides ``ITCPTransport``
    and ``ISendfileTransport`` (``sendfile``, from :class:`SendfileMixin`).

    Attributes:
        protocol: the protocol receiving this connection's events.
        connected: 1 while the connection is up.
        disconnecting: 1 once ``loseConnection`` was called.
        disconnected: 1 once ``connectionLost`` has run.
        bufferSize: the most bytes read at once.
        highWater: buffered bytes above which a streaming producer is paused.
        lowWater: buffered bytes at or below which it is resumed.
    """

    def __init__(self, skt: socket.socket, protocol: Any, reactor: Any) -> None:
        super().__init__()
        skt.setblocking(False)
        self.socket = skt
        self._fileno = skt.fileno()
        self.protocol = protocol
        self.reactor = reactor
        self.connected = 1
        self.disconnecting = 0
        self.disconnected = 0
        self._recv = skt.recv
        self._send = skt.send
        self._writeDisconnecting = False
        self._writeDisconnected = False
        self._aborting = False

    # -- descriptor side (called by the reactor) -----------------------------
    def fileno(self) -> int:
        return self._fileno

    def logPrefix(self) -> str:
        protocol = getattr(self, "protocol", None)
        prefix = getattr(protocol, "logPrefix", None)
        return prefix() if callable(prefix) else type(self).__name__

    def doRead(self) -> BaseException | None:
        """Read once and hand the bytes to the protocol."""
        try:
            data = self._recv(self.bufferSize)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            return _lost(exc)
        if not data:
            return CONNECTION_DONE
        self.protocol.dataReceived(data)
        return None

    def doWrite(self) -> BaseException | None:
        """Send what is buffered; then feed producers and finish closing."""
        if self._write_failure is not None:
            return self._write_failure
        if self._sendfile_jobs and not self._send_with_files():
            return self._write_failure  # None: wait for writability
        buffer = self._buffer
        while buffer:
            try:
                if len(buffer) == 1:
                    sent = self._send(buffer[0])
                else:
                    chunks = list(buffer) if len(buffer) <= _GATHER else [
                        buffer[i] for i in range(_GATHER)
                    ]
                    sent = self.socket.sendmsg(chunks)
            except (BlockingIOError, InterruptedError):
                return None
            except OSError as exc:
                return _lost(exc)
            if not self._consume(sent):
                return None  # the kernel's buffer is full: wait for writability
        # Everything is sent: stop watching writability, then ask a pull (or
        # a paused push) producer for more; its write() watches again.  While
        # such a producer is registered a pending close waits for it to
        # unregister, as Twisted's does.
        self.stopWriting()
        producer = self.producer
        if producer is not None and (not self.streamingProducer or self.producerPaused):
            self.producerPaused = False
            producer.resumeProducing()
            return None
        if self.disconnecting:
            return CONNECTION_DONE
        if self._writeDisconnecting and not self._writeDisconnected:
            self._closeWriteConnection()
        return None

    # -- ITransport ----------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Send ``data`` in order, buffering what the socket does not take now.

        Never blocks and never raises for a broken connection (that is
        reported through ``connectionLost``).  Ignored once disconnected.

        Raises:
            TypeError: when ``data`` is not bytes-like (``str`` included).
        """
        if type(data) is not bytes:  # the hot path: no call for plain bytes
            data = as_bytes(data)
        if not data or not self.connected or self._writeDisconnected or self._aborting:
            return
        if self._buffered == 0 and self._write_failure is None:
            try:
                sent = self._send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._fail_write(exc)
                return
            if sent == len(data):
                self._pull_again()
                return
            self._buffer.append(memoryview(data)[sent:] if sent else data)
            self._buffered = len(data) - sent
            self.startWriting()
        else:
            self._buffer.append(data)
            self._buffered += len(data)
        self._maybe_pause_producer()

    def writeSequence(self, iovec: Iterable[bytes]) -> None:
        """Write each of ``iovec`` in order, gathered into one send when possible."""
        chunks = [bytes(c) if not isinstance(c, bytes) else c for c in iovec]
        for chunk in chunks:
            if isinstance(chunk, str):
                raise TypeError("data must be bytes, not str")
        chunks = [c for c in chunks if c]
        if not chunks or not self.connected or self._writeDisconnected or self._aborting:
            return
        if len(chunks) == 1 or self._buffered or self._write_failure is not None:
            for chunk in chunks:
                self.write(chunk)
            return
        total = sum(len(c) for c in chunks)
        try:
            sent = self.socket.sendmsg(chunks[:_GATHER])
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._fail_write(exc)
            return
        if sent == total:
            self._pull_again()
            return
        self._buffer.extend(chunks)
        self._buffered = total
        self._consume(sent)
        self.startWriting()
        self._maybe_pause_producer()

    def _pull_again(self) -> None:
        # Sent at once, so no doWrite would follow: watch writability anyway
        # so that a pull producer is asked for its next chunk from doWrite.
        if self.producer is not None and not self.streamingProducer:
            self.startWriting()

    def _fail_write(self, exc: OSError) -> None:
        # Report from the reactor, not from inside write().
        self._write_failure = _lost(exc)
        self.startWriting()

    def loseConnection(self) -> None:
        """Close once everything buffered has been sent."""
        if not self.connected or self.disconnecting:
            return
        if self._writeDisconnected:
            self.stopReading()
            self.stopWriting()
            self.reactor.callLater(0, self._lose_now, Failure(CONNECTION_DONE))
            self.disconnecting = 1
            return
        self.stopReading()
        self.startWriting()
        self.disconnecting = 1

    def _lose_now(self, reason: Failure) -> None:
        self.reactor.removeReader(self)
        self.reactor.removeWriter(self)
        self.connectionLost(reason)

    def abortConnection(self) -> None:
        """Close at once, dropping anything buffered; the peer sees a reset."""
        if self.disconnected or self._aborting:
            return
        self._aborting = True
        self._buffer.clear()
        self._buffered = 0
        self.stopReading()
        self.stopWriting()
        self.reactor.callLater(0, self._lose_now, Failure(_ABORTED))

    def loseWriteConnection(self) -> None:
        """Half-close: send what is buffered, then shut down our sending side."""
        if not self.connected or self._writeDisconnecting:
            return
        self._writeDisconnecting = True
        self.startWriting()

    def _closeWriteConnection(self) -> None:
        self._writeDisconnected = True
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        lost = getattr(self.protocol, "writeConnectionLost", None)
        if lost is not None:
            try:
                lost()
            except BaseException:
                self._report(Failure())
                self.reactor.callLater(0, self._lose_now, Failure())

    def readConnectionLost(self, reason: Failure) -> None:
        """The peer half-closed: tell a half-close-aware protocol, else close.

        Closing sends what is still buffered first (the peer may well be
        reading it: ``nc -N``, ``socat``, HTTP/1.0 clients half-close after
        their request).  Twisted drops it; asyncio, like torsion, does not.
        """
        lost = getattr(self.protocol, "readConnectionLost", None)
        if lost is None:
            if self._buffered or self.producer is not None:
                self.loseConnection()
            else:
                self._lose_now(reason)
            return
        if self._writeDisconnected:
            try:
                lost()
            except BaseException:
                self._report(Failure())
            self._lose_now(reason)
            return
        try:
            lost()
        except BaseException:
            failure = Failure()
            self._report(failure)
            self._lose_now(failure)

    def connectionLost(self, reason: Failure) -> None:
        """Close the socket and tell the protocol, exactly once."""
        if self.disconnected:
            return
        self.disconnected = 1
        self.connected = 0
        self._reading = self._writing = False
        producer, self.producer = self.producer, None
        if producer is not None:
            try:
                producer.stopProducing()
            except BaseException:
                self._report(Failure())
        if self._sendfile_jobs:
            self._files_lost(reason)
        self._close_socket(orderly=not reason.check(error.ConnectionAborted))
        protocol = self.protocol
        try:
            protocol.connectionLost(reason)
        finally:
            self._connection_ended(reason)

    def _connection_ended(self, reason: Failure) -> None:
        """Hook for subclasses (a client tells its connector)."""

    def _close_socket(self, orderly: bool) -> None:
        skt = self.socket
        self._fileno = -1
        try:
            if not orderly:
                # An abort resets the connection rather than closing it cleanly.
                skt.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        skt.close()

    def _report(self, failure: Failure) -> None:
        log_failure(failure, f"Unhandled error in {self.logPrefix()}:", "torsion.transport")

    # -- reading and writing interest ----------------------------------------------
    def startReading(self) -> None:
        if not self._reading and self.connected:
            self._reading = True
            self.reactor.addReader(self)

    def startWriting(self) -> None:
        if not self._writing and self._fileno != -1:
            self._writing = True
            self.reactor.addWriter(self)

    # -- the transport as a producer (flow control of what we read) ----------------
    def pauseProducing(self) -> None:
        """Stop reading from the peer until ``resumeProducing``."""
        self.stopReading()

    def resumeProducing(self) -> None:
        """Start reading from the peer again."""
        if self.connected and not self.disconnecting:
            self.startReading()

    def stopProducing(self) -> None:
        """Close the connection (a consumer does not want our data any more)."""
        self.loseConnection()

    # -- the transport as a consumer ---------------------------------------------
    def unregisterProducer(self) -> None:
        """Detach the producer; a pending ``loseConnection`` then completes."""
        self.producer = None
        self.producerPaused = False
        if self.connected and (self.disconnecting or self._writeDisconnecting):
            self.startWriting()  # a close or half-close waited for the producer

    # -- socket options and addresses ----------------------------------------------
    def getWriteBufferSize(self) -> int:
        """Bytes written (file regions queued by ``sendfile`` included) and not yet
        handed to the kernel; what the high and low water marks are compared with."""
        return self._buffered

    def getTcpNoDelay(self) -> bool:
        return bool(self.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    def setTcpNoDelay(self, enabled: bool) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, int(enabled))

    def getTcpKeepAlive(self) -> bool:
        return bool(self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))

    def setTcpKeepAlive(self, enabled: bool) -> None:
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, int(enabled))

    def getHandle(self) -> socket.socket:
        """The underlying socket."""
        return self.socket

    def startTLS(self, contextFactory: Any, normal: bool = True) -> None:
        """Switch this live connection to TLS (STARTTLS in SMTP, IMAP, FTP...).

        Bytes already written go out in the clear first; from then on the
        protocol's ``transport`` is the TLS layer.  ``normal`` keeps our role
        (client for a connection we made); False swaps it.

        Args:
            contextFactory: an ``ssl.SSLContext``, or an object whose
                ``getContext()`` returns one (see :mod:`torsion.ssl`).
            normal: whether we take the usual role for our side.
        """
        from torsion._transports.tls import start_tls  # noqa: PLC0415 - TLS loads on demand

        start_tls(self, contextFactory, normal)
