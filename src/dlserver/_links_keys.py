"""The link-signing keys file of a data directory: ``keys.json``, mode 0600.

::

    {"format": 1, "keys": [{"id": "2", "secret": "<base64url>", "created": 1700000000},
                           {"id": "1", "secret": "...", "created": 1690000000}]}

Newest first: the first key signs, all verify. The file is created on first use with a
random 256-bit secret. :func:`rotate_keys` puts a new key in front and keeps the previous
ones up to ``keep`` keys, so links signed before a rotation stay valid until the next
one. Every write goes to a private temporary file that is then renamed into place, so
readers never see half a file; the first creation uses ``link()``, which fails if the
file already exists, so two processes starting at once agree on one key.

A keys file readable by group or others is refused, as ssh refuses such private keys.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import secrets
import stat
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KEYS_FILENAME", "KeyEntry", "KeysFileError", "load_keys", "rotate_keys",
           "signer_keys"]

KEYS_FILENAME = "keys.json"
_FORMAT = 1
_SECRET_BYTES = 32
_MIN_SECRET = 16  # as LinkSigner requires


class KeysFileError(Exception):
    """The keys file is unreadable, malformed or not private."""


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One signing key: its ID (travels in links), secret, and creation time."""

    id: str
    secret: bytes
    created: int

    def __repr__(self) -> str:  # never print a secret into a log
        return f"KeyEntry(id={self.id!r}, created={self.created})"


def _encode(entries: list[KeyEntry]) -> bytes:
    keys = [
        {"id": entry.id, "created": entry.created,
         "secret": base64.urlsafe_b64encode(entry.secret).rstrip(b"=").decode("ascii")}
        for entry in entries
    ]
    return (json.dumps({"format": _FORMAT, "keys": keys}, indent=2) + "\n").encode("utf-8")


def _decode(data: bytes, where: Path) -> list[KeyEntry]:
    try:
        document = json.loads(data)
        if document.get("format") != _FORMAT:
            raise KeysFileError(f"{where}: unknown format {document.get('format')!r}")
        entries = []
        for item in document["keys"]:
            secret = str(item["secret"])
            raw = base64.b64decode(secret + "=" * (-len(secret) % 4), b"-_", validate=True)
            if len(raw) < _MIN_SECRET:
                raise ValueError(f"key {item['id']!r}: secret shorter than {_MIN_SECRET} bytes")
            entries.append(KeyEntry(str(item["id"]), raw, int(item["created"])))
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise KeysFileError(f"{where}: malformed keys file ({exc})") from exc
    if not entries:
        raise KeysFileError(f"{where}: no keys")
    return entries


def _write_private(path: Path, data: bytes, *, replace: bool) -> bool:
    """Write ``data`` to ``path`` (mode 0600) atomically; False if it exists and not replace."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass


def _new_entry(existing: list[KeyEntry]) -> KeyEntry:
    numbers = [int(entry.id) for entry in existing if entry.id.isdigit()]
    return KeyEntry(str(max(numbers, default=0) + 1), secrets.token_bytes(_SECRET_BYTES),
                    int(time.time()))


def _read(path: Path) -> list[KeyEntry]:
    try:
        with open(path, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise KeysFileError(
                    f"{path}: keys file is accessible by others (mode {mode & 0o777:o});"
                    f" run: chmod 600 {path}"
                )
            return _decode(handle.read(), path)
    except OSError as exc:
        raise KeysFileError(f"{path}: {exc.strerror or exc}") from exc


def load_keys(data_dir: str | os.PathLike[str]) -> list[KeyEntry]:
    """The keys of ``data_dir``, newest (signing) first; creates the file on first use.

    Raises:
        KeysFileError: the file is malformed, unreadable or accessible by others.
    """
    directory = Path(data_dir)
    path = directory / KEYS_FILENAME
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        _write_private(path, _encode([_new_entry([])]), replace=False)
    return _read(path)


def rotate_keys(data_dir: str | os.PathLike[str], *, keep: int = 2) -> KeyEntry:
    """Add a new signing key to ``data_dir``'s keys, keeping ``keep`` keys in all.

    With the default ``keep=2`` the previous signing key still verifies, and the one
    before it is dropped (its links stop working). Returns the new key.

    Raises:
        ValueError: ``keep`` < 1.
        KeysFileError: as :func:`load_keys`.
    """
    if keep < 1:
        raise ValueError(f"keep must be >= 1, not {keep}")
    entries = load_keys(data_dir)
    entry = _new_entry(entries)
    _write_private(Path(data_dir) / KEYS_FILENAME, _encode([entry, *entries][:keep]),
                   replace=True)
    return entry


def signer_keys(entries: list[KeyEntry]) -> list[tuple[str, bytes]]:
    """``entries`` as the ``(key_id, secret)`` pairs :class:`LinkSigner` takes."""
    return [(entry.id, entry.secret) for entry in entries]
