"""The open picture: its pixels, its inpainting mask and the undo stack that records their edits.

Every edit goes through ``Document`` and is one ``QUndoCommand``; each command stores only the
bounding box of what it changed (before and after patches), so a small stroke on a large photo
costs kilobytes, not the photo's size. Widgets bind to the signals and hold no state that matters.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QRect, QSize, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from gui import brush
from gui.undo_store import Patch, PatchStore
from inference.api import MAX_SIDE_PX

# Mask tiles saved before a stroke first touches them (see begin_stroke): big enough that the
# per-tile Python cost is negligible, small enough that a short stroke saves little.
_TILE_PX = 128


def _read_only(array: np.ndarray) -> np.ndarray:
    view = array.view()
    view.flags.writeable = False
    return view


def _true_bounds(flags: np.ndarray) -> QRect:
    """Bounding box (image px) of the True pixels of an H×W or H×W×C bool array (a pixel
    counts if any channel is True); an empty QRect if none."""
    # Reductions over whole rows and down columns are vectorised well; any(axis=2) over 3
    # channels is ~50× slower, so the channel axis is folded into rows, then reduced last.
    rows = np.flatnonzero(flags.reshape(flags.shape[0], -1).any(axis=1))
    if rows.size == 0:
        return QRect()
    cols = flags[rows[0] : rows[-1] + 1].any(axis=0)
    cols = np.flatnonzero(cols.any(axis=1) if cols.ndim == 2 else cols)
    return QRect(int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1))


def _changed_bounds(old: np.ndarray, new: np.ndarray) -> QRect:
    """Bounding box (image px) of the pixels that differ between two same-shaped arrays."""
    return _true_bounds(old != new)


def _slices(rect: QRect) -> tuple[slice, slice]:
    return slice(rect.y(), rect.y() + rect.height()), slice(rect.x(), rect.x() + rect.width())


class PatchCommand(QUndoCommand):
    """One undoable edit of one layer ("image" or "mask"): the before and after pixels of the
    bounding box ``rect`` (image px). The command owns its patches (``gui.undo_store.Patch``,
    in memory or moved to disk by the document's store); nothing else holds them."""

    def __init__(self, document: Document, layer: str, rect: QRect, before: np.ndarray,
                 after: np.ndarray, text: str, already_applied: bool = False) -> None:
        super().__init__(text)
        self._document = document
        self._layer = layer
        self._rect = QRect(rect)
        self.patches = (Patch(before), Patch(after))
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
        self._document._write_patch(self._layer, self._rect, self.patches[1].array())

    def undo(self) -> None:
        self._document._write_patch(self._layer, self._rect, self.patches[0].array())


class InvertMaskCommand(QUndoCommand):
    """Inverting is its own inverse, so this command stores no pixels at all."""

    nbytes = 0
    patches = ()

    def __init__(self, document: Document) -> None:
        super().__init__("Invert mask")
        self._document = document

    def redo(self) -> None:
        self._document._invert_mask_in_place()

    def undo(self) -> None:
        self._document._invert_mask_in_place()


class Document(QObject):
    """The open picture and its layers; owner of ``undo_stack`` (a ``QUndoStack``).

    Layers (owned by the document, changed only through its methods):
      image: H×W×3 uint8 RGB.
      mask:  H×W uint8, 0 = keep, 255 = regenerate, values between are partial (soft brush).
    The ``image`` and ``mask`` properties return read-only *live views*: they show later edits,
    must not be mutated (numpy raises if you try) and should be copied for a snapshot.

    Signals (rects in image px; an empty QRect means "everything"):
      replaced(): a new picture was loaded or created; sizes may have changed, undo was cleared.
      image_changed(QRect), mask_changed(QRect): those pixels changed, by an edit, undo or redo.

    ``dirty`` means edits (image or mask) since load/new/``mark_saved``; it follows the undo
    stack's clean state, so undoing back to the saved state makes the document clean again.
    Use from the GUI thread only.
    """

    replaced = Signal()
    image_changed = Signal(QRect)
    mask_changed = Signal(QRect)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        # Undo memory stays bounded: past the budget the oldest patches move to disk.
        self.undo_store = PatchStore()
        self.undo_stack.indexChanged.connect(self._bound_undo_memory)
        self._image = np.full((512, 512, 3), 255, np.uint8)
        self._mask = np.zeros((512, 512), np.uint8)
        self.path: str | None = None
        self.is_blank = True
        # The active stroke: erase flag, saved before-tiles {(tile_row, tile_col): patch}, bounds.
        self._stroke_erase = False
        self._stroke_tiles: dict[tuple[int, int], np.ndarray] | None = None
        self._stroke_rect = QRect()

    # -- state --------------------------------------------------------------------------------

    @property
    def image(self) -> np.ndarray:
        """H×W×3 uint8 RGB, read-only live view."""
        return _read_only(self._image)

    @property
    def mask(self) -> np.ndarray:
        """H×W uint8 (0 keep, 255 regenerate), read-only live view."""
        return _read_only(self._mask)

    @property
    def width_px(self) -> int:
        return self._image.shape[1]

    @property
    def height_px(self) -> int:
        return self._image.shape[0]

    @property
    def size(self) -> QSize:
        return QSize(self.width_px, self.height_px)

    @property
    def rect(self) -> QRect:
        """The whole picture in image px: (0, 0, W, H)."""
        return QRect(0, 0, self.width_px, self.height_px)

    @property
    def dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self, path: str | None = None) -> None:
        """The image was written to ``path`` (or to ``self.path``): the document becomes clean."""
        if path is not None:
            self.path = str(path)
            self.is_blank = False
        self.undo_stack.setClean()

    def has_mask(self) -> bool:
        """Whether any mask pixel is above 0."""
        return bool(self._mask.any())

    def mask_bounds(self) -> QRect:
        """Bounding box (image px) of the mask pixels above 0; an empty QRect when there are none."""
        return _true_bounds(self._mask != 0)

    # -- replacing the picture ----------------------------------------------------------------

    def load(self, array: np.ndarray, path: str | None = None) -> None:
        """Make ``array`` (H×W×3 uint8 RGB; copied, the caller keeps its own) the picture.

        The mask is cleared and the undo stack emptied; emits ``replaced``. Raises ValueError
        for any other shape or dtype (read files with ``inference.image_io.load_rgb``).
        """
        array = np.asarray(array)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
            raise ValueError(f"the image must be H×W×3 uint8 RGB, got shape {array.shape} {array.dtype}.")
        self._replace(np.array(array, copy=True, order="C"), path=None if path is None else str(path),
                      is_blank=False)

    def new_blank(self, width_px: int, height_px: int, color: tuple[int, int, int] = (255, 255, 255)) -> None:
        """A new blank picture of one ``color`` (RGB 0..255) for text-to-image; ``is_blank`` is
        True and ``path`` None until saved. Emits ``replaced``. Raises ValueError for sizes
        outside 8..MAX_SIDE_PX (what a generation accepts)."""
        if not (8 <= width_px <= MAX_SIDE_PX and 8 <= height_px <= MAX_SIDE_PX):
            raise ValueError(f"width and height must be between 8 and {MAX_SIDE_PX} px, got {width_px}×{height_px}.")
        image = np.empty((height_px, width_px, 3), np.uint8)
        image[:] = np.asarray(color, np.uint8)
        self._replace(image, path=None, is_blank=True)

    def _replace(self, image: np.ndarray, path: str | None, is_blank: bool) -> None:
        self._stroke_tiles = None  # a stroke in progress belongs to the old picture
        self.undo_stack.clear()
        self._image = image
        self._mask = np.zeros(image.shape[:2], np.uint8)
        self.path = path
        self.is_blank = is_blank
        self.undo_stack.setClean()
        self.replaced.emit()

    # -- image edits --------------------------------------------------------------------------

    def apply_image(self, new_image: np.ndarray, text: str = "Apply result") -> bool:
        """Replace the image pixels with ``new_image`` (H×W×3 uint8, the document's size; copied)
        as one undoable command that stores only the bounding box of the changed pixels.

        Returns False (and records nothing) when no pixel changes. Raises ValueError on a
        shape or dtype mismatch.
        """
        new_image = np.asarray(new_image)
        if new_image.dtype != np.uint8 or new_image.shape != self._image.shape:
            raise ValueError(
                f"the new image must be {self.width_px}×{self.height_px}×3 uint8 like the document, "
                f"got shape {new_image.shape} {new_image.dtype}."
            )
        return self._push_patch("image", self._image, new_image, text)

    # -- mask edits ---------------------------------------------------------------------------

    def set_mask(self, new_mask: np.ndarray, text: str = "Set mask") -> bool:
        """Replace the mask with ``new_mask`` (H×W uint8; copied) as one undoable command.
        Returns False when nothing changes. Raises ValueError on a shape or dtype mismatch."""
        new_mask = np.asarray(new_mask)
        if new_mask.dtype != np.uint8 or new_mask.shape != self._mask.shape:
            raise ValueError(
                f"the mask must be {self.width_px}×{self.height_px} uint8 like the image, "
                f"got shape {new_mask.shape} {new_mask.dtype}."
            )
        return self._push_patch("mask", self._mask, new_mask, text)

    def clear_mask(self) -> bool:
        """Set the whole mask to 0 as one undoable command; False (nothing recorded) if already empty."""
        bounds = self.mask_bounds()
        if bounds.isEmpty():
            return False
        rows, cols = _slices(bounds)
        before = self._mask[rows, cols].copy()
        self.undo_stack.push(PatchCommand(self, "mask", bounds, before, np.zeros_like(before), "Clear mask"))
        return True

    def invert_mask(self) -> None:
        """Mask value v becomes 255 - v everywhere, as one undoable command."""
        self.undo_stack.push(InvertMaskCommand(self))

    # -- strokes ------------------------------------------------------------------------------

    @property
    def stroke_active(self) -> bool:
        return self._stroke_tiles is not None

    def begin_stroke(self, erase: bool = False) -> None:
        """Start one brush (mask → 255) or eraser (mask → 0) stroke; ends any stroke in progress.

        Then call ``paint_dab``/``paint_segment`` as the pointer moves and ``end_stroke`` once:
        the stroke becomes one undo command. Within a stroke the brush raises the mask to the
        dab coverage with max() (the eraser lowers it with min()), so overlapping dabs never
        build up. Do not move the undo stack while a stroke is active.
        """
        if self.stroke_active:
            self.end_stroke()
        self._stroke_erase = erase
        self._stroke_tiles = {}
        self._stroke_rect = QRect()

    def paint_dab(self, x_px: float, y_px: float, radius_px: float, hardness: float = 1.0) -> QRect:
        """One dab centred at (x_px, y_px) in image px (floats; pixel centres are at +0.5).
        Returns the changed rect (clipped to the image, possibly empty)."""
        return self.paint_segment(x_px, y_px, x_px, y_px, radius_px, hardness)

    def paint_segment(self, x0_px: float, y0_px: float, x1_px: float, y1_px: float,
                      radius_px: float, hardness: float = 1.0) -> QRect:
        """Dabs along (x0, y0) → (x1, y1) in image px, spaced at most radius/4 apart; the start
        point is not stamped (the previous call did), the end point is. ``hardness`` 0..1
        (1 = exact disc). Emits ``mask_changed`` once for the segment and returns its rect.
        Raises RuntimeError outside begin_stroke/end_stroke."""
        if self._stroke_tiles is None:
            raise RuntimeError("paint_segment called outside a stroke: call begin_stroke() first.")
        points = brush.dab_centers(x0_px, y0_px, x1_px, y1_px, brush.dab_spacing_px(radius_px))
        found = brush.segment_coverage(points, radius_px, hardness)
        if found is None:
            return QRect()
        left, top, coverage = found
        rect = QRect(left, top, coverage.shape[1], coverage.shape[0]) & self.rect
        if rect.isEmpty():
            return QRect()
        self._save_tiles(rect)
        rows, cols = _slices(rect)
        cov = coverage[rect.y() - top : rect.y() - top + rect.height(),
                       rect.x() - left : rect.x() - left + rect.width()]
        target = self._mask[rows, cols]
        if self._stroke_erase:
            np.minimum(target, 255 - cov, out=target)
        else:
            np.maximum(target, cov, out=target)
        self._stroke_rect |= rect
        self.mask_changed.emit(rect)
        return rect

    def end_stroke(self) -> bool:
        """Finish the stroke: push one command holding the before/after patches of the stroke's
        bounding box. Returns False (nothing recorded) if the stroke changed no pixel."""
        tiles, rect = self._stroke_tiles, self._stroke_rect
        self._stroke_tiles, self._stroke_rect = None, QRect()
        if tiles is None or rect.isEmpty():
            return False
        rows, cols = _slices(rect)
        after = self._mask[rows, cols].copy()
        before = after.copy()  # pixels of unsaved tiles were never touched: before == after there
        for (tile_row, tile_col), saved in tiles.items():
            tile = QRect(tile_col * _TILE_PX, tile_row * _TILE_PX, saved.shape[1], saved.shape[0])
            part = tile & rect
            if part.isEmpty():
                continue
            dst_rows, dst_cols = _slices(part.translated(-rect.x(), -rect.y()))
            src_rows, src_cols = _slices(part.translated(-tile.x(), -tile.y()))
            before[dst_rows, dst_cols] = saved[src_rows, src_cols]
        if np.array_equal(before, after):
            return False
        text = "Eraser stroke" if self._stroke_erase else "Brush stroke"
        self.undo_stack.push(PatchCommand(self, "mask", rect, before, after, text, already_applied=True))
        return True

    def cancel_stroke(self) -> None:
        """Undo the stroke in progress without recording anything (e.g. Escape mid-drag)."""
        tiles, rect = self._stroke_tiles, self._stroke_rect
        self._stroke_tiles, self._stroke_rect = None, QRect()
        if not tiles:
            return
        for (tile_row, tile_col), saved in tiles.items():
            top, left = tile_row * _TILE_PX, tile_col * _TILE_PX
            self._mask[top : top + saved.shape[0], left : left + saved.shape[1]] = saved
        self.mask_changed.emit(rect)

    def _save_tiles(self, rect: QRect) -> None:
        """Keep the pre-stroke content of every tile ``rect`` touches for the first time, so the
        stroke's before-patch can be rebuilt without copying the whole mask at each press."""
        assert self._stroke_tiles is not None
        for tile_row in range(rect.top() // _TILE_PX, rect.bottom() // _TILE_PX + 1):
            for tile_col in range(rect.left() // _TILE_PX, rect.right() // _TILE_PX + 1):
                if (tile_row, tile_col) not in self._stroke_tiles:
                    top, left = tile_row * _TILE_PX, tile_col * _TILE_PX
                    self._stroke_tiles[(tile_row, tile_col)] = \
                        self._mask[top : top + _TILE_PX, left : left + _TILE_PX].copy()

    # -- used by the commands -----------------------------------------------------------------

    def _push_patch(self, layer: str, current: np.ndarray, new: np.ndarray, text: str) -> bool:
        bounds = _changed_bounds(current, new)
        if bounds.isEmpty():
            return False
        rows, cols = _slices(bounds)
        before = current[rows, cols].copy()
        after = np.array(new[rows, cols], copy=True, order="C")
        self.undo_stack.push(PatchCommand(self, layer, bounds, before, after, text))
        return True

    def _undo_commands(self) -> list[QUndoCommand]:
        """Every command on the stack, oldest first, a macro's children in their order."""
        commands, pending = [], [self.undo_stack.command(i) for i in range(self.undo_stack.count())]
        while pending:
            command = pending.pop(0)
            commands.append(command)
            pending[:0] = [command.child(i) for i in range(command.childCount())]
        return commands

    def _bound_undo_memory(self) -> None:
        self.undo_store.bound([p for c in self._undo_commands() for p in getattr(c, "patches", ())])

    def undo_memory_bytes(self) -> int:
        """Bytes of undo patches held in memory (those moved to disk not counted)."""
        return sum(getattr(c, "nbytes", 0) for c in self._undo_commands())

    def _write_patch(self, layer: str, rect: QRect, patch: np.ndarray) -> None:
        rows, cols = _slices(rect)
        if layer == "image":
            self._image[rows, cols] = patch
            self.image_changed.emit(QRect(rect))
        else:
            self._mask[rows, cols] = patch
            self.mask_changed.emit(QRect(rect))

    def _invert_mask_in_place(self) -> None:
        np.subtract(255, self._mask, out=self._mask)
        self.mask_changed.emit(self.rect)
