"""Domain errors, raised deep and turned into one-line messages at the edges (CLI, bot).

NatarsError
├── ProtocolError   a protocol definition file is malformed (names file and criterion)
└── InputError      a referral document cannot be read (names record and field)
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "FlowError",
    "InputError",
    "NatarsError",
    "ProtocolError",
    "StoreError",
]


class NatarsError(Exception):
    """Base class of the errors natars-bot reports to people rather than as tracebacks."""


class ProtocolError(NatarsError):
    """A protocol definition is malformed; the message names the file and the criterion."""

    def __init__(self, source: str, criterion: str | None, message: str) -> None:
        self.source = source
        self.criterion = criterion
        where = f"{source}: criterion {criterion}" if criterion else source
        super().__init__(f"{where}: {message}")


class InputError(NatarsError):
    """A referral document cannot be read; the message names the record and the field."""


class FlowError(NatarsError):
    """A dialogue definition is malformed; the message names the file and the entry."""

    def __init__(
        self, source: str, entry: str | None, message: str, kind: str = "question"
    ) -> None:
        self.source = source
        self.entry = entry
        where = f"{source}: {kind} {entry}" if entry else source
        super().__init__(f"{where}: {message}")


class ConfigError(NatarsError):
    """A setting is missing or malformed; the message names the environment variable."""


class StoreError(NatarsError):
    """The database refuses an operation: an unknown user or referral, a duplicate."""
