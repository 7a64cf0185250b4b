"""The stroke methods of ``gui.session.document.Document``: one brush stroke on the mask or the paint
layer becomes one undo command holding its bounding box's before/after patches.

A mixin, kept apart so the document stays readable: it uses the document's layers
(``_layer``, ``_mask``, ``_paint``), ``rect``, ``set_paint_visible``, ``_changed_signal`` and
``undo_stack``, and keeps the stroke in progress in ``_stroke`` / ``_stroke_rect``.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect

from gui.session import brush
from gui.session.commands import PatchCommand
from gui.session.strokes import MaskStroke, PaintStroke, rect_slices as _slices


class StrokeEditing:
    """Mixed into ``Document``; see the module docstring."""

    @property
    def stroke_active(self) -> bool:
        return self._stroke is not None

    def begin_stroke(self, erase: bool = False, layer: str = "mask", color: tuple[int, int, int] = (0, 0, 0),
                     opacity: float = 1.0) -> None:
        """Start one stroke; ends any stroke in progress.

        layer "mask": the brush raises the mask to 255, the eraser (``erase``) lowers it to 0.
        layer "paint": the colour brush lays ``color`` (RGB 0..255) at ``opacity`` (0..1) over
        the paint layer, the paint eraser removes paint at that opacity; it shows the layer.
        Then call ``paint_dab``/``paint_segment`` as the pointer moves and ``end_stroke`` once:
        the stroke becomes one undo command. Overlapping dabs of one stroke never build up
        (see ``gui.session.strokes``). Do not move the undo stack while a stroke is active. Raises
        ValueError for another layer name.
        """
        if layer not in ("mask", "paint"):
            raise ValueError(f"strokes paint the 'mask' or the 'paint' layer, not '{layer}'.")
        if self.stroke_active:
            self.end_stroke()
        if layer == "paint":
            self.set_paint_visible(True)  # painting a hidden layer would be painting blind
            self._stroke = PaintStroke(self._paint, color, opacity, erase)
        else:
            self._stroke = MaskStroke(self._mask, erase)
        self._stroke_rect = QRect()

    def paint_dab(self, x_px: float, y_px: float, radius_px: float, hardness: float = 1.0) -> QRect:
        """One dab centred at (x_px, y_px) in image px (floats; pixel centres are at +0.5).
        Returns the changed rect (clipped to the image, possibly empty)."""
        return self.paint_segment(x_px, y_px, x_px, y_px, radius_px, hardness)

    def paint_segment(self, x0_px: float, y0_px: float, x1_px: float, y1_px: float,
                      radius_px: float, hardness: float = 1.0) -> QRect:
        """Dabs along (x0, y0) → (x1, y1) in image px, spaced at most radius/4 apart; the start
        point is not stamped (the previous call did), the end point is. ``hardness`` 0..1
        (1 = exact disc). Emits the stroke layer's ``*_changed`` once for the segment and
        returns its rect. Raises RuntimeError outside begin_stroke/end_stroke."""
        if self._stroke is None:
            raise RuntimeError("paint_segment called outside a stroke: call begin_stroke() first.")
        points = brush.dab_centers(x0_px, y0_px, x1_px, y1_px, brush.dab_spacing_px(radius_px))
        found = brush.segment_coverage(points, radius_px, hardness)
        if found is None:
            return QRect()
        left, top, coverage = found
        rect = QRect(left, top, coverage.shape[1], coverage.shape[0]) & self.rect
        if rect.isEmpty():
            return QRect()
        self._stroke.apply(rect, coverage[rect.y() - top : rect.y() - top + rect.height(),
                                          rect.x() - left : rect.x() - left + rect.width()])
        self._stroke_rect |= rect
        self._changed_signal(self._stroke.layer).emit(rect)
        return rect

    def end_stroke(self) -> bool:
        """Finish the stroke: push one command holding the before/after patches of the stroke's
        bounding box. Returns False (nothing recorded) if the stroke changed no pixel."""
        stroke, rect = self._stroke, self._stroke_rect
        self._stroke, self._stroke_rect = None, QRect()
        if stroke is None or rect.isEmpty():
            return False
        rows, cols = _slices(rect)
        after = self._layer(stroke.layer)[rows, cols].copy()
        before = stroke.backup.before(rect)
        if np.array_equal(before, after):
            return False
        self.undo_stack.push(PatchCommand(self, stroke.layer, rect, before, after, stroke.text, already_applied=True))
        return True

    def cancel_stroke(self) -> None:
        """Undo the stroke in progress without recording anything (e.g. Escape mid-drag)."""
        stroke, rect = self._stroke, self._stroke_rect
        self._stroke, self._stroke_rect = None, QRect()
        if stroke is None or rect.isEmpty():
            return
        stroke.backup.restore()
        self._changed_signal(stroke.layer).emit(rect)
