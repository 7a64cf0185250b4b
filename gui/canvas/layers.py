"""Canvas items that draw a document layer from a numpy buffer: the paint layer and the mask.

Each item keeps its own premultiplied RGBA buffer (what Qt draws fastest) wrapped by a QImage;
only changed rects are rewritten into it, and only the exposed part is drawn.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QRectF, QTimer
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem

MASK_RGB = (255, 40, 40)
SPARSE_REFRESH_PX = 1 << 20  # mask refreshes larger than this are drawn in bands of this size
MASK_OPACITY = 0.45  # the photo stays readable under the mask


class _BufferItem(QGraphicsItem):
    """An item showing an H×W premultiplied RGBA buffer; subclasses fill it from their layer."""

    def __init__(self) -> None:
        super().__init__()
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)  # exposedRect
        self._rgba32 = np.zeros((1, 1), np.uint32)  # H×W, each one RGBA pixel in memory order
        self._qimage = QImage()

    def reset(self, layer: np.ndarray) -> None:
        """Take a new layer (a new picture, maybe a new size) and draw all of it."""
        self.prepareGeometryChange()
        height, width = layer.shape[:2]
        self._rgba32 = np.zeros((height, width), np.uint32)
        # Aliases self._rgba32, which this item keeps alive as long as the QImage.
        self._qimage = QImage(self._rgba32.data, width, height, 4 * width,
                              QImage.Format.Format_RGBA8888_Premultiplied)
        if self._clear(layer):  # the buffer is transparent already: ~2 s saved on a 24 MP photo
            self.update()
            return
        self.refresh(layer, QRect(0, 0, width, height))

    def _clear(self, layer: np.ndarray) -> bool:
        """Whether the whole layer draws as nothing."""
        return not layer.any()

    def refresh(self, layer: np.ndarray, rect: QRect) -> None:
        """Redraw ``rect`` (image px, inside the layer) from ``layer`` and repaint it."""
        rows, cols = slice(rect.top(), rect.bottom() + 1), slice(rect.left(), rect.right() + 1)
        self._rgba32[rows, cols] = self._premultiplied(layer[rows, cols])
        self.update(QRectF(rect))

    def _premultiplied(self, patch: np.ndarray) -> np.ndarray:
        """h×w uint32 premultiplied RGBA pixels for an h×w[×C] patch of the layer."""
        raise NotImplementedError

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self._rgba32.shape[1], self._rgba32.shape[0])

    def paint(self, painter: QPainter, option, widget=None) -> None:
        exposed = option.exposedRect.toAlignedRect() & self._qimage.rect()
        if not exposed.isEmpty():
            painter.drawImage(QRectF(exposed), self._qimage, QRectF(exposed))


class MaskOverlayItem(_BufferItem):
    """The H×W uint8 mask drawn as translucent ``MASK_RGB``."""

    def __init__(self) -> None:
        super().__init__()
        # Mask value → premultiplied alpha; premultiplied colour channel c is c·alpha/255.
        alpha = np.rint(np.arange(256) * MASK_OPACITY).astype(np.uint16)
        rgba_lut = np.stack([(alpha * c + 127) // 255 for c in MASK_RGB] + [alpha], axis=1).astype(np.uint8)
        # One uint32 per pixel (same bytes, any endianness): indexing it is ~6× faster than
        # indexing the 256×4 table, which matters when inverting a 12-megapixel mask.
        self._lut32 = rgba_lut.view(np.uint32).ravel()
        self._drawn = np.zeros((1, 1), np.uint8)
        self._bands: list[tuple[np.ndarray, QRect]] = []  # (layer, rect) still to draw, oldest first
        self._band_timer = QTimer(interval=0)  # 0: once per turn of the event loop
        self._band_timer.timeout.connect(self._next_band)

    def _premultiplied(self, patch: np.ndarray) -> np.ndarray:
        return self._lut32[patch]

    def reset(self, layer: np.ndarray) -> None:
        self._drawn = np.zeros(layer.shape[:2], np.uint8)  # the mask the buffer shows now
        self._bands.clear()  # bands of the old picture
        super().reset(layer)

    def refresh(self, layer: np.ndarray, rect: QRect) -> None:
        """Redraw ``rect``: at once when small; a large one (a detection on a 24 MP scan
        changes a box of the whole picture) band by band, one per turn of the event loop, so
        the editor never stops for it (the whole box at once took ~0.5 s). Only pixels whose
        mask value changed are rewritten. ``layer`` is the document's live mask view: a band
        drawn later shows the mask as it is then."""
        if rect.width() * rect.height() <= SPARSE_REFRESH_PX:
            self._refresh_band(layer, rect)
            return
        rows_per_band = max(1, SPARSE_REFRESH_PX // max(rect.width(), 1))
        for top in range(rect.top(), rect.bottom() + 1, rows_per_band):
            self._bands.append((layer, QRect(rect.left(), top, rect.width(), min(rows_per_band, rect.bottom() + 1 - top))))
        if not self._band_timer.isActive():
            self._band_timer.start()

    def pending_bands(self) -> int:
        """Bands still to be drawn (0: the overlay shows the mask)."""
        return len(self._bands)

    def _next_band(self) -> None:
        if not self._bands:
            self._band_timer.stop()
            return
        self._refresh_band(*self._bands.pop(0))

    def _refresh_band(self, layer: np.ndarray, rect: QRect) -> None:
        rows, cols = slice(rect.top(), rect.bottom() + 1), slice(rect.left(), rect.right() + 1)
        new, drawn = layer[rows, cols], self._drawn[rows, cols]
        ys, xs = np.nonzero(new != drawn)
        values = new[ys, xs]
        self._rgba32[rows, cols][ys, xs] = self._lut32[values]
        drawn[ys, xs] = values
        self.update(QRectF(rect))


class PaintOverlayItem(_BufferItem):
    """The H×W×4 straight-RGBA paint layer, drawn over the photo as it composites."""

    def _clear(self, layer: np.ndarray) -> bool:
        return not layer[..., 3].any()

    def _premultiplied(self, patch: np.ndarray) -> np.ndarray:
        alpha = patch[..., 3:].astype(np.uint16)
        rgb = (patch[..., :3].astype(np.uint16) * alpha + 127) // 255
        rgba = np.concatenate([rgb, alpha], axis=2).astype(np.uint8)
        return np.ascontiguousarray(rgba).view(np.uint32)[..., 0]
