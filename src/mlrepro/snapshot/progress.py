"""How far a long take or verify is: what the command's progress bar is told."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Where long takes and verifies report how far they are (a bar on a terminal)."""

    def start(self, files: int, nbytes: int) -> None:
        """The totals, once they are known."""

    def advance(self, nbytes: int, files: int = 0) -> None:
        """`nbytes` more processed, and `files` more finished."""
