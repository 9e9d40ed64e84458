"""``dlserver import DIR``: scan a folder under the media root into the catalog.

Progress (files done / total) goes to stderr: one self-overwriting line on a terminal,
else a line every 10%; the summary goes to stdout, refused and skipped files to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from dlserver._cli_common import Subparsers, add_data_argument, fail
from dlserver.catalog import CATALOG_FILENAME, Catalog, CatalogError
from dlserver.importer import ImportFolderError, ImportProgress, import_folder

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``import`` subcommand."""
    parser = subparsers.add_parser(
        "import",
        help="import a folder of audio files into the catalog",
        description="Scan DIR (inside the media root) for mp3, ogg, opus, flac, wav and m4a "
        "files, read their tags, and bring the catalog in line: new files are added, "
        "changed ones re-read, removed ones dropped. Running it again is cheap.",
    )
    parser.add_argument("dir", metavar="DIR", help="the folder to import")
    add_data_argument(parser)
    parser.add_argument(
        "--media-root", metavar="ROOT",
        help="set the media root (stored in the catalog; default: DATA/media); "
        "catalog paths are relative to it and DIR must be inside it",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    return parser


def progress_printer(stream: TextIO) -> Callable[[ImportProgress], None]:
    """A progress callback writing ``done/total files`` lines to ``stream``."""
    tty = stream.isatty()
    last_tenth = -1

    def show(progress: ImportProgress) -> None:
        nonlocal last_tenth
        line = f"{progress.done}/{progress.total} files"
        if tty:
            end = "\n" if progress.done == progress.total else ""
            stream.write(f"\r{line}{end}")
        else:
            tenth = progress.done * 10 // max(progress.total, 1)
            if tenth == last_tenth:
                return
            last_tenth = tenth
            stream.write(line + "\n")
        stream.flush()

    return show


def run(args: argparse.Namespace) -> int:
    """Import ``args.dir`` into the catalog of ``args.data``."""
    data = Path(args.data)
    try:
        data.mkdir(parents=True, exist_ok=True)
        catalog = Catalog.open(data / CATALOG_FILENAME, media_root=args.media_root)
    except (OSError, CatalogError) as exc:
        return fail(str(exc))
    with catalog:
        try:
            report = import_folder(
                catalog, args.dir, progress=None if args.quiet else progress_printer(sys.stderr)
            )
        except ImportFolderError as exc:
            hint = "" if args.media_root else " (see --media-root)"
            return fail(f"{exc}{hint}")
    for line in report.refused:
        print(f"refused: {line}", file=sys.stderr)
    for line in report.skipped:
        print(f"skipped: {line}", file=sys.stderr)
    print(
        f"{report.total} files: {report.added} added, {report.updated} updated,"
        f" {report.unchanged} unchanged, {report.removed} removed;"
        f" {len(report.refused)} refused, {len(report.skipped)} skipped"
    )
    return 0
