"""An echo server on torsion: TCP by default, or any server endpoint.

    python examples/echoserv.py --port 8000 [--reactor select|poll|epoll]
    python examples/echoserv.py --listen unix:/tmp/echo.sock
    python examples/echoserv.py --listen ssl:8443:privateKey=key.pem:certKey=cert.pem

With ``--port`` it listens on 127.0.0.1; ``--listen`` takes any server
endpoint description (``tcp:``, ``tcp6:``, ``ssl:``, ``unix:``; see
``torsion.endpoints.serverFromString``) and wins over ``--port``.  It prints
``ready PORT`` (TCP and TLS) or ``ready`` (UNIX) once it accepts connections,
echoes every byte back until the peer closes, and stops cleanly on SIGTERM or
SIGINT (a UNIX socket file is removed).  It exits with status 2 for a bad
description and 1 when it cannot listen.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torsion.reactor
from torsion.address import IPv4Address, IPv6Address
from torsion.endpoints import TCP4ServerEndpoint, serverFromString
from torsion.failure import Failure
from torsion.protocol import Factory, Protocol


class Echo(Protocol):
    """Writes back whatever it receives."""

    def connectionMade(self) -> None:
        if isinstance(self.transport.getHost(), IPv4Address | IPv6Address):
            self.transport.setTcpNoDelay(True)

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


def _ready_line(port: Any) -> str:
    address = port.getHost()
    number = getattr(address, "port", None)
    return "ready" if number is None else f"ready {number}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Echo server on torsion.")
    parser.add_argument("--port", type=int, default=8000, help="TCP port on 127.0.0.1 (0: any)")
    parser.add_argument(
        "--listen", metavar="ENDPOINT",
        help="a server endpoint description, e.g. unix:/tmp/echo.sock (overrides --port)",
    )
    parser.add_argument(
        "--reactor", choices=sorted(torsion.reactor.BACKENDS), help="reactor backend"
    )
    args = parser.parse_args(argv)
    reactor = torsion.reactor.install(args.reactor)
    if args.listen is None:
        endpoint: Any = TCP4ServerEndpoint(reactor, args.port, interface="127.0.0.1")
    else:
        try:
            endpoint = serverFromString(reactor, args.listen)
        except ValueError as exc:
            parser.error(str(exc))
    outcome: list[object] = []
    endpoint.listen(Factory.forProtocol(Echo)).addBoth(outcome.append)
    if isinstance(outcome[0], Failure):
        print(f"echoserv: {outcome[0].getErrorMessage()}", file=sys.stderr)
        return 1
    reactor.callWhenRunning(print, _ready_line(outcome[0]), flush=True)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
