"""A TCP echo server on torsion.

    python examples/echoserv.py --port 8000 [--reactor select|poll|epoll]

Listens on 127.0.0.1, prints ``ready`` once it accepts connections, echoes
every byte back (TCP_NODELAY on) until the peer closes, and stops cleanly on
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import sys

import torsion.reactor
from torsion.protocol import Factory, Protocol


class Echo(Protocol):
    """Writes back whatever it receives."""

    def connectionMade(self) -> None:
        self.transport.setTcpNoDelay(True)

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="TCP echo server on torsion.")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (0: any)")
    parser.add_argument(
        "--reactor", choices=sorted(torsion.reactor.BACKENDS), help="reactor backend"
    )
    args = parser.parse_args(argv)
    reactor = torsion.reactor.install(args.reactor)
    port = reactor.listenTCP(args.port, Factory.forProtocol(Echo), interface="127.0.0.1")
    reactor.callWhenRunning(print, f"ready {port.getHost().port}", flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
