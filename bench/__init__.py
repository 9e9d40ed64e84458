"""torsion's benchmark harness: see bench/README.md.

Run it through ``bench/run``, which prepares ``bench/.venv`` and then calls
``python -m bench``.  Importing this package imports nothing else, so the
child processes that take the measurements start clean.
"""
