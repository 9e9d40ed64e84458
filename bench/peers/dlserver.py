"""The download server for the benchmarks: ``python -m bench.peers.dlserver DATA [--slots N]``.

Serves the data directory ``DATA`` (made by ``bench.sections.dlserver``) with N download
slots (default 1000: no queue), no bandwidth limit, on 127.0.0.1 port 0; prints
``ready PORT``; runs until SIGTERM.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def main(data: str, *options: str) -> None:
    import torsion.reactor  # noqa: PLC0415
    from dlserver.config import ServerConfig  # noqa: PLC0415
    from dlserver.server import DownloadServer  # noqa: PLC0415
    from torsion.defer import ensureDeferred  # noqa: PLC0415

    reactor: Any = torsion.reactor.install("epoll")
    slots = int(options[1]) if options[:1] == ("--slots",) else 1000
    config = ServerConfig(Path(data), listen=("tcp:0:interface=127.0.0.1",),
                          max_downloads=slots, max_per_client=100_000)
    server = DownloadServer(config, reactor)

    async def start() -> None:
        ports = await server.listen()
        print(f"ready {ports[0].getHost().port}", flush=True)

    reactor.callWhenRunning(lambda: ensureDeferred(start()))
    reactor.run()


if __name__ == "__main__":
    main(*sys.argv[1:])
