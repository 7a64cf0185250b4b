"""The face boxes of the open picture: where Restore faces and the face pass work.

``FaceBoxes`` belongs to one ``Document`` (a child QObject of it: ``face_boxes_of(document)``
finds or makes it) and changes only through its methods. Adding, moving, resizing, deleting and
clearing are each one ``FaceBoxCommand`` on the document's undo stack, so Ctrl+Z undoes them in
the order they were made, among the picture's own edits; projects save the commands with the
rest of the history (``Edit`` kind "boxes") and the boxes as they are (``ProjectState.face_boxes``).
A new picture (opened, or a new blank canvas) starts with none; a reopened project has those it
was saved with. Which box is selected, and whether the boxes are drawn, are not undo steps.
Enlarging the picture ×2, ×3 or ×4 (Upscale), or undoing that, scales the boxes with it; Extend
canvas moves them with the picture (by the margin added on the left and top) in its own undo
step (``FaceBoxes.moving_with_picture``), and so does Upscale of the masked area, which crops the
picture to that area and enlarges it (moved by the crop's offset, then scaled: ``scale``). The
editor has no other crop, and no rotate or flip.

Boxes are (x, y, width, height) in image px, clipped to the picture when they are made; one
that lies off the picture or is smaller than a face model can use is refused with a message.
"""

from __future__ import annotations

import weakref
from contextlib import contextmanager

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand

from inference.files.project_file import Edit
from inference.restoration_models.faces import MIN_FACE_PX

Box = tuple[int, int, int, int]  # x, y, width, height in image px
MAX_FACE_BOXES = 64


def clip_box(box, width: int, height: int) -> Box | str:
    """``box`` (x, y, w, h; floats allowed, negative sizes are flipped) clipped to a picture of
    ``width``×``height`` px, or why it cannot be a face box (a sentence for the status bar)."""
    x, y, w, h = (float(v) for v in box)
    x0, x1 = sorted((x, x + w))
    y0, y1 = sorted((y, y + h))
    x0, y0 = max(0, round(x0)), max(0, round(y0))
    x1, y1 = min(width, round(x1)), min(height, round(y1))
    if x1 <= x0 or y1 <= y0:
        return "That box is outside the picture: draw face boxes over the faces."
    if min(x1 - x0, y1 - y0) < MIN_FACE_PX:
        return (f"That box is {x1 - x0}×{y1 - y0} px: a face box needs at least {MIN_FACE_PX}×{MIN_FACE_PX} px "
                "of the picture (zoom in to draw a small face).")
    return x0, y0, x1 - x0, y1 - y0


class FaceBoxCommand(QUndoCommand):
    """One undoable change of the face boxes: the whole list before and after (a few numbers)."""

    nbytes = 0
    patches = ()

    def __init__(self, model: FaceBoxes, before: tuple, after: tuple, text: str,
                 selected: tuple[int | None, int | None] = (None, None)) -> None:
        super().__init__(text)
        self._model = weakref.proxy(model)  # the model belongs to the document, which owns this stack
        self._before, self._after = tuple(before), tuple(after)
        self._selected = selected

    @property
    def boxes(self) -> tuple[tuple, tuple]:
        return self._before, self._after

    def redo(self) -> None:
        self._model._set(self._after, self._selected[1])

    def undo(self) -> None:
        self._model._set(self._before, self._selected[0])

    def edit(self) -> Edit:
        return Edit("boxes", self.text(), boxes=(self._before, self._after))


def command_from_edit(document, edit: Edit) -> FaceBoxCommand:
    """The command a saved "boxes" edit was (reopening a project)."""
    before, after = (tuple(tuple(int(v) for v in box) for box in side) for side in edit.boxes)
    return FaceBoxCommand(face_boxes_of(document), before, after, edit.text)


def face_boxes_of(document) -> FaceBoxes:
    """The face boxes of ``document``, made the first time they are asked for."""
    found = document.findChild(FaceBoxes, FaceBoxes.OBJECT_NAME)
    return found if found is not None else FaceBoxes(document)


