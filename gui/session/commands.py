"""The undo commands of a ``gui.session.document.Document``: each one records one edit.

Commands write through the document's private ``_write_patch``/``_set_layers``/
``_invert_mask_in_place`` (which emit the change signals); they own the pixels they store, as
``gui.session.undo_store.Patch`` objects the document's store may move to disk (the ``patches`` and
``nbytes`` attributes are what it looks at).
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QRect
from PySide6.QtGui import QUndoCommand

from gui.session.face_boxes import command_from_edit as face_box_command
from gui.session.paint_layer import alpha_bounds
from gui.session.undo_store import Patch
from inference.files.project_file import Edit

if TYPE_CHECKING:
    from gui.session.document import Document


class PatchCommand(QUndoCommand):
    """One undoable edit of one layer ("image", "mask" or "paint"): the before and after pixels
    of the bounding box ``rect`` (image px). The command owns its patches (``gui.session.undo_store.Patch``,
    in memory or moved to disk by the document's store); nothing else holds them.

    An image edit also makes a blank canvas a picture (``is_blank`` False: Generate then reworks
    it instead of starting anew); undoing it restores the flag."""

    def __init__(self, document: Document, layer: str, rect: QRect, before: np.ndarray,
                 after: np.ndarray, text: str, already_applied: bool = False, was_blank: bool | None = None) -> None:
        super().__init__(text)
        self._document = weakref.proxy(document)  # no cycle: the document owns its undo stack
        self._layer = layer
        self._rect = QRect(rect)
        self.patches = (Patch(before), Patch(after))
        self._was_blank = document.is_blank if was_blank is None else was_blank
        # A stroke is painted live; QUndoStack.push calls redo() once more, which must not repeat it.
        self._skip_redo = already_applied

    @property
    def rect(self) -> QRect:
        return QRect(self._rect)

    @property
    def nbytes(self) -> int:
        """Memory held by the stored patches, in bytes (0 for patches moved to disk)."""
        return sum(p.in_memory_bytes for p in self.patches)

    def redo(self) -> None:
        if self._skip_redo:
            self._skip_redo = False
            return
        if self._layer == "image":
            self._document.is_blank = False
        self._document._write_patch(self._layer, self._rect, self.patches[1].array())

    def undo(self) -> None:
        if self._layer == "image":
            self._document.is_blank = self._was_blank
        self._document._write_patch(self._layer, self._rect, self.patches[0].array())

    def edit(self) -> Edit:
        r = self._rect
        return Edit("patch", self.text(), self._layer, (r.x(), r.y(), r.width(), r.height()),
                    tuple(p.ref() for p in self.patches), self._was_blank)


class InvertMaskCommand(QUndoCommand):
    """Inverting is its own inverse, so this command stores no pixels at all."""

    nbytes = 0
    patches = ()

    def __init__(self, document: Document) -> None:
        super().__init__("Invert mask")
        self._document = weakref.proxy(document)  # no cycle: the document owns its undo stack

    def redo(self) -> None:
        self._document._invert_mask_in_place()

    def undo(self) -> None:
        self._document._invert_mask_in_place()

    def edit(self) -> Edit:
        return Edit("invert", self.text())


class ResizeCommand(QUndoCommand):
    """Replaces every layer with arrays of another size (extending the canvas) and back.

    Stores both sets of layers whole, as patches the undo store may move to disk; a paint
    layer with no paint is stored as its shape only. ``before``/``after``: (image, mask, paint)
    arrays the command takes ownership of (nobody may modify them afterwards).
    """

    def __init__(self, document: Document, before: tuple, after: tuple, text: str) -> None:
        super().__init__(text)
        self._document = weakref.proxy(document)  # no cycle: the document owns its undo stack
        self._states = [self._store(layers) for layers in (before, after)]
        self.patches = tuple(p for state in self._states for p in state if isinstance(p, Patch))

    @staticmethod
    def _store(layers: tuple) -> tuple:
        image, mask, paint = layers
        if isinstance(paint, tuple):  # already stored as the shape of an empty layer
            return Patch(image), Patch(mask), paint
        return Patch(image), Patch(mask), Patch(paint) if alpha_bounds(paint) else paint.shape

    def edit(self) -> Edit:
        arrays = tuple(p.ref() if isinstance(p, Patch) else tuple(p) for state in self._states for p in state)
        return Edit("resize", self.text(), arrays=arrays)

    @property
    def nbytes(self) -> int:
        return sum(p.in_memory_bytes for p in self.patches)

    def redo(self) -> None:
        self._restore(self._states[1])

    def undo(self) -> None:
        self._restore(self._states[0])

    def _restore(self, state: tuple) -> None:
        image, mask, paint = state
        paint = np.zeros(paint, np.uint8) if isinstance(paint, tuple) else paint.array().copy()
        self._document._set_layers(image.array().copy(), mask.array().copy(), paint)


def stack_edits(stack) -> list[Edit]:
    """The commands of a QUndoStack as project edits, oldest first (macros as groups)."""

    def edit_of(command: QUndoCommand) -> Edit:
        if hasattr(command, "edit"):
            return command.edit()
        return Edit("group", command.text(), children=[edit_of(command.child(i)) for i in range(command.childCount())])

    return [edit_of(stack.command(i)) for i in range(stack.count())]


def push_edit(document: Document, edit: Edit) -> None:
    """Do ``edit`` again on ``document`` as the command it was (reopening a project)."""
    stack = document.undo_stack
    if edit.kind == "group":
        stack.beginMacro(edit.text)
        for child in edit.children:
            push_edit(document, child)
        stack.endMacro()
    elif edit.kind == "patch":
        stack.push(PatchCommand(document, edit.layer, QRect(*edit.rect), *edit.arrays, edit.text,
                                was_blank=edit.was_blank))
    elif edit.kind == "invert":
        command = InvertMaskCommand(document)
        command.setText(edit.text)
        stack.push(command)
    elif edit.kind == "resize":
        stack.push(ResizeCommand(document, edit.arrays[:3], edit.arrays[3:], edit.text))
    elif edit.kind == "boxes":
        stack.push(face_box_command(document, edit))
    else:
        raise ValueError(f"unknown edit kind {edit.kind!r}")
