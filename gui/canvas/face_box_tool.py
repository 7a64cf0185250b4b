"""The face box tool on the canvas, and the face boxes drawn over the picture.

``FaceBoxTool`` watches a ``CanvasView``'s pointer while it is on (Image → Faces → Face box tool,
F): a drag on the picture draws a box, a drag inside a box moves it, a drag on its edge or corner
resizes it; each is one edit of ``gui.session.face_boxes.FaceBoxes`` (one undo step), made when
the button is released. Panning (middle button, space + drag) and zooming work as ever; the
brush outline is hidden meanwhile. ``FaceBoxesItem`` draws the boxes, numbered, while the model
says they are shown; the box being dragged is drawn where it would go.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen
from PySide6.QtWidgets import QGraphicsItem

from gui.session.face_boxes import FaceBoxes

HANDLE_PX = 7  # screen px around a box edge that grab the edge
CLICK_PX = 4  # a press and release closer than this (screen px) is a click, not a drawn box
BOX_RGB, SELECTED_RGB, SHADOW_RGB = QColor(90, 220, 255), QColor(255, 200, 40), QColor(0, 0, 0, 200)
_CURSORS = {frozenset(): Qt.CursorShape.CrossCursor, frozenset({"move"}): Qt.CursorShape.SizeAllCursor,
            frozenset({"left"}): Qt.CursorShape.SizeHorCursor, frozenset({"right"}): Qt.CursorShape.SizeHorCursor,
            frozenset({"top"}): Qt.CursorShape.SizeVerCursor, frozenset({"bottom"}): Qt.CursorShape.SizeVerCursor,
            frozenset({"left", "top"}): Qt.CursorShape.SizeFDiagCursor,
            frozenset({"right", "bottom"}): Qt.CursorShape.SizeFDiagCursor,
            frozenset({"right", "top"}): Qt.CursorShape.SizeBDiagCursor,
            frozenset({"left", "bottom"}): Qt.CursorShape.SizeBDiagCursor}


class FaceBoxesItem(QGraphicsItem):
    """Draws ``boxes``' boxes (image px = scene units) with their numbers; ``draft`` (index or
    None for a new box, (x, y, w, h) floats) is the box being dragged, drawn instead of it."""

    def __init__(self, boxes: FaceBoxes) -> None:
        super().__init__()
        self._boxes = boxes
        self.draft: tuple[int | None, tuple] | None = None
        self.setZValue(2.5)  # over the previews (a face being restored), under the brush outline
        self.setVisible(boxes.shown)
        boxes.changed.connect(self.update)
        boxes.shown_changed.connect(self.setVisible)

    def boundingRect(self) -> QRectF:
        # The numbers are drawn at screen size, so they may reach past a small box at a low zoom.
        return QRectF(-1e5, -1e5, 2e5 + 60000, 2e5 + 60000)

    def set_draft(self, draft) -> None:
        self.draft = draft
        self.update()

    def paint(self, painter: QPainter, option, widget=None) -> None:
        shapes = [(QRectF(*box), index == self._boxes.selected) for index, box in enumerate(self._boxes.boxes)]
        if self.draft is not None:
            index, box = self.draft
            rect = QRectF(*box).normalized()
            if index is None:
                shapes.append((rect, True))
            elif index < len(shapes):
                shapes[index] = (rect, True)
        font = QFont(painter.font())
        font.setBold(True)
        for number, (rect, selected) in enumerate(shapes, start=1):
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(_cosmetic(SHADOW_RGB, 3.5))  # dark under light: seen on any photo
            painter.drawRect(rect)
            painter.setPen(_cosmetic(SELECTED_RGB if selected else BOX_RGB, 1.5))
            painter.drawRect(rect)
            # The number at the top-left corner, at screen size whatever the zoom.
            corner = painter.worldTransform().map(rect.topLeft())
            painter.save()
            painter.resetTransform()
            painter.setFont(font)
            label = str(number)
            width = painter.fontMetrics().horizontalAdvance(label) + 8
            height = painter.fontMetrics().height() + 2
            tag = QRectF(corner.x(), corner.y() - height, width, height)
            painter.fillRect(tag, SELECTED_RGB if selected else BOX_RGB)
            painter.setPen(QColor(0, 0, 0))
            painter.drawText(tag, Qt.AlignmentFlag.AlignCenter, label)
            painter.restore()


def _cosmetic(color: QColor, width: float) -> QPen:
    pen = QPen(color, width)
    pen.setCosmetic(True)  # screen px at any zoom
    return pen


class FaceBoxTool(QObject):
    """The face box tool of ``canvas`` (a ``CanvasView``) over ``boxes``. ``set_active`` turns
    it on and off; signal ``active_changed(bool)``."""

    active_changed = Signal(bool)

    def __init__(self, canvas, boxes: FaceBoxes, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._canvas, self._boxes = canvas, boxes
        self._active = False
        self._gesture: tuple | None = None  # (kind, index, start point, start box, edges)
        self._space_held = False
        self.item = FaceBoxesItem(boxes)
        canvas.scene().addItem(self.item)
        canvas.viewport().installEventFilter(self)
        canvas.installEventFilter(self)

    @property
    def active(self) -> bool:
        return self._active

    def set_active(self, active: bool) -> None:
        active = bool(active)
        if active == self._active:
            return
        self._active = active
        self._gesture = None
        self.item.set_draft(None)
        self._boxes.set_shown("tool", active)
        viewport = self._canvas.viewport()
        if active:  # the brush outline goes as when the pointer leaves the picture
            self._canvas.viewportEvent(QEvent(QEvent.Type.Leave))
        viewport.setCursor(Qt.CursorShape.CrossCursor)
        self.active_changed.emit(active)

    # --- pointer --------------------------------------------------------------------------------

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        kind = event.type()
        if watched is self._canvas:
            if kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease) and event.key() == Qt.Key.Key_Space:
                self._space_held = kind == QEvent.Type.KeyPress or event.isAutoRepeat()
            elif kind == QEvent.Type.FocusOut:
                self._space_held = False
            return False
        if not self._active:
            return False
        if kind == QEvent.Type.MouseButtonPress:
            return self._press(event)
        if kind == QEvent.Type.MouseMove:
            return self._move(event)
        if kind == QEvent.Type.MouseButtonRelease:
            return self._release(event)
        return False

    def _press(self, event) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or self._space_held or self._gesture is not None:
            return False  # panning is the canvas's
        point = self._canvas.image_pos(event.position())
        index, edges = self._grab(point)
        if index is None:
            self._boxes.select(None)
            self._gesture = ("draw", None, point, None, frozenset())
        else:
            self._boxes.select(index)
            kind = "move" if edges == {"move"} else "resize"
            self._gesture = (kind, index, point, self._boxes.boxes[index], edges)
        return True

    def _move(self, event) -> bool:
        if self._gesture is None:
            if event.buttons() != Qt.MouseButton.NoButton:
                return False  # a pan in progress
            _index, edges = self._grab(self._canvas.image_pos(event.position()))
            self._canvas.viewport().setCursor(_CURSORS.get(edges, Qt.CursorShape.CrossCursor))
            return True  # no brush outline
        self.item.set_draft((self._gesture[1], self._dragged(self._canvas.image_pos(event.position()))))
        return True

    def _release(self, event) -> bool:
        if self._gesture is None or event.button() != Qt.MouseButton.LeftButton:
            return False
        kind, index, start, _box, _edges = self._gesture
        point = self._canvas.image_pos(event.position())
        box = self._dragged(point)
        self._gesture = None
        self.item.set_draft(None)
        moved = (point - start).manhattanLength() * self._canvas.zoom >= CLICK_PX
        if not moved:
            return True  # a click selects (or deselects) only
        if kind == "draw":
            self._boxes.add(box)
        else:
            self._boxes.set_box(index, box, "Move face box" if kind == "move" else "Resize face box")
        return True

    # --- geometry -------------------------------------------------------------------------------

    def _grab(self, point: QPointF) -> tuple[int | None, frozenset]:
        """The box under ``point`` and what a drag there does: its edges to resize, {"move"}
        inside it; (None, ∅) off every box. The selected box's edges win."""
        reach = HANDLE_PX / max(self._canvas.zoom, 1e-6)
        order = list(range(len(self._boxes.boxes) - 1, -1, -1))
        if self._boxes.selected is not None:
            order.insert(0, self._boxes.selected)
        for index in order:
            x, y, w, h = self._boxes.boxes[index]
            px, py = point.x(), point.y()
            if not (x - reach <= px <= x + w + reach and y - reach <= py <= y + h + reach):
                continue
            edges = {name for name, near in (("left", abs(px - x) <= reach), ("right", abs(px - x - w) <= reach),
                                             ("top", abs(py - y) <= reach), ("bottom", abs(py - y - h) <= reach))
                     if near}
            if edges:
                return index, frozenset(edges)
            if x <= px < x + w and y <= py < y + h:
                return index, frozenset({"move"})
        return None, frozenset()

    def _dragged(self, point: QPointF) -> tuple[float, float, float, float]:
        """The box the current gesture makes with the pointer at ``point`` (image px, floats)."""
        kind, _index, start, box, edges = self._gesture
        dx, dy = point.x() - start.x(), point.y() - start.y()
        if kind == "draw":
            return start.x(), start.y(), dx, dy
        x, y, w, h = box
        if kind == "move":  # the whole box stays on the picture
            doc = self._canvas.document
            return (min(max(x + dx, 0), max(doc.width_px - w, 0)), min(max(y + dy, 0), max(doc.height_px - h, 0)),
                    w, h)
        left, top, right, bottom = x, y, x + w, y + h
        left += dx if "left" in edges else 0
        right += dx if "right" in edges else 0
        top += dy if "top" in edges else 0
        bottom += dy if "bottom" in edges else 0
        return left, top, right - left, bottom - top
