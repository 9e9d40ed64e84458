"""ThrottledSender over real loopback TCP, with curl as the peer: 2 MiB at 1 MiB/s takes ~2 s."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from dlserver.ratelimit import Bandwidth, BandwidthLimits, ThrottledSender
from torsion.defer import Deferred
from torsion.protocol import Factory, Protocol
from torsion.utils import getProcessOutputAndValue

MiB = 1024 * 1024
BODY = os.urandom(2 * MiB)


class OneResponse(Protocol):
    """Answers the first request with BODY, throttled, then closes."""

    bandwidth: Bandwidth
    done: Deferred[int]
    reactor: Any

    def dataReceived(self, data: bytes) -> None:
        if b"\r\n\r\n" not in data or self.transport is None:
            return
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(BODY)}\r\nConnection: close\r\n\r\n"
        self.transport.write(head.encode())
        sender = ThrottledSender(self.bandwidth.limiter(), self.reactor)
        d = sender.beginFileTransfer(io.BytesIO(BODY), self.transport)

        def finished(sent: int) -> int:
            assert self.transport is not None
            self.transport.loseConnection()
            return sent

        d.addCallback(finished).chainDeferred(self.done)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed (Debian: curl)")
async def test_two_mib_at_one_mib_per_second_takes_about_two_seconds(
    reactor: Any, tmp_path: Path
) -> None:
    """curl downloads 2 MiB throttled at 1 MiB/s (64 KiB burst): 1.6-2.6 s, exact bytes."""
    limits = BandwidthLimits(per_download_rate=MiB, per_download_burst=64 * 1024)
    done: Deferred[int] = Deferred()
    factory = Factory.forProtocol(OneResponse)
    OneResponse.reactor = reactor
    OneResponse.bandwidth = Bandwidth(limits, reactor)
    OneResponse.done = done
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    try:
        out = tmp_path / "body"
        url = f"http://127.0.0.1:{port.getHost().port}/"
        stdout, stderr, code = await getProcessOutputAndValue(
            "curl",
            ["-sS", "-o", str(out), "-w", "%{size_download} %{time_total}", url],
            env=dict(os.environ),
            reactor=reactor,
        )
        assert code == 0, stderr
        size, seconds = stdout.split()
        assert int(size) == len(BODY)
        assert 1.6 <= float(seconds) <= 2.6, seconds
        assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256(BODY).digest()
        assert await done == len(BODY)
    finally:
        await port.stopListening()
