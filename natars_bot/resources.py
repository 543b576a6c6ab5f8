"""Where the wording lives: `conversations/` and `templates/` at the top of the repository.

They sit outside the package so that clinicians reviewing wording find them first. An editable
install (the README's commands) reads them in place; a wheel carries copies under
`natars_bot/_data/` (see pyproject.toml), which win when present.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["resource_dir"]


def resource_dir(name: str) -> Path:
    """The folder `name` ("conversations" or "templates") as installed."""
    packaged = Path(__file__).parent / "_data" / name
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[1] / name
