"""One brush stroke on one layer array, and the pre-stroke pixels its undo step needs.

A stroke changes its layer live as the pointer moves; when it ends, the document records one
undo command holding the before and after patches of the stroke's bounding box. Copying the
whole layer at each press would cost a 24-megapixel scan ~100 MB, so ``TileBackup`` saves only
the tiles the stroke touches, the first time it touches them. numpy and QRect only: no widgets.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect

from gui.session.paint_layer import erase_paint, opacity_level, paint_over, scaled_coverage

# Tiles saved before a stroke first touches them: big enough that the per-tile Python cost is
# negligible, small enough that a short stroke saves little.
TILE_PX = 128


def rect_slices(rect: QRect) -> tuple[slice, slice]:
    """(rows, columns) slices of ``rect`` (image px) for indexing an H×W[×C] array."""
    return slice(rect.y(), rect.y() + rect.height()), slice(rect.x(), rect.x() + rect.width())


class TileBackup:
    """The pre-stroke content of every tile of ``layer`` (H×W or H×W×C, modified in place by
    the stroke) that ``save`` was called for; ``before(rect)`` rebuilds any rect as it was."""

    def __init__(self, layer: np.ndarray) -> None:
        self._layer = layer
        self._tiles: dict[tuple[int, int], np.ndarray] = {}

    def save(self, rect: QRect) -> None:
        """Keep the current content of each tile ``rect`` touches that is not saved yet (call
        before changing the pixels of ``rect``)."""
        for tile_row in range(rect.top() // TILE_PX, rect.bottom() // TILE_PX + 1):
            for tile_col in range(rect.left() // TILE_PX, rect.right() // TILE_PX + 1):
                if (tile_row, tile_col) not in self._tiles:
                    top, left = tile_row * TILE_PX, tile_col * TILE_PX
                    self._tiles[(tile_row, tile_col)] = self._layer[top : top + TILE_PX, left : left + TILE_PX].copy()

    def before(self, rect: QRect) -> np.ndarray:
        """A copy of ``rect`` as it was before the stroke (pixels of tiles never saved were
        never changed, so they are read from the layer)."""
        rows, cols = rect_slices(rect)
        result = self._layer[rows, cols].copy()
        for tile_row in range(rect.top() // TILE_PX, rect.bottom() // TILE_PX + 1):
            for tile_col in range(rect.left() // TILE_PX, rect.right() // TILE_PX + 1):
                saved = self._tiles.get((tile_row, tile_col))
                if saved is None:
                    continue
                tile = QRect(tile_col * TILE_PX, tile_row * TILE_PX, saved.shape[1], saved.shape[0])
                part = tile & rect
                dst_rows, dst_cols = rect_slices(part.translated(-rect.x(), -rect.y()))
                src_rows, src_cols = rect_slices(part.translated(-tile.x(), -tile.y()))
                result[dst_rows, dst_cols] = saved[src_rows, src_cols]
        return result

    def restore(self) -> None:
        """Write every saved tile back: the layer is as it was before the stroke."""
        for (tile_row, tile_col), saved in self._tiles.items():
            top, left = tile_row * TILE_PX, tile_col * TILE_PX
            self._layer[top : top + saved.shape[0], left : left + saved.shape[1]] = saved


class MaskStroke:
    """Brush (mask → 255) or eraser (mask → 0) on an H×W uint8 mask. Within a stroke the brush
    raises the mask to the dab coverage with max() (the eraser lowers it with min()), so
    overlapping dabs never build up."""

    layer = "mask"

    def __init__(self, mask: np.ndarray, erase: bool) -> None:
        self.backup = TileBackup(mask)
        self.text = "Eraser stroke" if erase else "Brush stroke"
        self._mask, self._erase = mask, erase

    def apply(self, rect: QRect, coverage: np.ndarray) -> None:
        """Lay ``coverage`` (uint8, ``rect``'s size) onto ``rect`` of the mask."""
        self.backup.save(rect)
        rows, cols = rect_slices(rect)
        target = self._mask[rows, cols]
        if self._erase:
            np.minimum(target, 255 - coverage, out=target)
        else:
            np.maximum(target, coverage, out=target)


class PaintStroke:
    """Colour brush or paint eraser on an H×W×4 straight-RGBA paint layer.

    The stroke's own alpha (coverage × opacity) accumulates with max(), like the mask brush,
    and each pixel is recomputed from its pre-stroke value: a stroke at opacity 0.5 paints
    alpha 128 however often it crosses itself, over whatever paint was there before.
    color: RGB 0..255; opacity: 0..1.
    """

    layer = "paint"

    def __init__(self, paint: np.ndarray, color: tuple[int, int, int], opacity: float, erase: bool) -> None:
        self.backup = TileBackup(paint)
        self.text = "Paint eraser stroke" if erase else "Paint stroke"
        self._paint, self._color, self._erase = paint, tuple(int(c) for c in color), erase
        self._level = opacity_level(opacity)
        # The stroke's alpha so far; np.zeros is lazily backed, so untouched pages cost nothing.
        self._alpha = np.zeros(paint.shape[:2], np.uint8)

    def apply(self, rect: QRect, coverage: np.ndarray) -> None:
        """Lay ``coverage`` (uint8, ``rect``'s size) at the stroke's opacity onto ``rect``."""
        self.backup.save(rect)
        rows, cols = rect_slices(rect)
        alpha = self._alpha[rows, cols]
        np.maximum(alpha, scaled_coverage(coverage, self._level), out=alpha)
        before = self.backup.before(rect)
        self._paint[rows, cols] = erase_paint(before, alpha) if self._erase else paint_over(before, self._color, alpha)
