"""A lock held across processes through a symbolic link on the filesystem.

Mirrors ``twisted.python.lockfile``.  The lock is a symlink whose target is
the holder's process id: creating a symlink is atomic on POSIX, and a lock
left behind by a dead process is detected (its pid no longer exists) and
broken.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["FilesystemLock", "isLocked"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class FilesystemLock:
    """A lock named by a filesystem path.

    Attributes:
        name: the path of the lock link.
        locked: whether this object holds the lock.
        clean: whether the last ``lock()`` found no stale lock to break.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.locked = False
        self.clean: bool | None = None

    def lock(self) -> bool:
        """Try to take the lock without blocking; return whether we hold it now.

        A stale lock (its process is gone) is removed and taken over.

        Raises:
            OSError: for filesystem errors other than the lock being held.
        """
        clean = True
        while True:
            try:
                os.symlink(str(os.getpid()), self.name)
            except FileExistsError:
                # Other errors (EINVAL: a regular file is in the way) propagate:
                # that is a problem to report, not a lock to wait for.
                try:
                    pid = int(os.readlink(self.name))
                except FileNotFoundError:
                    continue  # released in the meantime: try again
                if _pid_alive(pid):
                    return False
                with contextlib.suppress(FileNotFoundError):
                    os.remove(self.name)
                clean = False
                continue
            self.locked = True
            self.clean = clean
            return True

    def unlock(self) -> None:
        """Release the lock.

        Raises:
            ValueError: when another process holds it (or the link does not
                name a process id).
            OSError: when the link cannot be read, e.g. ``FileNotFoundError``
                when there is no lock at all (as in Twisted).
        """
        pid = os.readlink(self.name)
        if int(pid) != os.getpid():
            raise ValueError(f"lock {self.name!r} is held by process {pid}, not this one")
        os.remove(self.name)
        self.locked = False


def isLocked(name: str) -> bool:
    """Return whether the lock at ``name`` is held by a live process."""
    lock = FilesystemLock(name)
    if lock.lock():
        lock.unlock()
        return False
    return True
