"""The status-bar indicator of background work: which work runs, and for how long."""

from __future__ import annotations

from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QWidget


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
