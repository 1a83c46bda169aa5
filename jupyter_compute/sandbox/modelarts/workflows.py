"""The stand-in's workflows (placeholder: filled in by issue 18's work)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import ModelArtsSandbox


class Workflows:
    """State and routes of the workflows API; one per sandbox."""

    def __init__(self, sb: ModelArtsSandbox) -> None:
        self.sb = sb

    def routes(self, handler_args: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The tornado routes this part serves."""
        return []

    def stop(self) -> None:
        """Ask background work to end (called on the sandbox's loop at shutdown)."""

    def join(self, timeout_s: float) -> None:
        """Wait for background threads after the loop has stopped."""
