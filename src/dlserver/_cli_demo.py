"""``dlserver demo``: the demo catalog, a running server, and links to try.

    dlserver demo --listen tcp:8080:interface=127.0.0.1 --data DIR

Builds the demo catalog in DIR when it has no tracks yet (see :mod:`dlserver.demo`),
starts the server, and prints the operator page's URL, one signed track link and one
signed album-zip link (each on its own line, ``label: URL``), then serves until
SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dlserver._cli_common import Subparsers, fail
from dlserver._cli_serve import add_server_arguments, config_from_args, serve
from dlserver.demo import build_demo
from dlserver.links import album_path, track_path

__all__ = ["add_parser", "demo_links", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="build the demo catalog and serve it",
        description="Fill DATA with the demo catalog (generated tones, non-ASCII names) "
        "unless it has tracks already, run the download server on it, and print the "
        "operator page URL and signed links to a track and to an album zip.",
    )
    add_server_arguments(parser)
    return parser


def demo_links(server: Any, url: str) -> list[tuple[str, str]]:
    """``(label, URL)`` pairs to print: the operator page, a track, an album zip."""
    catalog = server.catalog
    links = [("operator", f"{url}/operator/")]
    albums = catalog.albums()
    if albums:
        album = catalog.album(albums[0].id)
        assert album is not None and album.tracks
        links.append(("track", url + server.sign(track_path(album.tracks[0]))))
        links.append(("album", url + server.sign(album_path(album))))
    return links


def run(args: argparse.Namespace) -> int:
    """Build the demo if needed, then serve it until stopped."""
    try:
        config = config_from_args(args)
        report = build_demo(Path(args.data))
    except Exception as exc:  # a data directory we cannot write, bad options
        return fail(str(exc))
    if report is not None:
        print(f"demo catalog: {report.added} tracks in {config.data_dir}", flush=True)

    def ready(server: Any, url: str) -> None:
        for label, link in demo_links(server, url):
            print(f"{label}: {link}", flush=True)
        print("serving until SIGTERM or SIGINT", flush=True)

    return serve(config, ready)
