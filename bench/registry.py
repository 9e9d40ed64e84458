"""Find the sections: every module in ``bench/sections/`` with a ``CASES`` list.

Importing a section must not import any peer library: peers are imported inside the
measures, in the child process, so a peer that fails to import is reported as an
error for its cases instead of stopping the run.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Sequence
from dataclasses import dataclass

from bench import sections
from bench.model import Case


@dataclass(frozen=True, slots=True)
class Section:
    """A module of cases; its name is the module's name."""

    name: str
    about: str
    cases: Sequence[Case]

    def case(self, name: str) -> Case:
        """Return the case called ``name``.

        Raises:
            KeyError: there is no such case.
        """
        for case in self.cases:
            if case.name == name:
                return case
        raise KeyError(f"section {self.name!r} has no case {name!r}")


def section_names() -> list[str]:
    """The names of all section modules, sorted."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(sections.__path__)
        if not info.name.startswith("_")
    )


def load_section(name: str) -> Section:
    """Import ``bench.sections.<name>`` and describe it.

    Raises:
        KeyError: there is no such section.
        TypeError: the module has no ``CASES`` list of ``Case``.
    """
    if name not in section_names():
        raise KeyError(f"no section {name!r}; sections are: {', '.join(section_names())}")
    module = importlib.import_module(f"{sections.__name__}.{name}")
    cases = getattr(module, "CASES", None)
    if not isinstance(cases, list | tuple) or not all(isinstance(c, Case) for c in cases):
        raise TypeError(f"bench.sections.{name} must define CASES, a list of Case")
    about = (module.__doc__ or "").strip().splitlines()
    return Section(name=name, about=about[0] if about else "", cases=tuple(cases))