class FaceBoxes(QObject):
    """The face boxes of ``document`` (its child). Signals: ``changed()`` (the boxes or the
    selection), ``shown_changed(bool)`` (whether the canvas draws them), ``message(str)`` (why
    a box was refused). GUI thread only."""

    OBJECT_NAME = "faceBoxes"
    changed = Signal()
    shown_changed = Signal(bool)
    message = Signal(str)

    def __init__(self, document) -> None:
        super().__init__(document)
        self.setObjectName(self.OBJECT_NAME)
        self._document = weakref.proxy(document)
        self._boxes: tuple[Box, ...] = ()
        self._selected: int | None = None
        self._shown_by: set[str] = set()
        self._size = (document.width_px, document.height_px)
        document.replaced.connect(self._on_replaced)
        document.resized.connect(self._on_resized)

    # --- reading --------------------------------------------------------------------------

    @property
    def boxes(self) -> tuple[Box, ...]:
        return self._boxes

    @property
    def selected(self) -> int | None:
        """The index of the selected box (what Delete removes), or None."""
        return self._selected

    @property
    def shown(self) -> bool:
        """Whether the canvas draws the boxes (the face box tool is on, or the Faces panel shows)."""
        return bool(self._shown_by)

    def box_at(self, x: float, y: float) -> int | None:
        """The index of the box under (x, y) image px (the newest on top), or None."""
        for index in range(len(self._boxes) - 1, -1, -1):
            bx, by, bw, bh = self._boxes[index]
            if bx <= x < bx + bw and by <= y < by + bh:
                return index
        return None

    # --- view state (not undo steps) ----------------------------------------------------------

    def select(self, index: int | None) -> None:
        index = index if index is not None and 0 <= index < len(self._boxes) else None
        if index != self._selected:
            self._selected = index
            self.changed.emit()

    def set_shown(self, reason: str, shown: bool) -> None:
        """Draw the boxes while any ``reason`` ("tool", "panel") wants them."""
        before = self.shown
        (self._shown_by.add if shown else self._shown_by.discard)(reason)
        if self.shown != before:
            self.shown_changed.emit(self.shown)

    # --- edits (one undo step each) ---------------------------------------------------------

    def add(self, box) -> bool:
        """Add ``box`` (x, y, w, h image px), clipped to the picture, and select it. False, with a
        ``message``, when it is off the picture or too small."""
        if len(self._boxes) >= MAX_FACE_BOXES:
            self.message.emit(f"A picture holds at most {MAX_FACE_BOXES} face boxes.")
            return False
        clipped = self._clip(box)
        if clipped is None:
            return False
        after = self._boxes + (clipped,)
        return self._push(after, "Add face box", len(after) - 1)

    def add_found(self, boxes) -> int:
        """Add the boxes a face detector proposed, as one undo step ("Find faces"), clipped to the
        picture; those off it or too small are left out quietly. Returns how many were added."""
        room = MAX_FACE_BOXES - len(self._boxes)
        found = []
        for box in boxes:
            clipped = clip_box(box, self._document.width_px, self._document.height_px)
            if not isinstance(clipped, str) and clipped not in self._boxes and len(found) < room:
                found.append(clipped)
        if found:
            self._push(self._boxes + tuple(found), f"Find faces ({len(found)})", None)
        return len(found)

    def set_box(self, index: int, box, text: str = "Move face box") -> bool:
        """Move or resize box ``index`` to ``box`` (clipped). False when nothing changes or the new
        place is refused (with a ``message``)."""
        if not 0 <= index < len(self._boxes):
            return False
        clipped = self._clip(box)
        if clipped is None or clipped == self._boxes[index]:
            return False
        after = self._boxes[:index] + (clipped,) + self._boxes[index + 1:]
        return self._push(after, text, index)

    def remove(self, index: int | None = None) -> bool:
        """Delete box ``index`` (default: the selected one). False when there is none."""
        index = self._selected if index is None else index
        if index is None or not 0 <= index < len(self._boxes):
            return False
        return self._push(self._boxes[:index] + self._boxes[index + 1:], "Delete face box", None)

    def clear(self) -> bool:
        """Delete every box as one undo step; False when there are none."""
        return bool(self._boxes) and self._push((), "Clear face boxes", None)

    @contextmanager
    def moving_with_picture(self, dx: int, dy: int, text: str, scale: int = 1):
        """Change the picture's size inside this block, once (``Document.resize_layers``), with its old
        pixels at offset (``dx``, ``dy``) of the new picture (negative: cut off), then enlarged
        ``scale`` times (a crop that is upscaled): the boxes move by (``dx``, ``dy``) px with it and
        are scaled, clipped to the new size (one left off it, or too small for a face model, is
        removed), all as one undo step ``text`` that undo and redo take back and do again together.
        Without boxes the block runs alone (its resize is the step). When the block raises, the
        partial step is taken back and dropped, and the error goes on."""
        document = self._document
        if not self._boxes:
            yield
            return
        if document.stroke_active:
            document.end_stroke()  # its own step, not a part of this one
        stack, before, selected = document.undo_stack, self._boxes, self._selected
        stack.beginMacro(text)
        try:
            # The boxes are set on both sides of the resize, never scaled by it: ``_on_resized`` takes a
            # picture 2, 3 or 4 times as large (or small) for an Upscale (or its undo), and an extension
            # or an upscaled crop can be just that; what it did in between is overwritten.
            stack.push(FaceBoxCommand(self, before, before, text, (selected, selected)))
            yield
            kept, index_of = [], {}
            for index, (x, y, w, h) in enumerate(before):
                moved = ((x + dx) * scale, (y + dy) * scale, w * scale, h * scale)
                box = clip_box(moved, document.width_px, document.height_px)
                if not isinstance(box, str):
                    index_of[index] = len(kept)
                    kept.append(box)
            stack.push(FaceBoxCommand(self, before, tuple(kept), text, (selected, index_of.get(selected))))
        except BaseException:
            stack.endMacro()
            partial = stack.command(stack.count() - 1)
            partial.undo()  # what of it was done (the macro undoes its children, newest first)…
            partial.setObsolete(True)
            stack.undo()  # …and the stack drops an obsolete step instead of undoing it
            raise
        stack.endMacro()

    def reset(self, boxes) -> None:
        """Make ``boxes`` the boxes without an undo step (a reopened project's, already checked)."""
        self._set(tuple(tuple(int(v) for v in box) for box in boxes)[:MAX_FACE_BOXES], None)

    # --- inside ---------------------------------------------------------------------------

    def _clip(self, box) -> Box | None:
        clipped = clip_box(box, self._document.width_px, self._document.height_px)
        if isinstance(clipped, str):
            self.message.emit(clipped)
            return None
        return clipped

    def _push(self, after: tuple, text: str, selected_after: int | None) -> bool:
        document = self._document
        if document.stroke_active:
            document.end_stroke()
        document.undo_stack.push(FaceBoxCommand(self, self._boxes, after, text, (self._selected, selected_after)))
        return True

    def _set(self, boxes: tuple, selected: int | None) -> None:
        """Used by the commands: the boxes become ``boxes``, ``selected`` the selection."""
        self._boxes = tuple(boxes)
        self._selected = selected if selected is not None and 0 <= selected < len(self._boxes) else None
        self.changed.emit()

    def _on_resized(self) -> None:
        # Undo is linear: a resize is undone with the boxes it left, so scaling them back is exact.
        # Only a whole-picture Upscale relies on this guess from the sizes; a resize that moves the
        # picture (Extend canvas, Upscale of the masked area) sets the boxes on both sides of it.
        (old_w, old_h), self._size = self._size, (self._document.width_px, self._document.height_px)
        new_w, new_h = self._size
        for factor in (2, 3, 4):
            if (new_w, new_h) in ((old_w * factor, old_h * factor), (old_w / factor, old_h / factor)):
                scale = new_w / old_w
                self._set(tuple(tuple(round(v * scale) for v in box) for box in self._boxes), self._selected)
                return

    def _on_replaced(self) -> None:
        self._size = (self._document.width_px, self._document.height_px)
        # A new picture starts without boxes; a reopened project's history has just set them
        # (its commands were replayed), so they stay.
        if self._document.undo_stack.count() == 0 and (self._boxes or self._selected is not None):
            self._set((), None)
