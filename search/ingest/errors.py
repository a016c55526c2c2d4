"""The one error a file can raise while it is read: it carries the one-line reason users see."""

from __future__ import annotations

from pathlib import Path


class LoadError(Exception):
    """A file that cannot be indexed; str() is the one-line reason shown to the user."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason
