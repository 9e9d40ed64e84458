"""A TCP echo client on torsion, for ``examples/echoserv.py``.

    python examples/echoclient.py --port 8000 [--host 127.0.0.1] [--reactor NAME] hello world

Connects, sends each message, waits for it to come back, prints it, then
closes the connection and exits (status 1 if the server could not be reached).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torsion.reactor
from torsion.defer import Deferred
from torsion.protocol import ClientCreator, Protocol
from torsion.task import react


class EchoClient(Protocol):
    """Sends a message and hands back what the server echoed."""

    def __init__(self) -> None:
        self._expected = 0
        self._received = b""
        self._waiting: Deferred[bytes] | None = None

    def echo(self, message: bytes) -> Deferred[bytes]:
        """Send ``message``; the Deferred fires with its echo."""
        self._expected, self._received = len(message), b""
        self._waiting = Deferred()
        self.transport.write(message)
        return self._waiting

    def dataReceived(self, data: bytes) -> None:
        self._received += data
        if self._waiting is not None and len(self._received) >= self._expected:
            waiting, self._waiting = self._waiting, None
            waiting.callback(self._received)


async def run(reactor: Any, host: str, port: int, messages: list[str]) -> None:
    client = await ClientCreator(reactor, EchoClient).connectTCP(host, port, timeout=10)
    for message in messages:
        echoed = await client.echo(message.encode())
        print(echoed.decode(errors="replace"), flush=True)
    client.transport.loseConnection()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="TCP echo client on torsion.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reactor", choices=sorted(torsion.reactor.BACKENDS))
    parser.add_argument("messages", nargs="*", default=["hello"])
    args = parser.parse_args(argv)
    torsion.reactor.install(args.reactor)
    react(run, (args.host, args.port, args.messages))


if __name__ == "__main__":
    main(sys.argv[1:])
