"""The canvas: shows a Document's photo, its paint layer, its mask and live previews, and paints
the mask and the paint layer.

Scene coordinates are image pixels: the photo sits at the scene origin and 1 scene unit is
1 image pixel, so the view's transform is a pure scale (the zoom) plus scrolling. Pointer
positions are mapped with ``event.position()`` (logical, sub-pixel) through the float viewport
transform, which stays exact at any zoom and device pixel ratio.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen, QPixmap, QTransform
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from gui.canvas.layers import MaskOverlayItem, PaintOverlayItem
from gui.canvas.overlay_view import OverlayView
from gui.canvas.preview_layer import PreviewLayer
from gui.canvas.qimage import array_qimage
from gui.session.document import Document
from gui.session.overlay import CanvasOverlay

ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 1 / 64, 64.0
BRUSH_STEP = 1.25
MIN_BRUSH_PX, MAX_BRUSH_PX = 1, 1000
# "brush" paints the mask to 255, "eraser" back to 0; "paint" lays the paint colour on the paint
# layer, "paint eraser" removes paint; "fill" (a click, the others are strokes) flood-fills it.
TOOLS = ("brush", "eraser", "paint", "paint eraser", "fill")


class CanvasView(QGraphicsView):
    """A view of one ``Document``: the photo, its paint layer, a red translucent mask overlay, a
    preview overlay and a brush-outline cursor. The brush and eraser paint the document's mask;
    "paint" and "paint eraser" paint its paint layer in ``paint_color`` at ``paint_opacity``;
    "fill" flood-fills the paint layer where clicked.

    Input: left-drag paints; space+left-drag or middle-drag pans; Ctrl+wheel zooms about the
    cursor; the plain wheel scrolls; [ and ] shrink and grow the brush; Escape cancels a stroke.
    Signals: zoom_changed(float), brush_size_changed(int), tool_changed(str),
    paint_color_changed(tuple), paint_opacity_changed(float).
    The view holds no document state: everything shown is redrawn from the document's signals.
    """

    zoom_changed = Signal(float)
    brush_size_changed = Signal(int)
    tool_changed = Signal(str)
    paint_color_changed = Signal(tuple)
    paint_opacity_changed = Signal(float)

    def __init__(self, document: Document, parent=None, overlay: CanvasOverlay | None = None) -> None:
        super().__init__(parent)
        self._document = document
        self.overlay = overlay if overlay is not None else CanvasOverlay(self)  # what is drawn over the picture
        self._zoom = 1.0
        self._fit_mode = True  # refit on resize until the user picks a zoom
        self._tool = "brush"
        self._brush_size_px = 40
        self._brush_hardness = 1.0
        self._paint_color = (0, 0, 0)
        self._paint_opacity = 1.0
        self._stroke_last: QPointF | None = None  # image px of the last dab while painting
        self._pan_last: QPointF | None = None  # viewport px while panning
        self._space_held = False

        self.setScene(QGraphicsScene(self))
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # set_zoom anchors itself
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setBackgroundBrush(QColor(48, 48, 48))
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.viewport().setMouseTracking(True)  # the brush outline follows the pointer unpressed

        # Stacking (z order = list order): photo, paint, mask, preview, then the brush outline
        # twice (light solid and dark dashed, so it shows over any photo; cosmetic pens are 1
        # screen px). The mask sits above the paint: it must show what will be regenerated.
        self._photo_item = QGraphicsPixmapItem()
        self._paint_item = PaintOverlayItem()
        self._mask_item = MaskOverlayItem()
        self._outline_items = [QGraphicsEllipseItem(), QGraphicsEllipseItem()]
        for item, color, style in zip(self._outline_items, (QColor(255, 255, 255, 200), QColor(0, 0, 0, 220)),
                                      (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine)):
            item.setPen(QPen(color, 0, style))  # width 0 = cosmetic hairline
            item.hide()
        items = (self._photo_item, self._paint_item, self._mask_item, *self._outline_items)
        for z, item in zip((0, 0.5, 1, 3, 4), items):
            item.setZValue(z)
            self.scene().addItem(item)
        self._previews = PreviewLayer(self.scene(), z=2)
        self._overlay_view = OverlayView(self, self.overlay)

        document.replaced.connect(self._on_replaced)
        document.resized.connect(self._on_replaced)
        document.image_changed.connect(self._on_image_changed)
        document.paint_changed.connect(self._on_paint_changed)
        document.mask_changed.connect(self._on_mask_changed)
        document.paint_visibility_changed.connect(self._paint_item.setVisible)
        self._on_replaced()
        self._update_cursor()

    # -- properties ---------------------------------------------------------------------------

    document = property(lambda self: self._document)
    zoom = property(lambda self: self._zoom, doc="Screen (logical) pixels per image pixel.")

    tool = property(lambda self: self._tool)

    def set_tool(self, name: str) -> None:
        """One of ``TOOLS`` (see there); raises ValueError otherwise."""
        if name not in TOOLS:
            raise ValueError(f"unknown tool '{name}': use one of {', '.join(TOOLS)}.")
        if name != self._tool:
            self._tool = name
            self._update_outline()
            self.tool_changed.emit(name)

    @property
    def paint_color(self) -> tuple[int, int, int]:
        """RGB 0..255 of the paint brush and fill."""
        return self._paint_color

    @paint_color.setter
    def paint_color(self, rgb: tuple[int, int, int]) -> None:
        rgb = tuple(int(min(max(c, 0), 255)) for c in rgb)
        if rgb != self._paint_color:
            self._paint_color = rgb
            self.paint_color_changed.emit(rgb)

    @property
    def paint_opacity(self) -> float:
        """0..1: the alpha one paint stroke or fill lays down (a stroke never builds up past it)."""
        return self._paint_opacity

    @paint_opacity.setter
    def paint_opacity(self, opacity: float) -> None:
        opacity = float(min(max(opacity, 0.0), 1.0))
        if opacity != self._paint_opacity:
            self._paint_opacity = opacity
            self.paint_opacity_changed.emit(opacity)

    @property
    def brush_size_px(self) -> int:
        """Brush diameter in image pixels, 1..1000."""
        return self._brush_size_px

    @brush_size_px.setter
    def brush_size_px(self, size_px: int) -> None:
        size_px = int(min(max(round(size_px), MIN_BRUSH_PX), MAX_BRUSH_PX))
        if size_px != self._brush_size_px:
            self._brush_size_px = size_px
            self._update_outline()
            self.brush_size_changed.emit(size_px)

    def grow_brush(self) -> None:
        """One step larger (×1.25, at least +1 px so small brushes still grow)."""
        self.brush_size_px = max(self._brush_size_px + 1, round(self._brush_size_px * BRUSH_STEP))

    def shrink_brush(self) -> None:
        self.brush_size_px = min(self._brush_size_px - 1, round(self._brush_size_px / BRUSH_STEP))

    @property
    def brush_hardness(self) -> float:
        """0..1: 1 paints an exact disc, lower values fade the outer part of the radius."""
        return self._brush_hardness

    @brush_hardness.setter
    def brush_hardness(self, hardness: float) -> None:
        self._brush_hardness = float(min(max(hardness, 0.0), 1.0))

    preview_visible = property(lambda self: self._previews.visible)

    # -- coordinates and zoom -----------------------------------------------------------------

    def image_pos(self, viewport_pos: QPointF) -> QPointF:
        """A viewport position (logical px, as ``event.position()``) → image px (floats).

        mapToScene only takes integer QPoints; the inverted viewport transform keeps the
        sub-pixel part, which matters when zoomed in or on fractional device pixel ratios."""
        inverse, _invertible = self.viewportTransform().inverted()
        return inverse.map(QPointF(viewport_pos))

    def set_zoom(self, zoom: float, anchor: QPointF | None = None) -> None:
        """Scale to ``zoom`` (clamped to 1/64..64), keeping the image point under ``anchor``
        (viewport px; default the viewport centre) in place where scrolling allows."""
        zoom = float(min(max(zoom, MIN_ZOOM), MAX_ZOOM))
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        fixed = self.image_pos(anchor)
        self._fit_mode = False
        self.setTransform(QTransform.fromScale(zoom, zoom))
        drift = self.viewportTransform().map(fixed) - anchor
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + round(drift.x()))
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + round(drift.y()))
        self._zoom_applied(zoom)

    def zoom_in(self) -> None:
        """One step closer (×1.25) about the viewport centre; zoom_out is the inverse."""
        self.set_zoom(self._zoom * ZOOM_STEP)

    def zoom_out(self) -> None:
        self.set_zoom(self._zoom / ZOOM_STEP)

    def fit(self) -> None:
        """Show the whole picture; the view keeps fitting on resize until zoomed by hand."""
        self.fitInView(self.sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
        zoom = self.transform().m11()
        if not MIN_ZOOM <= zoom <= MAX_ZOOM:
            self.set_zoom(zoom)
        self._fit_mode = True
        self._zoom_applied(self.transform().m11())

    def _zoom_applied(self, zoom: float) -> None:
        # Smooth filtering when shrinking; exact pixels when enlarging, as retouching needs.
        self._photo_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation if zoom < 1
                                               else Qt.TransformationMode.FastTransformation)
        if zoom != self._zoom:
            self._zoom = zoom
            self.zoom_changed.emit(zoom)

    # -- previews (drawn from ``self.overlay`` by ``OverlayView``) -----------------------------

    def show_preview(self, rgb: np.ndarray, target: QRect) -> None:
        """Draw ``rgb`` (h×w×3 or ×4 uint8, any size) scaled into ``target`` (image px; empty: the
        whole picture) above the photo and mask. Copies the pixels."""
        self._previews.show(rgb, target)

    def set_split(self, fraction: float | None) -> None:
        """The preview only left of ``fraction`` × the width (None or 1: all of it), the mask
        hidden meanwhile: the right side shows the original as it is."""
        self._previews.set_split(fraction)
        self._mask_item.setVisible(self._previews.split is None)

    def clear_preview(self) -> None:
        self._previews.clear()
        self._mask_item.show()

    # -- document → view ----------------------------------------------------------------------

    def _on_replaced(self) -> None:
        doc = self._document
        self._stroke_last = None
        self.clear_preview()
        self._overlay_view.forget()
        self._previews.set_picture(doc.rect)
        self._photo_item.setPixmap(QPixmap.fromImage(array_qimage(np.ascontiguousarray(doc.image))))
        self._paint_item.reset(doc.paint)
        self._paint_item.setVisible(doc.paint_visible)
        self._mask_item.reset(doc.mask)
        self.setSceneRect(QRectF(doc.rect))
        self.fit()

    def _on_image_changed(self, rect: QRect) -> None:
        rect = QRect(rect) & self._document.rect if not rect.isEmpty() else self._document.rect
        patch = np.ascontiguousarray(self._document.image[rect.top():rect.bottom() + 1, rect.left():rect.right() + 1])
        pixmap = self._photo_item.pixmap()
        # Drop the item's share first, so painting into the pixmap does not copy all of it.
        self._photo_item.setPixmap(QPixmap())
        painter = QPainter(pixmap)
        painter.setCompositionMode(QPainter.CompositionMode.CompositionMode_Source)
        painter.drawImage(rect.topLeft(), array_qimage(patch))
        painter.end()
        self._photo_item.setPixmap(pixmap)

    def _on_paint_changed(self, rect: QRect) -> None:
        rect = QRect(rect) & self._document.rect if not rect.isEmpty() else self._document.rect
        self._paint_item.refresh(self._document.paint, rect)

    def _on_mask_changed(self, rect: QRect) -> None:
        rect = QRect(rect) & self._document.rect if not rect.isEmpty() else self._document.rect
        self._mask_item.refresh(self._document.mask, rect)

    # -- input --------------------------------------------------------------------------------

    def mousePressEvent(self, event) -> None:
        pos, button = event.position(), event.button()
        idle = self._stroke_last is None and self._pan_last is None  # one gesture at a time
        if idle and (button == Qt.MouseButton.MiddleButton or
                     (button == Qt.MouseButton.LeftButton and self._space_held)):
            self._pan_last = pos
            self._update_cursor()
        elif idle and button == Qt.MouseButton.LeftButton and self._tool == "fill":
            point = self.image_pos(pos)
            self._document.fill_paint(point.x(), point.y(), self._paint_color, self._paint_opacity)
        elif idle and button == Qt.MouseButton.LeftButton:
            point = self.image_pos(pos)
            paint = self._tool in ("paint", "paint eraser")
            self._document.begin_stroke(erase=self._tool in ("eraser", "paint eraser"),
                                        layer="paint" if paint else "mask",
                                        color=self._paint_color, opacity=self._paint_opacity)
            self._document.paint_dab(point.x(), point.y(), self._brush_size_px / 2, self._brush_hardness)
            self._stroke_last = point
        else:
            super().mousePressEvent(event)
            return
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        if self._pan_last is not None:
            # Scroll by whole pixels and keep the remainder, so slow drags at fractional
            # positions (high-DPI) do not lose motion to rounding.
            dx, dy = round(pos.x() - self._pan_last.x()), round(pos.y() - self._pan_last.y())
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - dx)
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - dy)
            self._pan_last += QPointF(dx, dy)
        elif self._stroke_last is not None:
            self._stroke_to(self.image_pos(pos))
        self._update_outline(pos)
        event.accept()

    def mouseReleaseEvent(self, event) -> None:
        button = event.button()
        if self._pan_last is not None and button in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_last = None
            self._update_cursor()
        elif self._stroke_last is not None and button == Qt.MouseButton.LeftButton:
            point = self.image_pos(event.position())
            if point != self._stroke_last:
                self._stroke_to(point)
            self._stroke_last = None
            self._document.end_stroke()
        else:
            super().mouseReleaseEvent(event)
            return
        event.accept()

    def _stroke_to(self, point: QPointF) -> None:
        last = self._stroke_last
        self._document.paint_segment(last.x(), last.y(), point.x(), point.y(),
                                     self._brush_size_px / 2, self._brush_hardness)
        self._stroke_last = point

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            notches = (event.angleDelta().y() or event.angleDelta().x()) / 120  # trackpads send fractions
            if notches:
                self.set_zoom(self._zoom * ZOOM_STEP ** notches, anchor=event.position())
            event.accept()
            return
        super().wheelEvent(event)

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space:
            self._space_held = True  # auto-repeats land here too, harmlessly
            self._update_cursor()
        elif key == Qt.Key.Key_BracketLeft:
            self.shrink_brush()
        elif key == Qt.Key.Key_BracketRight:
            self.grow_brush()
        elif key == Qt.Key.Key_Escape and self._stroke_last is not None:
            self._stroke_last = None
            self._document.cancel_stroke()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_held = False
            self._update_cursor()
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        self._space_held = False  # its release goes to whichever widget has focus then
        self._update_cursor()
        super().focusOutEvent(event)

    def viewportEvent(self, event) -> bool:
        if event.type() == QEvent.Type.Leave:  # the pointer left the picture area: no outline
            self._outline_items[0].hide()
            self._outline_items[1].hide()
        return super().viewportEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit()

    def _update_cursor(self) -> None:
        self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor if self._pan_last is not None
                                  else Qt.CursorShape.OpenHandCursor if self._space_held
                                  else Qt.CursorShape.CrossCursor)
        self._update_outline()

    def _update_outline(self, viewport_pos: QPointF | None = None) -> None:
        """Centre the brush outline on ``viewport_pos`` (default: where it is) at the brush size."""
        radius_px = self._brush_size_px / 2
        center = self._outline_items[0].rect().center() if viewport_pos is None else self.image_pos(viewport_pos)
        visible = self._pan_last is None and not self._space_held and self._tool != "fill" and (
            viewport_pos is not None or self._outline_items[0].isVisible())
        for item in self._outline_items:
            item.setRect(QRectF(center.x() - radius_px, center.y() - radius_px, 2 * radius_px, 2 * radius_px))
            item.setVisible(visible)
