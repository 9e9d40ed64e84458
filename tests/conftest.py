"""Fixtures for every test directory: a private X server for Tk tests.

``x_display`` starts one ``Xvfb`` per test process (Debian package ``xvfb``)
the first time a test asks for it, points ``DISPLAY`` at it and stops it when
the session ends.  A test (or fixture) that needs Tk requests it, directly or
with ``request.getfixturevalue("x_display")``.  Outside CI a missing Xvfb
skips those tests; in CI (``CI`` set) it fails them.

This directory has no ``__init__.py``, so pytest (``prepend`` import mode) puts
``tests/`` on ``sys.path`` before importing this file: the shared test-support
package ``tests/support`` is importable as ``support`` everywhere.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest

from support.peers import need, stop


def _die_with_parent() -> None:
    """In the child: get SIGTERM when pytest dies, even killed (Linux prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


def _start_xvfb(xvfb: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start Xvfb on a free display number (it picks one and tells us: ``-displayfd``)."""
    read_fd, write_fd = os.pipe()
    try:
        process = subprocess.Popen(
            [xvfb, "-displayfd", str(write_fd), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
            pass_fds=[write_fd],
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - prctl only; no locks, no threads used
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
    finally:
        os.close(write_fd)
    try:
        number = b""
        deadline = time.monotonic() + 15
        while not number.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([read_fd], [], [], remaining)[0]:
                break
            chunk = os.read(read_fd, 16)
            if not chunk:
                break
            number += chunk
    finally:
        os.close(read_fd)
    if not number.strip().isdigit():
        process.kill()
        _, err = process.communicate(timeout=5)
        raise RuntimeError(f"Xvfb did not start: {err.decode(errors='replace')[-500:]}")
    assert process.stderr is not None
    process.stderr.close()  # unread from here on: a full pipe must not block the server
    return process, f":{number.strip().decode()}"


@pytest.fixture(scope="session")
def x_display() -> Iterator[str]:
    """The DISPLAY of a private Xvfb server, set in ``os.environ`` for the session.

    Tk is opened and closed once here, so the descriptors Tk keeps for the
    life of the process (the X connection, Tcl's notifier pipe) already exist
    when tests start counting descriptors.
    """
    process, display = _start_xvfb(need("Xvfb", "xvfb"))
    previous = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    try:
        try:
            import tkinter  # noqa: PLC0415 - only the Tk tests need it

            root = tkinter.Tk()
            root.withdraw()
            root.update()
            root.destroy()
        except ImportError:
            pass  # the tests that need tkinter say so themselves
        yield display
    finally:
        if previous is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = previous
        stop(process)
