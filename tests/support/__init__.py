"""Test-support code shared across the test tree (this package holds no tests).

Importable as ``support`` from every test module and conftest: the root
``tests/conftest.py`` has no ``__init__.py`` beside it, so pytest's default
``prepend`` import mode puts ``tests/`` on ``sys.path`` before any test is
collected (the same mechanism that lets a test import the ``*_support`` module
next to it by its bare name).

* :mod:`support.peers`: real peer programs: :func:`~support.peers.need` one, stop
  a child, an openssl certificate.
* :mod:`support.deferreds`: a Deferred after a delay, or from a blocking call in a thread.
* :mod:`support.pki`: certificates made with the ``cryptography`` package.
* :mod:`support.protocols`: a stream protocol that records what happens to it.
* :mod:`support.backends`: the every-backend ``backend`` and ``reactor`` fixtures.
* :mod:`support.network`: what the host's network offers (an IPv6 loopback).
"""
