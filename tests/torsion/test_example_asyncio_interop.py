"""``examples/asyncio_interop.py`` runs end to end, on asyncio and on uvloop."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "asyncio_interop.py"


@pytest.mark.parametrize("flags", [[], ["--uvloop"]], ids=["asyncio", "uvloop"])
def test_interop_example_prints_every_step(flags: list[str]) -> None:
    """The example embeds torsion in an asyncio program and crosses the boundary
    both ways (awaits and cancellations); each numbered step prints its result."""
    if flags:
        pytest.importorskip("uvloop")
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), *flags], capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "1. hello from asyncio streams"
    assert lines[1] == "2. a Deferred awaited from asyncio gave 42"
    assert lines[2] == "3. an asyncio sleep awaited from torsion code"
    assert lines[3] == "4a. asyncio task cancelled: Deferred's canceller ran"
    assert lines[4] == "4b. torsion Deferred cancelled: the asyncio sleep ended with CancelledError"
