"""The sansio package stays sans-IO, its public surface is deliberate, its examples run."""

from __future__ import annotations

import ast
import doctest
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import torsion.web.sansio as sansio

PACKAGE = Path(sansio.__file__).parent
ROOT = Path(__file__).resolve().parents[4]
MODULES = sorted(p.stem for p in PACKAGE.glob("*.py"))

# Standard-library modules that mean I/O, time or concurrency: not in a protocol core.
FORBIDDEN = {"socket", "selectors", "select", "asyncio", "ssl", "threading", "time",
             "datetime", "signal", "subprocess", "multiprocessing", "concurrent", "os",
             "io", "random", "logging"}
# The accelerator switch reads one environment variable (TORSION_NO_SPEEDUPS), nothing else.
ALLOWED = {"_accel": {"os"}}


def imports_of(path: Path) -> list[tuple[str, int]]:
    """(module, relative level) for each import in the file."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level))
    return found


@pytest.mark.parametrize("name", MODULES)
def test_imports_only_stdlib_and_sansio(name: str) -> None:
    """Each module imports the standard library (minus I/O and clocks) or its siblings."""
    for module, level in imports_of(PACKAGE / f"{name}.py"):
        if level:
            assert level == 1, f"{name}: relative import beyond sansio: {module}"
            continue
        top = module.split(".")[0]
        if top == "torsion":
            assert module.startswith("torsion.web.sansio"), f"{name} imports {module}"
            continue
        assert top in sys.stdlib_module_names or top == "__future__", f"{name} imports {module}"
        if top in ALLOWED.get(name, ()):
            continue
        assert top not in FORBIDDEN, f"{name} imports {module}: no I/O, clock or threads here"


def test_importing_the_core_loads_no_io_module() -> None:
    """In a fresh interpreter, importing the core pulls in no socket, asyncio or reactor."""
    code = ("import sys; import torsion.web.sansio; "
            "print(sorted(m for m in ('socket', 'asyncio', 'selectors', 'ssl', 'threading', "
            "'torsion.reactor', 'torsion.defer') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, check=True, timeout=30)
    assert out.stdout.strip() == "[]"


def test_public_surface() -> None:
    """__all__ is the documented API and each name in it exists and has a docstring."""
    assert set(sansio.__all__) == {
        "NEED_DATA", "PAUSED", "Connection", "ConnectionClosed", "Data", "EndOfMessage", "Event",
        "Headers", "InformationalResponse", "LocalProtocolError", "ProtocolError",
        "RemoteProtocolError", "Request", "Response", "Role", "Sentinel", "State",
    }
    for name in sansio.__all__:
        obj = getattr(sansio, name)
        if name not in ("NEED_DATA", "PAUSED", "Event"):
            assert obj.__doc__, name
    assert not [n for n in dir(sansio) if not n.startswith("_") and n not in sansio.__all__
                and not isinstance(getattr(sansio, n), type(sansio))]


def test_module_sizes() -> None:
    """One job per module: none over 600 lines."""
    for path in PACKAGE.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 600, path.name


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    """The examples in the docstrings run."""
    module = importlib.import_module(f"torsion.web.sansio.{name}" if name != "__init__"
                                     else "torsion.web.sansio")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_web_package_imports_nothing_heavy() -> None:
    """Importing torsion.web loads no adapter or reactor: its public names are lazy."""
    code = (
        "import sys, torsion.web; "
        "loaded = [m for m in ('torsion.web.server', 'torsion.web.client', 'torsion.reactor') "
        "if m in sys.modules]; print(loaded)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
