"""One slot for the newest piece of work a background thread has not taken yet (no Qt).

Autosave's writer and ``gui.session.background.BackgroundRunner`` both hand work to a thread of their
own this way: a newer item replaces one still waiting ("the newest wins"), the thread takes
items one at a time, and ``idle`` tells when it has nothing left to do.
"""

from __future__ import annotations

import threading


class NewestSlot:
    def __init__(self):
        self._wake = threading.Condition()
        self._item = None
        self._stopping = False
        self._idle = threading.Event()
        self._idle.set()

    def put(self, item) -> bool:
        """Hand ``item`` over, replacing one still waiting; → whether one was replaced."""
        with self._wake:
            replaced = self._item is not None
            self._item = item
            self._idle.clear()
            self._wake.notify()
        return replaced

    def has_item(self) -> bool:
        with self._wake:
            return self._item is not None

    def take(self):
        """Worker thread: the next item, waiting for one; None once ``stop`` was called."""
        with self._wake:
            while self._item is None and not self._stopping:
                self._idle.set()
                self._wake.wait()
            if self._stopping:
                self._idle.set()
                return None
            item, self._item = self._item, None
            return item

    def stop(self) -> None:
        """Drop a waiting item; ``take`` returns None from now on (idempotent)."""
        with self._wake:
            self._stopping = True
            self._item = None
            self._wake.notify()

    @property
    def stopping(self) -> bool:
        return self._stopping

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until the worker has nothing waiting and is waiting for more."""
        return self._idle.wait(timeout_s)
