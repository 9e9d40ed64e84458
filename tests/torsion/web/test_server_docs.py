"""The server side's public surface: docstring examples run, names are documented."""

from __future__ import annotations

import doctest
import importlib

import pytest

import torsion.web as web

MODULES = [
    "torsion.web._http_headers", "torsion.web._conditional", "torsion.web._listing",
    "torsion.web._request", "torsion.web._request_helpers", "torsion.web._channel",
    "torsion.web._sendfile", "torsion.web.resource", "torsion.web.server",
    "torsion.web.static", "torsion._cli_web",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name: str) -> None:
    """Every example in the docstrings runs and gives what it shows."""
    module = importlib.import_module(name)
    assert module.__doc__
    assert doctest.testmod(module, optionflags=doctest.ELLIPSIS).failed == 0


@pytest.mark.parametrize("name", ["torsion.web.server", "torsion.web.resource",
                                  "torsion.web.static", "torsion.web"])
def test_public_names_documented(name: str) -> None:
    """Each name in __all__ exists and (classes and functions) has a docstring."""
    module = importlib.import_module(name)
    for attr in module.__all__:
        obj = getattr(module, attr)
        if callable(obj):
            assert obj.__doc__, f"{name}.{attr}"


def test_importing_the_core_does_not_import_the_server() -> None:
    """torsion.web loads the server lazily: its names resolve on first use."""
    assert web.Site.__module__ == "torsion.web.server"
    assert web.File.__module__ == "torsion.web.static"
    with pytest.raises(AttributeError):
        _ = web.Nothing  # type: ignore[attr-defined]
