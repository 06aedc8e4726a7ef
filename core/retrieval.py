"""The retrieval seam: find the passages that answer a question."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from core.answers import Passage


class Retriever(Protocol):
    """Returns the best ``k`` passages for ``query``, best first.

    ``domains`` restricts the search to documents of those domains; empty searches all.
    ``principals`` are the asker's (``core.identity``): restricted documents are searched only
    when their audience names one of them; without any, public documents only.
    """

    async def search(
        self, query: str, *, k: int, domains: Sequence[str] = (), principals: Sequence[str] = ()
    ) -> list[Passage]: ...

    def prepare(self, query: str) -> None:
        """``query`` will be searched soon: start what its search waits for (its vector) now,
        so it is ready or on its way by then. Never raises; the search reports any failure."""
