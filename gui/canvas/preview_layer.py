"""The preview layer of the canvas: live step previews and results drawn over the photo, and the
split before/after compare.

A preview is one pixmap, uploaded once, scaled into its target rect. The split compare does not
re-upload anything: the pixmap sits inside a clipping rect, so moving the split only changes the
clip and moves a divider line (two cosmetic hairlines, light and dark, visible on any photo).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QLineF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsItem, QGraphicsLineItem, QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene

from gui.canvas.qimage import array_qimage

DIVIDER_WIDTH_PX = 3  # screen px: visible at any zoom


class PreviewLayer:
    """Owns the preview items in ``scene``, stacked at ``z`` (the divider above them).

    show(rgb, target) draws a preview; set_split(fraction) shows only its left ``fraction`` of
    the picture's width with a divider there (1.0 or None: no split); clear() hides everything.
    """

    def __init__(self, scene: QGraphicsScene, z: float) -> None:
        self._picture = QRect()
        self._split: float | None = None
        # The clip rect is invisible (no pen, no brush); it only clips its child, the preview.
        self._clip = QGraphicsRectItem()
        self._clip.setPen(Qt.PenStyle.NoPen)
        self._clip.setFlag(QGraphicsItem.GraphicsItemFlag.ItemClipsChildrenToShape)
        self._clip.setZValue(z)
        self._item = QGraphicsPixmapItem(self._clip)
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self._dividers = [QGraphicsLineItem(), QGraphicsLineItem()]
        for line, color, width in zip(self._dividers, (QColor(0, 0, 0, 200), QColor(255, 255, 255, 235)),
                                      (DIVIDER_WIDTH_PX + 2, DIVIDER_WIDTH_PX)):
            pen = QPen(color, width)
            pen.setCosmetic(True)  # screen px, whatever the zoom
            line.setPen(pen)
            line.setZValue(z + 0.1)
        scene.addItem(self._clip)
        for line in self._dividers:
            scene.addItem(line)
        self.clear()

    @property
    def visible(self) -> bool:
        return self._clip.isVisible()

    @property
    def split(self) -> float | None:
        """Fraction of the picture's width the preview shows (None: all of it)."""
        return self._split

    def set_picture(self, picture: QRect) -> None:
        """The whole picture's rect in image px (the split is a fraction of its width)."""
        self._picture = QRect(picture)
        self._apply_clip()

    def show(self, rgb: np.ndarray, target: QRect) -> None:
        """Draw ``rgb`` (h×w×3 or h×w×4 uint8, any size) scaled smoothly into ``target`` (image px;
        empty: the whole picture). Copies the pixels; the split, if any, stays where it is."""
        rgb = np.ascontiguousarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] not in (3, 4) or 0 in rgb.shape:
            raise ValueError(f"a preview must be h×w×3 or h×w×4 uint8, got shape {rgb.shape} {rgb.dtype}.")
        target = QRect(target) if not target.isEmpty() else self._picture
        self._item.setPixmap(QPixmap.fromImage(array_qimage(rgb)))  # copies: rgb may go
        self._item.setPos(target.x(), target.y())
        self._item.setTransform(QTransform.fromScale(target.width() / rgb.shape[1], target.height() / rgb.shape[0]))
        self._clip.show()
        self._apply_clip()

    def set_split(self, fraction: float | None) -> None:
        """Show the preview left of ``fraction`` × the picture's width only, with a divider there;
        None or ≥ 1: the whole preview, no divider. Costs no upload: only the clip moves."""
        self._split = None if fraction is None or fraction >= 1.0 else max(0.0, float(fraction))
        self._apply_clip()

    def clear(self) -> None:
        self._clip.hide()
        self._item.setPixmap(QPixmap())
        self._split = None
        self._apply_clip()

    def _apply_clip(self) -> None:
        picture = QRectF(self._picture)
        if self._split is None:
            self._clip.setRect(picture)
            for line in self._dividers:
                line.hide()
            return
        x = picture.left() + round(self._split * picture.width())
        self._clip.setRect(QRectF(picture.left(), picture.top(), x - picture.left(), picture.height()))
        for line in self._dividers:
            line.setLine(QLineF(x, picture.top(), x, picture.bottom()))
            line.setVisible(self._clip.isVisible())
