"""UNIX socket paths: names, length limits, binding over stale files, clear errors.

Shared by the stream (:mod:`torsion._transports.unix`) and datagram
(:mod:`torsion._transports._unix_datagram`) sockets.  An address starting with
NUL is in Linux's abstract namespace: no file, no mode, nothing to remove.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import stat
from typing import TypeAlias

from torsion import error

__all__ = [
    "MAX_PATH",
    "Explained",
    "UNIXPath",
    "address_name",
    "bind_path",
    "check_length",
    "coerce_path",
    "connect_error",
    "explain",
    "file_id",
    "is_abstract",
    "replace_stale",
    "unlink_if_ours",
]

_log = logging.getLogger("torsion.unix")

#: What the UNIX methods accept as an address.
UNIXPath: TypeAlias = "str | bytes | os.PathLike[str] | os.PathLike[bytes]"

MAX_PATH = 108  # sizeof(sun_path)


def coerce_path(address: UNIXPath) -> str:
    """``address`` (str, bytes or path-like) as str."""
    return os.fsdecode(address)


def is_abstract(address: str) -> bool:
    """Whether ``address`` is in the abstract namespace (starts with NUL)."""
    return address.startswith("\0")


def address_name(sockname: object) -> str | None:
    """A socket name as ``UNIXAddress`` holds it: str, or None when unnamed."""
    if not sockname:
        return None
    if isinstance(sockname, bytes):
        return os.fsdecode(sockname)
    return str(sockname)


def check_length(address: str) -> None:
    """Raise ``OSError(ENAMETOOLONG)`` naming the length if ``address`` cannot fit."""
    size = len(os.fsencode(address))
    if size > MAX_PATH:
        raise OSError(
            errno.ENAMETOOLONG,
            f"UNIX socket path too long: {size} bytes, at most {MAX_PATH}: {address!r}",
        )


def explain(exc: OSError, action: str, address: str) -> OSError:
    """``exc`` reworded to name its cause and the path; the errno is kept."""
    code = exc.errno
    shown = repr(address)
    parent = os.path.dirname(address) or "."
    if code == errno.ENOENT and not is_abstract(address) and not os.path.isdir(parent):
        text = f"no such directory {parent!r} ({action} {shown})"
    elif code == errno.ENOENT:
        text = f"no such socket file {shown}"
    elif code in (errno.EACCES, errno.EPERM):
        text = f"permission denied {action} {shown}"
    elif code == errno.EADDRINUSE:
        text = f"address already in use: {shown}"
    elif code == errno.ECONNREFUSED:
        text = f"nothing is listening on {shown}"
    elif code == errno.ENOTDIR:
        text = f"a component of {shown} is not a directory"
    elif code == errno.EROFS:
        text = f"read-only file system {action} {shown}"
    elif code is None:
        return OSError(f"{exc} ({action} {shown})")
    else:
        text = f"{exc.strerror or exc} ({action} {shown})"
    return OSError(code, text)


def connect_error(code: int, address: str) -> error.ConnectError:
    """The ``ConnectError`` subclass for errno ``code``, its text naming ``address``."""
    explained = explain(OSError(code, os.strerror(code)), "connecting to", address)
    return error.getConnectError((code, explained.strerror or str(explained)))


class Explained(OSError):
    """An OSError whose text already names the cause and the path."""


def file_id(address: str) -> tuple[int, int] | None:
    """The (device, inode) of the file at ``address``; None if there is none."""
    try:
        st = os.stat(address)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def replace_stale(address: str, kind: int) -> None:
    """Remove the socket file at ``address`` if nobody listens on it.

    Raises:
        OSError: EADDRINUSE when the path is in use by a live socket or is not
            a socket at all.
    """
    try:
        st = os.lstat(address)
    except FileNotFoundError:
        return  # gone meanwhile: bind again
    if not stat.S_ISSOCK(st.st_mode):
        raise Explained(errno.EADDRINUSE, f"{address!r} exists and is not a socket")
    probe = socket.socket(socket.AF_UNIX, kind)
    try:
        probe.setblocking(False)
        code = probe.connect_ex(address)
    finally:
        probe.close()
    if code != errno.ECONNREFUSED:
        # 0: accepted; EAGAIN: a full backlog; EPROTOTYPE: a socket of the other type.
        raise Explained(errno.EADDRINUSE, f"another socket is bound to {address!r}")
    _log.info("removing stale socket file %r", address)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(address)


def bind_path(skt: socket.socket, address: str, mode: int) -> tuple[int, int] | None:
    """Bind ``skt`` to ``address`` (replacing a stale file) and apply ``mode``.

    Returns:
        The file's (device, inode), None in the abstract namespace.

    Raises:
        OSError: reworded by :func:`explain`.
    """
    check_length(address)
    try:
        try:
            skt.bind(address)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or is_abstract(address):
                raise
            replace_stale(address, skt.type)
            skt.bind(address)
        if is_abstract(address):
            return None
        os.chmod(address, mode)
    except Explained:
        raise
    except OSError as exc:
        raise explain(exc, "binding", address) from exc
    return file_id(address)


def unlink_if_ours(address: str, ident: tuple[int, int] | None) -> None:
    """Remove the socket file at ``address`` if it is still the one identified by ``ident``."""
    if ident is None or file_id(address) != ident:
        return  # abstract, or replaced by someone else since
    with contextlib.suppress(FileNotFoundError):
        os.unlink(address)
