"""Outpainting: extend the canvas on any side and prepare the new area for Generate (the
pixels: ``gui.session.outpaint``; the dialog: ``gui.dialogs.extend_dialog``)."""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QDialog, QWidget

from gui.dialogs.extend_dialog import ExtendDialog
from gui.session.face_boxes import face_boxes_of
from gui.session.outpaint import QUICK_FRACTION, SIDES, extend_layers
from inference.core.api import MAX_IMAGE_SIDE_PX


class OutpaintActions(QObject):
    """Extends the document's canvas (one undo step each; the face boxes move with the picture).
    Signals ``message(str)``."""

    message = Signal(str)

    def __init__(self, document, parent: QObject | None = None):
        super().__init__(parent)
        self._document = document
        self._window: QWidget | None = None

    def set_window(self, window: QWidget) -> None:
        """The window the dialog belongs to."""
        self._window = window

    def extend(self, left: int, top: int, right: int, bottom: int) -> bool:
        """Add the given px (each ≥ 0) on each side and mask the new area for Generate.
        Returns False, with a message, when nothing is added or the result would exceed
        ``MAX_IMAGE_SIDE_PX`` on a side."""
        doc = self._document
        amounts = (left, top, right, bottom)
        new_w, new_h = doc.width_px + left + right, doc.height_px + top + bottom
        if min(amounts) < 0 or not any(amounts):
            self.message.emit("Give a number of pixels to add on at least one side.")
            return False
        if max(new_w, new_h) > MAX_IMAGE_SIDE_PX:
            self.message.emit(f"The canvas would be {new_w}×{new_h} px: at most {MAX_IMAGE_SIDE_PX} px a side.")
            return False
        layers = extend_layers(doc.image, doc.mask, doc.paint, left, top, right, bottom)
        with face_boxes_of(doc).moving_with_picture(left, top, "Extend canvas"):  # the picture moves under them
            doc.resize_layers(*layers, "Extend canvas")
        self.message.emit(f"Extended the canvas to {new_w}×{new_h} px. The new area is masked: "
                          "Generate (Ctrl+Enter) fills it.")
        return True

    def extend_side(self, side: str, fraction: float = QUICK_FRACTION) -> bool:
        """Extend one of ``SIDES`` by ``fraction`` of the picture's width (left, right) or height
        (top, bottom), rounded to a multiple of 8 px (at least 8). Raises ValueError for another side."""
        if side not in SIDES:
            raise ValueError(f"unknown side '{side}': use one of {', '.join(SIDES)}.")
        across = self._document.width_px if side in ("left", "right") else self._document.height_px
        amount = max(8, round(across * fraction / 8) * 8)
        return self.extend(*(amount if s == side else 0 for s in SIDES))

    def extend_dialog(self) -> bool:
        """Ask for the px per side, then extend."""
        dialog = ExtendDialog(self._document.width_px, self._document.height_px, self._window)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return False
        return self.extend(*dialog.amounts())
