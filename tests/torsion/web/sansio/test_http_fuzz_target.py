"""The atheris fuzz target: it runs without atheris (skips cleanly) and, when atheris is
installed, a short bounded fuzzing run finds nothing."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
TARGET = ROOT / "fuzz" / "http_parser.py"


def run_target(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    paths = [str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    return subprocess.run([sys.executable, str(TARGET), *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


def test_target_skips_cleanly_without_atheris() -> None:
    """Without atheris the script says so and exits 0."""
    if importlib.util.find_spec("atheris") is not None:
        pytest.skip("atheris is installed: the bounded run below covers the script")
    result = run_target()
    assert result.returncode == 0 and "atheris is not installed" in result.stdout


def test_bounded_atheris_run() -> None:
    """A few thousand coverage-guided inputs break no invariant."""
    pytest.importorskip("atheris")
    result = run_target("-runs=3000", "-max_len=512", "-seed=1")
    assert result.returncode == 0, result.stderr[-2000:]
