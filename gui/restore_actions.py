"""Restoration tools that need no model: detect damage, heal, grow/shrink/feather the mask.

Each action is one undoable edit of the document. The image work itself lives in
``inference`` (numpy/OpenCV, no torch); this object only applies results to the document.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QApplication

from inference.api import DEFAULT_SENSITIVITY

MASK_STEP_PX = 4


class _Busy:
    """A wait cursor for the second or two a full-resolution scan can take."""

    def __enter__(self):
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)

    def __exit__(self, *_exc):
        QApplication.restoreOverrideCursor()


class RestoreActions(QObject):
    """Signals ``message(str)`` for the status bar."""

    message = Signal(str)

    def __init__(self, document, parent: QObject | None = None):
        super().__init__(parent)
        self._document = document
        self.sensitivity = DEFAULT_SENSITIVITY
        self._last_detection: tuple[int, np.ndarray] | None = None  # (undo index, mask before)

    def detect_damage(self) -> int:
        """Add the detected damage to the mask (one undo step). Returns the pixels proposed."""
        from inference.damage import detect_damage

        doc = self._document
        with _Busy():
            found = detect_damage(np.asarray(doc.image), self.sensitivity)
        before = doc.mask.copy()
        if not doc.set_mask(np.maximum(before, found), f"Detect damage ({self.sensitivity:.0%})"):
            self.message.emit("No damage found at this sensitivity: raise it, or paint the mask by hand.")
            self._last_detection = None
            return 0
        self._last_detection = (doc.undo_stack.index(), before)
        count = int(np.count_nonzero(found))
        self.message.emit(f"Marked {count:,} damaged pixels. Check the mask, then Heal or Generate.")
        return count

    def set_sensitivity(self, sensitivity: float) -> None:
        """Change the sensitivity; if the last edit was a detection, redo it at the new value."""
        self.sensitivity = sensitivity
        last = self._last_detection
        if last is not None and last[0] == self._document.undo_stack.index():
            self._document.undo_stack.undo()
            self.detect_damage()

    def heal(self) -> bool:
        """Fill the masked area classically (no model) and clear the mask: one undo step."""
        from inference.heal import heal

        doc = self._document
        if not doc.has_mask():
            self.message.emit("Paint over the damage first (or use Detect damage), then Heal.")
            return False
        with _Busy():
            healed = heal(np.asarray(doc.image), np.asarray(doc.mask))
        stack = doc.undo_stack
        stack.beginMacro("Heal")
        doc.apply_image(healed, "Heal")
        doc.clear_mask()
        stack.endMacro()
        self.message.emit("Healed. Undo with Ctrl+Z.")
        return True

    def grow(self) -> bool:
        from inference.mask_ops import grow_mask

        return self._document.set_mask(grow_mask(np.asarray(self._document.mask), MASK_STEP_PX), "Grow mask")

    def shrink(self) -> bool:
        from inference.mask_ops import shrink_mask

        return self._document.set_mask(shrink_mask(np.asarray(self._document.mask), MASK_STEP_PX), "Shrink mask")

    def feather(self) -> bool:
        from inference.compositing import feather_mask

        return self._document.set_mask(feather_mask(np.asarray(self._document.mask), MASK_STEP_PX), "Feather mask")
