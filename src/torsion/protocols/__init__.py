"""Reusable protocols and protocol helpers, mirroring ``twisted.protocols``."""
