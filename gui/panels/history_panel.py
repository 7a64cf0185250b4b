"""The History strip: thumbnails of the session's results (``gui.session.results``), newest
last, the shown one selected. Picking one asks to show it (``entry_selected``)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QSignalBlocker, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem

from gui.canvas.qimage import array_qimage
from gui.session.results import HistoryEntry, ResultsModel

THUMB_PX = 96


class HistoryStrip(QListWidget):
    """A view of ``results``. Signals ``entry_selected(HistoryEntry)`` when the user picks one."""

    entry_selected = Signal(object)

    def __init__(self, results: ResultsModel, parent=None):
        super().__init__(parent)
        self.results = results
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.setFixedHeight(THUMB_PX + 40)
        self.setHorizontalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.currentItemChanged.connect(self._on_current_changed)
        results.added.connect(self._add_item)
        results.reset.connect(self._rebuild)
        results.shown_changed.connect(self._select)
        self._rebuild()

    def current_entry(self) -> HistoryEntry | None:
        item = self.currentItem()
        return self.results.find(item.data(Qt.ItemDataRole.UserRole)) if item else None

    def entries(self) -> list[HistoryEntry]:
        return self.results.entries()

    # --- model → view -------------------------------------------------------------------

    def _add_item(self, entry: HistoryEntry) -> None:
        thumb = array_qimage(np.ascontiguousarray(entry.image)).copy().scaled(
            THUMB_PX, THUMB_PX, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        icon = QIcon()
        pixmap = QPixmap.fromImage(thumb)
        # The same pixels when selected: the style would tint them with the highlight colour,
        # and a sepia photo would look cold. The selection shows in the frame around it.
        for mode in (QIcon.Mode.Normal, QIcon.Mode.Selected, QIcon.Mode.Active):
            icon.addPixmap(pixmap, mode)
        item = QListWidgetItem(icon, f"seed {entry.seed}")
        item.setToolTip(entry.parameters)
        item.setData(Qt.ItemDataRole.UserRole, entry.job_id)
        with QSignalBlocker(self):  # showing is the model's to say, not the new row's
            self.addItem(item)

    def _rebuild(self) -> None:
        with QSignalBlocker(self):
            self.clear()
        for entry in self.results.entries():
            self._add_item(entry)
        self._select(self.results.shown)

    def _select(self, entry: HistoryEntry | None) -> None:
        """Select the row of the shown entry (none when nothing, or a live result, is shown)."""
        row = next((i for i in range(self.count())
                    if entry is not None and self.item(i).data(Qt.ItemDataRole.UserRole) == entry.job_id), -1)
        with QSignalBlocker(self):
            self.setCurrentRow(row)
        if row >= 0:
            self.scrollToItem(self.item(row))

    # --- user → model -------------------------------------------------------------------

    def _on_current_changed(self, current, _previous) -> None:
        entry = self.results.find(current.data(Qt.ItemDataRole.UserRole)) if current else None
        if entry is not None:
            self.entry_selected.emit(entry)
