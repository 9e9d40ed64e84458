"""``dlserver serve``: run the download server until SIGTERM or SIGINT.

    dlserver serve --listen tcp:8080:interface=127.0.0.1 --listen ssl:8443:privateKey=k.pem \\
        --data DIR [--max-downloads N] [--max-per-client N] [--rate BYTES/s] \\
        [--log-udp HOST:PORT]

Once every endpoint listens it prints ``ready`` and the base URLs on one line; on
SIGTERM or SIGINT it stops accepting, lets downloads in progress finish (30 s at most)
and exits 0. Exit status 2 for bad arguments, 1 when it cannot start.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dlserver._cli_common import Subparsers, add_data_argument, fail
from dlserver.config import ServerConfig, parse_host_port

__all__ = ["add_parser", "add_server_arguments", "base_url", "config_from_args", "run",
           "serve"]

DEFAULT_LISTEN = "tcp:8080:interface=127.0.0.1"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def _host_port(text: str) -> tuple[str, int]:
    try:
        return parse_host_port(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_server_arguments(parser: argparse.ArgumentParser, *, full: bool = True) -> None:
    """The options ``serve`` and ``demo`` share (``full``: the limits too)."""
    parser.add_argument(
        "--listen", action="append", metavar="ENDPOINT",
        help="a server endpoint: tcp:PORT:interface=IP, ssl:PORT:privateKey=KEY.pem, "
        f"unix:PATH (repeatable; default {DEFAULT_LISTEN})",
    )
    add_data_argument(parser)
    parser.add_argument("--base-url", metavar="URL",
                        help="scheme and host of printed links (default: the first endpoint)")
    if not full:
        return
    parser.add_argument("--max-downloads", type=_positive, default=100, metavar="N",
                        help="downloads running at once; more wait in a queue (default: 100)")
    parser.add_argument("--max-per-client", type=_positive, default=2, metavar="N",
                        help="downloads running at once per client address (default: 2)")
    parser.add_argument("--rate", type=_positive, metavar="BYTES/s",
                        help="bandwidth per download (default: unlimited)")
    parser.add_argument("--global-rate", type=_positive, metavar="BYTES/s",
                        help="bandwidth of all downloads together (default: unlimited)")
    parser.add_argument("--log-udp", type=_host_port, metavar="HOST:PORT",
                        help="send download events to this collector (HOST an IP address)")
    parser.add_argument("--access-log", metavar="FILE", help="append the access log to FILE")
    parser.add_argument("--send-timeout", type=float, default=60.0, metavar="SECONDS",
                        help="abort a download that makes no progress for this long, "
                        "freeing its slot (default: 60)")
    parser.add_argument("--redis", metavar="URL",
                        help="share the download queue and per-client caps through Redis "
                        "(redis://HOST:PORT/DB or unix:///PATH); default: in this process")
    parser.add_argument("--workers", type=_positive, default=1, metavar="N",
                        help="N processes sharing the tcp: ports (SO_REUSEPORT); use "
                        "--redis to share the queue between them (default: 1)")


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand."""
    parser = subparsers.add_parser(
        "serve",
        help="run the download server",
        description="Serve signed track and album-zip downloads over HTTP (and HTTPS with "
        "ssl: endpoints), with ranges and resume, a fair download queue, bandwidth limits "
        "and download events. Runs until SIGTERM or SIGINT.",
    )
    add_server_arguments(parser)
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    """The server config the parsed options describe.

    Raises:
        ValueError: an inconsistent option (the message says which).
    """
    return ServerConfig(
        Path(args.data),
        listen=tuple(args.listen or [DEFAULT_LISTEN]),
        max_downloads=getattr(args, "max_downloads", 100),
        max_per_client=getattr(args, "max_per_client", 2),
        rate=getattr(args, "rate", None),
        global_rate=getattr(args, "global_rate", None),
        log_udp=getattr(args, "log_udp", None),
        base_url=args.base_url,
        access_log=getattr(args, "access_log", None),
        redis_url=getattr(args, "redis", None),
        send_timeout=getattr(args, "send_timeout", 60.0),
    )


def base_url(port: Any, description: str) -> str:
    """The URL prefix (no trailing ``/``) clients use to reach ``port``."""
    from torsion.endpoints import listeningURL  # noqa: PLC0415 - keep `dlserver --help` light

    # None: a UNIX socket, behind a proxy that knows its name.
    return listeningURL(port, description) or "http://localhost"


def serve(config: ServerConfig, on_ready: Callable[[Any, str], None]) -> int:
    """Run a server for ``config`` on the default reactor until it stops.

    ``on_ready(server, base_url)`` runs once every endpoint listens. Returns the exit
    status: 0 after a clean stop (SIGTERM, SIGINT), 1 if it could not start.
    """
    import torsion.reactor  # noqa: PLC0415 - keep `dlserver --help` light
    from dlserver.server import DownloadServer  # noqa: PLC0415
    from torsion.defer import ensureDeferred  # noqa: PLC0415

    reactor: Any = torsion.reactor.reactor
    try:
        server = DownloadServer(config, reactor)
    except Exception as exc:  # catalog, keys, event socket: all say what is wrong
        return fail(f"cannot start: {exc}")
    status: list[int] = []

    async def start() -> None:
        try:
            ports = await server.listen()
        except Exception as exc:
            status.append(fail(f"cannot listen: {exc}"))
            reactor.stop()
            return
        url = config.base_url or base_url(ports[0], config.listen[0])
        # Say "ready" from the running loop, not from callWhenRunning: the reactor
        # installs its SIGINT/SIGTERM handlers after those calls, and a client told
        # "ready" may signal at once.
        reactor.callLater(0, on_ready, server, url)
        reactor.callLater(0, sys.stdout.flush)

    reactor.callWhenRunning(lambda: ensureDeferred(start()))
    # Stopping: no new connections, downloads in progress end (the site's own trigger,
    # 30 s at most), then the catalog, the event socket and Redis slots are released.
    reactor.addSystemEventTrigger("before", "shutdown", lambda: ensureDeferred(server.stop()))
    reactor.run()
    return status[0] if status else 0


def run(args: argparse.Namespace) -> int:
    """Serve until stopped."""
    try:
        config = config_from_args(args)
    except ValueError as exc:
        return fail(str(exc))
    if args.workers > 1:
        from dlserver._cli_workers import supervise  # noqa: PLC0415

        return supervise(args, config)

    def ready(server: Any, url: str) -> None:
        print("ready", url, flush=True)

    return serve(config, ready)
