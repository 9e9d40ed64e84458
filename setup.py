"""Only the optional C accelerator lives here; everything else is in pyproject.toml.

The extension is ``optional``: without a C compiler (or with ``TORSION_NO_SPEEDUPS=1``
set at build time) torsion installs as pure Python and runs the same code paths in
their Python form.
"""

import os

from setuptools import Extension, setup

extensions = []
if os.environ.get("TORSION_NO_SPEEDUPS", "") in ("", "0"):
    extensions.append(
        Extension(
            "torsion.web.sansio._speedups",
            ["src/torsion/web/sansio/_speedups.c"],
            optional=True,
        )
    )

setup(ext_modules=extensions)
