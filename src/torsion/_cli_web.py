"""``torsion web``: serve a directory over HTTP (and HTTPS) from the command line.

    torsion web --listen tcp:8080 --path DIR
    torsion web --listen tcp:0:interface=127.0.0.1 --listen ssl:8443:privateKey=key.pem

Each ``--listen`` is a server endpoint description (``tcp:``, ``tcp6:``, ``ssl:``,
``unix:``; see :func:`torsion.endpoints.serverFromString`); the default is
``tcp:8080``. Once every endpoint listens it prints one line, ``ready`` followed by the
URLs, then serves until SIGTERM or SIGINT, when it stops accepting, lets responses in
progress finish (30 s at most) and exits 0. Exit status 2 for bad arguments, 1 when an
endpoint cannot listen.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``web`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    from torsion.reactor import BACKENDS  # noqa: PLC0415 - keep `torsion --help` light

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "web",
        help="serve a directory over HTTP",
        description="Serve a directory over HTTP/1.1 (ranges, conditional requests, "
        "sendfile), on one or more endpoints.",
    )
    parser.add_argument(
        "--listen", action="append", metavar="ENDPOINT",
        help="a server endpoint, e.g. tcp:8080:interface=127.0.0.1 or "
        "ssl:8443:privateKey=key.pem (repeatable; default tcp:8080)",
    )
    parser.add_argument("--path", default=".", help="the directory to serve (default: .)")
    parser.add_argument(
        "--no-listing", action="store_true", help="answer 403 for directories without index.html"
    )
    parser.add_argument("--reactor", choices=sorted(BACKENDS), help="reactor backend")
    parser.add_argument(
        "--access-log", metavar="FILE", help="append the access log to FILE ('-': stdout)"
    )
    return parser


def _url(port: Any, description: str) -> str:
    from torsion.endpoints import listeningURL  # noqa: PLC0415 - keep `torsion --help` light

    url = listeningURL(port, description)
    if url is None:
        return f"unix:{getattr(port.getHost(), 'name', description)}"
    return f"{url}/"


def run(args: argparse.Namespace) -> int:
    """Serve ``args.path`` until stopped; returns the exit status."""
    import logging  # noqa: PLC0415

    import torsion.reactor  # noqa: PLC0415
    from torsion.endpoints import serverFromString  # noqa: PLC0415
    from torsion.failure import Failure  # noqa: PLC0415
    from torsion.web.server import Site  # noqa: PLC0415
    from torsion.web.static import File  # noqa: PLC0415

    if not os.path.isdir(args.path):
        print(f"torsion web: {args.path!r} is not a directory", file=sys.stderr)
        return 2
    if torsion.reactor.installed():
        reactor: Any = torsion.reactor.reactor
    else:
        reactor = torsion.reactor.install(args.reactor)
    logger = None
    log_path = None
    if args.access_log == "-":
        logger = logging.getLogger("torsion.web.access")
        handler = logging.StreamHandler(sys.stdout)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    elif args.access_log:
        log_path = args.access_log
    site = Site(
        File(args.path, directoryListing=not args.no_listing),
        reactor=reactor, logPath=log_path, logger=logger,
    )
    urls = []
    for description in args.listen or ["tcp:8080"]:
        try:
            endpoint = serverFromString(reactor, description)
        except ValueError as exc:
            print(f"torsion web: {exc}", file=sys.stderr)
            return 2
        outcome: list[object] = []
        endpoint.listen(site).addBoth(outcome.append)
        result = outcome[0] if outcome else Failure(RuntimeError("no answer"))
        if isinstance(result, Failure):
            why = result.getErrorMessage()
            print(f"torsion web: cannot listen on {description}: {why}", file=sys.stderr)
            return 1
        urls.append(_url(result, description))
    reactor.callWhenRunning(print, "ready", *urls, flush=True)
    reactor.run()
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m torsion._cli_web [options]``: the subcommand alone (until cli.py has it)."""
    parser = argparse.ArgumentParser(prog="torsion")
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser(commands)
    return run(parser.parse_args(["web", *(sys.argv[1:] if argv is None else argv)]))


if __name__ == "__main__":
    sys.exit(main())
