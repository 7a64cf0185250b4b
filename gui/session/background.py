"""Long work off the GUI thread: one worker thread per owner, the newest request wins.

``BackgroundRunner`` runs plain functions (numpy, Pillow, file writing; no Qt objects) on a
thread of its own, one at a time. A request submitted while one runs waits as *the* pending
request: a newer submission replaces it, so a burst of requests (slider moves) costs the one
running plus the newest. Results come back as the ``done``/``failed`` signals, which reach
bound methods of GUI-thread objects through Qt's queued connections; each carries the token
given to ``submit`` so the owner can drop answers it no longer wants.

``BusyIndicator`` is the status-bar widget that shows which background work is running.
"""

from __future__ import annotations

import logging
import threading
import time

from PySide6.QtCore import QElapsedTimer, QObject, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget

from gui.session.newest_wins import NewestSlot
from inference.core.errors import KilnError

log = logging.getLogger(__name__)


class BackgroundRunner(QObject):
    """Signals (delivered in the GUI thread to GUI-thread receivers): ``done(token, result)``,
    ``failed(token, message)`` with a message a person can act on, ``busy_changed(bool)``.

    ``submit(work, token)`` queues ``work()`` (a callable that must not touch Qt widgets or the
    live document) and returns at once. ``wait(timeout_s)`` blocks until nothing runs or waits
    (quitting, tests)."""

    done = Signal(object, object)
    failed = Signal(object, str)
    busy_changed = Signal(bool)
    _finished = Signal(object, object, object)  # token, result, error message or None

    def __init__(self, name: str, parent: QObject | None = None):
        super().__init__(parent)
        self._slot = NewestSlot()  # (work, token) waiting for the thread
        self._busy = False
        self.last_crash: BaseException | None = None  # of the last work, when it raised no Exception
        self._outstanding = 0  # submitted and not answered yet (GUI thread's count)
        # A bound method of this GUI-thread object: queued into the GUI thread.
        self._finished.connect(self._deliver)
        self._thread = threading.Thread(target=self._loop, name=f"kiln-{name}", daemon=True)
        self._thread.start()

    @property
    def busy(self) -> bool:
        """Work runs or waits, or its answer is on its way to the GUI thread."""
        return self._busy

    def submit(self, work, token=None) -> None:
        """Run ``work()`` after the running request; replaces a request still waiting."""
        if not self._slot.put((work, token)):
            self._outstanding += 1  # else it replaced one that is counted already
        self._set_busy(True)

    def has_pending(self) -> bool:
        return self._slot.has_item()

    def wait(self, timeout_s: float = 60.0) -> bool:
        """Block until the thread has nothing to do (answers may still be queued)."""
        return self._slot.wait_idle(timeout_s)

    def stop(self, timeout_s: float = 60.0) -> None:
        """Drop waiting work and end the thread after the running request (idempotent);
        waits for it at most ``timeout_s`` (its answer is dropped)."""
        self._slot.stop()
        self._thread.join(timeout=timeout_s)

    def _loop(self) -> None:
        while (item := self._slot.take()) is not None:
            work, token = item
            self.last_crash = None
            try:
                result, error = work(), None
            except (KilnError, OSError, ValueError) as exc:
                result, error = None, str(exc)
            except Exception as exc:  # noqa: BLE001 - a bug here must not take the editor down
                log.exception("background work failed")
                result, error = None, f"Kiln hit an error ({type(exc).__name__}: {exc}); your picture is unchanged."
            except BaseException as exc:  # noqa: BLE001 - not an error: handed to whoever waits for it
                self.last_crash = exc
                result, error = None, f"Stopped ({type(exc).__name__})."
            try:
                self._finished.emit(token, result, error)
            except RuntimeError:  # the window, and this runner with it, is gone (quitting)
                return

    def _deliver(self, token, result, error) -> None:
        self._outstanding -= 1  # only the GUI thread counts
        self._set_busy(self._outstanding > 0)
        if error is None:
            self.done.emit(token, result)
        else:
            self.failed.emit(token, error)

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)


class BusyIndicator(QWidget):
    """A label and an endless progress bar in the status bar while background work runs.
    ``start(key, text)`` shows (or updates) one piece of work, ``stop(key)`` ends it; the
    seconds it has taken are shown after a moment, so a long save visibly moves on."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = QLabel()
        self.bar = QProgressBar(maximumWidth=120, textVisible=False)
        self.bar.setRange(0, 0)  # 0..0: Qt's busy animation
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar)
        self._work: dict[str, tuple[str, QElapsedTimer]] = {}
        self._tick = QTimer(self, interval=500)
        self._tick.timeout.connect(self._show)
        self.setVisible(False)

    def start(self, key: str, text: str) -> None:
        clock = self._work[key][1] if key in self._work else QElapsedTimer()
        if key not in self._work:
            clock.start()
        self._work[key] = (text, clock)
        self._tick.start()
        self._show()

    def stop(self, key: str) -> None:
        self._work.pop(key, None)
        if not self._work:
            self._tick.stop()
        self._show()

    def texts(self) -> list[str]:
        return [text for text, _clock in self._work.values()]

    def _show(self) -> None:
        parts = []
        for text, clock in self._work.values():
            seconds = clock.elapsed() / 1000
            parts.append(f"{text} {seconds:.0f} s" if seconds >= 1 else text)
        self.label.setText(" · ".join(parts))
        self.setVisible(bool(parts))


def wait_with_events(done, timeout_s: float = 120.0) -> bool:
    """Keep the GUI painting (the event loop turning) until ``done()`` is true or the time is
    up; returns ``done()``. For the few places that must wait for background work (quitting,
    opening another picture after Save)."""
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        QApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.005)
    return done()
