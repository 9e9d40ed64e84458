"""Benchmark sections: each public module here is one section, found by ``bench.registry``.

A section module defines ``CASES``, a list of ``bench.model.Case``, and imports no peer
library at module level (measures import their library when they run).
"""
