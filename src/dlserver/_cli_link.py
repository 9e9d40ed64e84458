"""``dlserver link TARGET``: print one signed download URL.

TARGET is ``track:ID``, ``album:ID`` (the album's zip), a raw URL path starting with
``/dl/`` (signed as it is), or the path of a media file: relative to the media root, or
a filesystem path (absolute, or relative to the current directory) inside it.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

from dlserver._cli_common import Subparsers, add_data_argument, fail
from dlserver._links_keys import KeysFileError
from dlserver.catalog import Catalog, CatalogError
from dlserver.links import album_path, signer_for, track_path

__all__ = ["add_parser", "link_path", "run"]

_ID_TARGET = re.compile(r"(track|album):([0-9]+)")
DEFAULT_EXPIRES = 24 * 3600
DEFAULT_BASE_URL = "http://127.0.0.1:8080"


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``link`` subcommand."""
    parser = subparsers.add_parser(
        "link",
        help="print a signed download URL",
        description="Print a signed URL for a track, an album (its zip) or a media file. "
        "TARGET is track:ID, album:ID, a media path (relative to the media root, or a "
        "file inside it), or a raw /dl/... URL path.",
    )
    parser.add_argument("target", metavar="TARGET", help="track:ID, album:ID, PATH or /dl/...")
    parser.add_argument(
        "--expires", type=int, default=DEFAULT_EXPIRES, metavar="SECONDS",
        help=f"validity from now, in seconds (default: {DEFAULT_EXPIRES})",
    )
    parser.add_argument("--client-ip", metavar="IP", help="bind the link to this client address")
    add_data_argument(parser)
    parser.add_argument(
        "--base-url", default=DEFAULT_BASE_URL, metavar="URL",
        help=f"scheme and host the path is appended to (default: {DEFAULT_BASE_URL})",
    )
    return parser


def _media_relpath(catalog: Catalog, target: str) -> str:
    """``target`` as a path relative to the media root (a filesystem path or already one)."""
    candidate = Path(target)
    if not candidate.is_absolute() and not candidate.exists():
        return candidate.as_posix()
    # Resolve the directories but not the file itself: a symlinked file is catalogued
    # under its own name.
    absolute = candidate.absolute()
    real = absolute.parent.resolve() / absolute.name
    for root in (catalog.media_root.absolute(), catalog.media_root.resolve()):
        for path in (absolute, real):
            if path.is_relative_to(root):
                return path.relative_to(root).as_posix()
    raise LookupError(f"{target} is outside the media root {catalog.media_root}")


def link_path(catalog: Catalog, target: str) -> str:
    """The URL path (not yet signed) that downloads ``target``.

    Raises:
        LookupError: no such track, album or catalogued file.
    """
    match = _ID_TARGET.fullmatch(target)
    if match is not None:
        kind, number = match.group(1), int(match.group(2))
        if kind == "track":
            track = catalog.track(number)
            if track is None:
                raise LookupError(f"no track {number} in the catalog")
            return track_path(track)
        album = catalog.album(number)
        if album is None:
            raise LookupError(f"no album {number} in the catalog")
        return album_path(album)
    if target.startswith("/dl/"):
        return target
    relpath = _media_relpath(catalog, target)
    found = catalog.find_by_path(relpath)
    if found is None:
        raise LookupError(f"{relpath} is not in the catalog (run: dlserver import)")
    return track_path(found)


def run(args: argparse.Namespace) -> int:
    """Print the signed URL for ``args.target``."""
    if args.expires <= 0:
        return fail(f"--expires must be > 0 seconds, not {args.expires}")
    data = Path(args.data)
    try:
        if not data.is_dir():
            return fail(f"no data directory {os.fspath(data)} (run: dlserver import)")
        with Catalog.open_data_dir(data) as catalog:
            path = link_path(catalog, args.target)
        signer = signer_for(data)
        signed = signer.sign(path, int(time.time()) + args.expires, args.client_ip)
    except (LookupError, ValueError, CatalogError, KeysFileError, OSError) as exc:
        return fail(str(exc))
    print(args.base_url.rstrip("/") + signed)
    return 0
