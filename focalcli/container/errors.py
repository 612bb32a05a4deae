"""Exceptions of the container layer.

Every error the container raises on purpose derives from :class:`FcsError`; ``str(e)`` is a
one-line message meant for a human, so the CLI can print it as is.
"""

from __future__ import annotations


class FcsError(Exception):
    """Base of all .fcs container errors."""


class FcsFormatError(FcsError):
    """The input is not a readable .fcs stream: bad magic, unsupported version, corrupt header."""


class FcsValueError(FcsError, ValueError):
    """A value given to the container is invalid (header field, tokens, metadata, misuse)."""
