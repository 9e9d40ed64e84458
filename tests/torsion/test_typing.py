"""Run the static typing checks of tests/typing under ``mypy --strict``."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_typing_checks_pass_mypy_strict(tmp_path: Path) -> None:
    """``mypy --strict tests/typing`` reports no errors: every ``assert_type`` on
    Deferred[T] chains holds (its own cache directory keeps parallel runs apart)."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            "tests/typing",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout
