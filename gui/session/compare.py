"""Before / After (the ``\\`` key): what the last change did to the picture.

With a result shown over the picture (not applied yet), "before" hides it: the picture as it
is. Without one, "before" shows the picture as it was before the last undoable change of its
pixels (Heal, Apply result, Merge paint…), drawn over the changed box only; any edit, undo,
new picture or generation ends the comparison. When there is nothing to compare (no pixel
change to undo, or the last one resized the canvas) the toggle is disabled and says why.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QRect, Signal

from gui.session.overlay import CanvasOverlay, Layer
from gui.session.strokes import rect_slices

NOTHING_YET = "Nothing to compare yet: Before / After shows what the last change of the picture did"
RESIZED = "The last change resized the canvas: Before / After compares pictures of one size (undo to go back)"
READY = "Show the picture before the last change of its pixels (\\)"
WITH_RESULT = "Show the picture without the result (\\)"


def _flat(command) -> list:
    """``command`` and, for a macro (several edits in one undo step), its children in order."""
    return [command] + [c for i in range(command.childCount()) for c in _flat(command.child(i))]


def last_picture_change(stack) -> tuple[str, QRect, list] | str:
    """The last undoable edit of the image layer below the stack's index: (its text, the box it
    changed in image px, [(rect, before ``gui.session.undo_store.Patch`` of H×W×3 uint8), …] in the order
    they were made), or
    ``NOTHING_YET``/``RESIZED`` when it cannot be compared."""
    for index in range(stack.index() - 1, -1, -1):
        command = stack.command(index)
        patches = []
        for part in _flat(command):
            edit = part.edit() if hasattr(part, "edit") else None
            if edit is not None and edit.kind == "resize":
                return RESIZED
            if edit is not None and edit.kind == "patch" and edit.layer == "image":
                patches.append((QRect(*edit.rect), part.patches[0]))  # read only when shown
        if patches:
            box = QRect()
            for rect, _before in patches:
                box |= rect
            return command.text(), box, patches
    return NOTHING_YET


class BeforeAfter(QObject):
    """Signals ``available(enabled, reason)`` whenever comparing becomes possible or not, and
    ``ended()`` when a comparison on screen ends by itself (an edit, a generation)."""

    available = Signal(bool, str)
    ended = Signal()
    message = Signal(str)

    def __init__(self, document, controller, overlay: CanvasOverlay, parent: QObject | None = None):
        super().__init__(parent)
        self._document, self._controller, self._overlay = document, controller, overlay
        self._showing: str | None = None  # "result" (the result hidden) or "change" (a before patch drawn)
        stack = document.undo_stack
        for signal in (stack.indexChanged, document.replaced, document.resized, controller.result_shown):
            signal.connect(self._changed)
        document.image_changed.connect(self._changed)
        controller.busy_changed.connect(self._changed)
        overlay.withdrawn.connect(self._on_withdrawn)

    def refresh(self) -> tuple[bool, str]:
        """Say whether comparing is possible now (``available``); returns (enabled, reason)."""
        if self._controller.shown_entry() is not None:
            state = (True, WITH_RESULT)
        else:
            found = last_picture_change(self._document.undo_stack)
            state = (False, found) if isinstance(found, str) else (True, READY)
        self.available.emit(*state)
        return state

    def set_before(self, before: bool) -> None:
        """Show the picture before the change (True) or as it is now (False)."""
        if not before:
            if self._showing == "change":
                self.message.emit("")  # "Before “Heal”…" no longer describes the canvas
            self._end()
            return
        if self._controller.shown_entry() is not None:
            self._showing = "result"
            self._controller.set_before_after(True)
            return
        found = last_picture_change(self._document.undo_stack)
        if isinstance(found, str):
            self.message.emit(found)
            self.ended.emit()
            return
        text, box, patches = found
        rows, cols = rect_slices(box)
        before = np.array(self._document.image[rows, cols])
        for rect, patch in reversed(patches):  # the oldest before-patch is the picture before the step
            rows, cols = rect_slices(rect.translated(-box.topLeft()))
            before[rows, cols] = patch.array()
        self._overlay.set(Layer.BEFORE, before, box)
        self._showing = "change"
        self.message.emit(f"Before “{text}”: press \\ again to see it after.")

    def _end(self) -> None:
        showing, self._showing = self._showing, None
        if showing == "result":
            self._controller.set_before_after(False)
        elif showing == "change":
            self._overlay.clear(Layer.BEFORE)

    def _on_withdrawn(self, layer: Layer) -> None:
        if layer is Layer.BEFORE and self._showing == "change":  # another frame took the canvas
            self._showing = None
            self.ended.emit()
            self.refresh()

    def _changed(self, *_args) -> None:
        if self._showing is not None:  # what is on screen is no longer "before" the picture shown
            self._end()
            self.ended.emit()
        self.refresh()
