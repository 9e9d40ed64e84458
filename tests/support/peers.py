"""Real peer programs (curl, openssl, socat, ...) in tests.

* :func:`need`: a program's path; skip the test without it, fail in CI (where
  ``.ci/run`` installs every peer).  :func:`support.deferreds.run_in_thread`
  runs a blocking peer off the reactor thread.
* :func:`stop`: end a child process politely, then firmly.
* :func:`self_signed_certificate`: a certificate for localhost made by openssl.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest


def need(program: str, package: str | None = None) -> str:
    """The path of ``program``; skip the test without it (fail in CI, where it must be).

    ``package`` is the Debian package to name in the message (default: ``program``).
    """
    path = shutil.which(program)
    if path is None:
        message = f"{program} is not installed (Debian package: {package or program})"
        if os.environ.get("CI"):
            pytest.fail(f"{message}; CI must install it")
        pytest.skip(message)
    return path


def stop(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Terminate ``process`` and reap it; kill it if it outlives ``timeout`` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed EC P-256 certificate for localhost and 127.0.0.1, made by openssl.

    Returns ``(cert, key)``: ``cert.pem`` and ``key.pem`` in ``directory``.  The
    certificate is its own CA (openssl's default ``-x509`` extensions), so a client
    verifies the server by trusting ``cert`` (curl ``--cacert``, ``cafile=``).
    """
    cert, key = directory / "cert.pem", directory / "key.pem"
    done = subprocess.run(
        [need("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=localhost", "-addext",
         "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    return cert, key
