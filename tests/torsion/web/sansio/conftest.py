"""Every test of the core runs twice: with the C accelerator and with its Python twins.

The two implementations must give the same events, bytes and errors; running the whole
suite on each is the first half of that promise (``test_http_speedups.py`` compares
them directly on generated input). Without a built accelerator the C run is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from torsion.web.sansio import _readers, _writers
from torsion.web.sansio._accel import speedups


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # test_http_speedups.py compares the two itself: once is enough there.
    if metafunc.module.__name__ != "test_http_speedups":
        metafunc.parametrize("implementation", ["c", "python"], indirect=True)


@pytest.fixture(autouse=True)
def implementation(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """Which fast lane the core uses in this test: ``"c"`` or ``"python"``."""
    param: str = getattr(request, "param", "default")
    if param == "default":
        yield param
        return
    if param == "c":
        if speedups is None:
            pytest.skip("the C accelerator is not built (or TORSION_NO_SPEEDUPS is set)")
        monkeypatch.setattr(_readers, "_parse_simple_head", speedups.parse_simple_head)
        monkeypatch.setattr(_writers, "_join_head", speedups.join_head)
    else:
        monkeypatch.setattr(_readers, "_parse_simple_head", _readers._parse_simple_head_py)
        monkeypatch.setattr(_writers, "_join_head", _writers._join_head_py)
    yield param
