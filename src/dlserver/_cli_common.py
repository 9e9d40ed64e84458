"""Helpers shared by the ``dlserver`` subcommands: the ``--data`` option, error output.

A subcommand module (``_cli_<name>.py``) has two functions, which :mod:`dlserver.cli`
calls: ``add_parser(subparsers) -> ArgumentParser`` adds its parser (with ``help`` and
``description``) and ``run(args) -> int`` does the work and returns the exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TypeAlias

__all__ = ["DATA_ENV", "Subparsers", "add_data_argument", "fail"]

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"

#: The environment variable that sets the default data directory.
DATA_ENV = "DLSERVER_DATA"


def add_data_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--data DIR``: the data directory (catalog, keys, media root)."""
    parser.add_argument(
        "--data",
        default=os.environ.get(DATA_ENV, "data"),
        metavar="DIR",
        help=f"the data directory: catalog, signing keys, media/ (default: ${DATA_ENV},"
        " else ./data)",
    )


def fail(message: str) -> int:
    """Print ``dlserver: error: message`` on stderr; returns exit status 1."""
    print(f"dlserver: error: {message}", file=sys.stderr)
    return 1
