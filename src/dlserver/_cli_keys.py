"""``dlserver keys rotate|list``: the link-signing keys of a data directory."""

from __future__ import annotations

import argparse
import time

from dlserver._cli_common import Subparsers, add_data_argument, fail
from dlserver._links_keys import KeysFileError, load_keys, rotate_keys

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add the ``keys`` subcommand and its actions."""
    parser = subparsers.add_parser(
        "keys",
        help="manage the link-signing keys",
        description="The keys that sign download links (DATA/keys.json, mode 0600, created "
        "on first use). The newest key signs; every listed key verifies.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    rotate = actions.add_parser(
        "rotate",
        help="add a new signing key, keeping the previous one valid",
        description="Add a new signing key. Links signed with the previous key stay valid; "
        "keys beyond --keep (the oldest) are dropped and their links stop working.",
    )
    add_data_argument(rotate)
    rotate.add_argument(
        "--keep", type=int, default=2, metavar="N",
        help="how many keys to keep, the new one included (default: 2)",
    )
    listing = actions.add_parser(
        "list", help="list the key IDs (never the secrets)",
        description="List the key IDs, signing key first, with their creation times.",
    )
    add_data_argument(listing)
    return parser


def run(args: argparse.Namespace) -> int:
    """Rotate or list the keys of ``args.data``."""
    try:
        if args.action == "rotate":
            if args.keep < 1:
                return fail(f"--keep must be >= 1, not {args.keep}")
            entry = rotate_keys(args.data, keep=args.keep)
            print(f"new signing key {entry.id}")
            return 0
        for index, entry in enumerate(load_keys(args.data)):
            created = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(entry.created))
            role = "signs and verifies" if index == 0 else "verifies"
            print(f"{entry.id}\t{created} UTC\t{role}")
        return 0
    except (KeysFileError, OSError) as exc:
        return fail(str(exc))
