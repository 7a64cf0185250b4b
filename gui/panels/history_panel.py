"""The history strip: every finished result, newest last, with the parameters that made it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem

from gui.canvas.qimage import array_qimage
from inference.core.api import Mode

THUMB_PX = 96


@dataclass(frozen=True)
class HistoryEntry:
    """One finished generation. image: H×W×3 uint8 at the document's size (owned, not shared)."""

    job_id: int
    image: np.ndarray = field(repr=False, compare=False)
    mode: Mode
    seed: int
    parameters: str  # the A1111-style text written into exported PNGs


class HistoryStrip(QListWidget):
    """Thumbnails of results. Signals ``entry_selected(HistoryEntry)`` when the user picks one."""

    entry_selected = Signal(object)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(THUMB_PX, THUMB_PX))
        self.setFixedHeight(THUMB_PX + 40)
        self.setHorizontalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        self.currentItemChanged.connect(self._on_current_changed)
        self._entries: dict[int, HistoryEntry] = {}

    def add(self, entry: HistoryEntry) -> None:
        """Append ``entry`` and select it."""
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
        self._entries[entry.job_id] = entry
        self.addItem(item)
        self.setCurrentItem(item)
        self.scrollToItem(item)

    def current_entry(self) -> HistoryEntry | None:
        item = self.currentItem()
        return self._entries.get(item.data(Qt.ItemDataRole.UserRole)) if item else None

    def entries(self) -> list[HistoryEntry]:
        return [self._entries[self.item(i).data(Qt.ItemDataRole.UserRole)] for i in range(self.count())]

    def clear_entries(self) -> None:
        self.clear()
        self._entries.clear()

    def _on_current_changed(self, current, _previous) -> None:
        entry = self._entries.get(current.data(Qt.ItemDataRole.UserRole)) if current else None
        if entry is not None:
            self.entry_selected.emit(entry)
