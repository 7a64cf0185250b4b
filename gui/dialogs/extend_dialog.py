"""Extend canvas…: how many pixels to add on each side."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QFormLayout, QLabel, QSpinBox, QWidget

from gui.session.outpaint import SIDES
from inference.core.api import MAX_IMAGE_SIDE_PX


class ExtendDialog(QDialog):
    """Asks how many px to add on each side; ``amounts()`` gives (left, top, right, bottom)."""

    def __init__(self, width_px: int, height_px: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Extend canvas")
        self._size = (width_px, height_px)
        form = QFormLayout(self)
        self.spins = {}
        for side in SIDES:
            spin = QSpinBox(minimum=0, maximum=MAX_IMAGE_SIDE_PX, singleStep=8, suffix=" px")
            spin.setToolTip(f"Pixels to add on the {side}; the new area is generated to match the picture")
            spin.valueChanged.connect(self._show_size)
            self.spins[side] = spin
            form.addRow(side.capitalize(), spin)
        self.size_label = QLabel()
        form.addRow("New size", self.size_label)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)
        self._show_size()

    def amounts(self) -> tuple[int, int, int, int]:
        return tuple(self.spins[side].value() for side in SIDES)

    def _show_size(self, *_args) -> None:
        left, top, right, bottom = self.amounts()
        self.size_label.setText(f"{self._size[0] + left + right} × {self._size[1] + top + bottom} px")
