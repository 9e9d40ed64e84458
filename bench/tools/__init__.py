"""Load tools for bench sections, built from source at run time."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bench.model import BENCH_DIR, BenchError

__all__ = ["build_c_tool"]

_BUILD_DIR = BENCH_DIR / ".venv" / "tools"


def build_c_tool(name: str) -> Path:
    """Compile ``bench/tools/NAME.c`` with gcc -O2 (once, when the source is newer)."""
    source = BENCH_DIR / "tools" / f"{name}.c"
    binary = _BUILD_DIR / name
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise BenchError("no C compiler (gcc) to build the load tool")
    _BUILD_DIR.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [compiler, "-O2", "-o", str(binary), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"building {name} failed:\n{done.stderr}")
    return binary
