"""The results of this session: every finished generation, the one shown over the picture (not
yet applied) and the one last accepted. The History strip (``gui.panels.history_panel``) only
displays this model; the controller, project saving and autosave read it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, Signal

from inference.core.api import Mode


@dataclass(frozen=True)
class HistoryEntry:
    """One finished generation. image: H×W×3 uint8 at the document's size (owned, not shared)."""

    job_id: int
    image: np.ndarray = field(repr=False, compare=False)
    mode: Mode
    seed: int
    parameters: str  # the A1111-style text written into exported PNGs


class ResultsModel(QObject):
    """Signals: ``added(HistoryEntry)`` (appended, newest last), ``reset()`` (the whole list was
    replaced: cleared, or a project's results), ``shown_changed(object)`` (the entry over the
    picture, or None), ``accepted_changed(object)``."""

    added = Signal(object)
    reset = Signal()
    shown_changed = Signal(object)
    accepted_changed = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._entries: list[HistoryEntry] = []
        self._shown: HistoryEntry | None = None
        self._accepted: HistoryEntry | None = None

    def entries(self) -> list[HistoryEntry]:
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def find(self, job_id: int) -> HistoryEntry | None:
        return next((e for e in self._entries if e.job_id == job_id), None)

    @property
    def shown(self) -> HistoryEntry | None:
        """The result over the picture, not yet applied (a live one may not be in the list)."""
        return self._shown

    @property
    def accepted(self) -> HistoryEntry | None:
        """The result last applied to the picture (its parameters go into exported PNGs)."""
        return self._accepted

    def add(self, entry: HistoryEntry, show: bool = True) -> None:
        """Append ``entry`` and, by default, show it."""
        self._entries.append(entry)
        self.added.emit(entry)
        if show:
            self.show(entry)

    def show(self, entry: HistoryEntry | None) -> None:
        """Show ``entry`` over the picture (None: none)."""
        if entry is not self._shown:
            self._shown = entry
            self.shown_changed.emit(entry)

    def accept(self) -> HistoryEntry | None:
        """The shown result was applied: it is the accepted one, joins the list if it was not in
        it (a live result), and is no longer shown. Returns it (None: nothing was shown)."""
        entry = self._shown
        if entry is None:
            return None
        if self.find(entry.job_id) is None:
            self.add(entry, show=False)
        self._accepted = entry
        self.show(None)
        self.accepted_changed.emit(entry)
        return entry

    def replace(self, entries: list[HistoryEntry], accepted_job_id: int | None = None) -> None:
        """The list becomes ``entries`` (a reopened project's), none shown."""
        self._entries = list(entries)
        self._accepted = self.find(accepted_job_id) if accepted_job_id is not None else None
        self.show(None)
        self.reset.emit()
        self.accepted_changed.emit(self._accepted)

    def clear(self) -> None:
        """Another picture: its results are gone (the accepted one stays, for exports)."""
        self._entries = []
        self.show(None)
        self.reset.emit()
