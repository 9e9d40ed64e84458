"""torsion: an event-driven networking framework.

Importing ``torsion`` starts nothing: no reactor is created and no thread is
spawned.  The public API lives in submodules that mirror Twisted's layout
(``torsion.defer``, ``torsion.failure``, ``torsion.task``, ...).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
