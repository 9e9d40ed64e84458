"""The ``dlserver`` command line: ``dlserver SUBCOMMAND ...``, each with ``--help``.

Subcommands live in their own modules and register here, in :data:`SUBCOMMANDS`: a
module with ``add_parser(subparsers)`` and ``run(args)`` (see ``_cli_common``). Adding
one is importing its module and appending it to the tuple; nothing else changes.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Protocol

from dlserver import _cli_demo, _cli_import, _cli_keys, _cli_link, _cli_serve, logserver
from dlserver._cli_common import Subparsers

__all__ = ["SUBCOMMANDS", "Subcommand", "build_parser", "main"]


class Subcommand(Protocol):
    """What a subcommand module provides (modules satisfy this protocol)."""

    def add_parser(self, subparsers: Subparsers) -> argparse.ArgumentParser:
        """Add the subcommand's parser to ``subparsers`` and return it."""
        ...

    def run(self, args: argparse.Namespace) -> int:
        """Run the subcommand with its parsed arguments; returns the exit status."""
        ...


#: Every subcommand, in the order ``dlserver --help`` lists them.
SUBCOMMANDS: tuple[Subcommand, ...] = (
    _cli_import, _cli_link, _cli_keys, _cli_serve, _cli_demo, logserver,
)


def build_parser(subcommands: Sequence[Subcommand] = SUBCOMMANDS) -> argparse.ArgumentParser:
    """The ``dlserver`` argument parser, with one subparser per subcommand module."""
    parser = argparse.ArgumentParser(
        prog="dlserver",
        description="A music platform's download server: catalog, signed links, downloads.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for subcommand in subcommands:
        subparsers_parser = subcommand.add_parser(subparsers)
        subparsers_parser.set_defaults(_subcommand=subcommand)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dlserver`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit status.

    Bad arguments exit with status 2 (argparse's ``SystemExit``), errors return 1.
    """
    args = build_parser().parse_args(argv)
    subcommand: Subcommand = args._subcommand
    return subcommand.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
