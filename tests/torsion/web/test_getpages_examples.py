"""The getpages examples run to completion: each page printed, a summary, exit status 0.

``examples/getpages.py`` (Deferreds, one thread) and ``examples/getpages_threads.py``
(a thread per page with ``urllib.request``) each start their own local torsion web
server; here they fetch a few pages, as a subprocess with a time limit.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


@pytest.mark.parametrize(("script", "how"), [
    ("getpages.py", "with Deferreds in one thread"),
    ("getpages_threads.py", "with 7 threads"),
])
def test_example_fetches_pages(script: str, how: str) -> None:
    """Seven pages: seven 'page N: S bytes' lines (every N once) and the summary."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--count", "7"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    pages = re.findall(r"^page +(\d+): (\d+) bytes$", result.stdout, re.MULTILINE)
    assert sorted(int(n) for n, _ in pages) == list(range(7))
    assert all(int(size) > 100 for _, size in pages)
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(rf"fetched 7 pages \(\d+ bytes\) {how} in [\d.]+ s \(\d+ pages/s\)",
                        summary), summary


def test_example_rejects_a_bad_count() -> None:
    """--count 0 is refused with a usage message (status 2)."""
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "getpages.py"), "--count", "0"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 2 and "--count must be >= 1" in result.stderr
