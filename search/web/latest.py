"""Which of a page's searches is its newest. A page can have two searches running at once
(the user changes the mode, then ticks grouping, before the first answer comes); they may
finish in either order, and the one asked for last must be what stays shown."""

from __future__ import annotations

import threading
from collections import OrderedDict

PAGES_KEPT = 10_000  # pages remembered (an int each); the oldest are forgotten first


class LatestSearches:
    """A turn for each search as it starts, per page (Gradio's session hash)."""

    def __init__(self, pages: int = PAGES_KEPT) -> None:
        self._pages = pages
        self._newest: OrderedDict[str, int] = OrderedDict()
        self._turns = 0
        self._lock = threading.Lock()

    def begin(self, page: str) -> int:
        """This page's search starts now: its turn, newer than every earlier one."""
        with self._lock:
            self._turns += 1
            self._newest[page] = self._turns
            self._newest.move_to_end(page)
            while len(self._newest) > self._pages:
                self._newest.popitem(last=False)
            return self._turns

    def is_newest(self, page: str, turn: int) -> bool:
        """No search of this page started after the one with this turn (a forgotten page
        counts as newest: its answer is shown)."""
        with self._lock:
            return self._newest.get(page, turn) == turn
