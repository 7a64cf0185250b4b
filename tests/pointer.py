"""Mouse input sent to a canvas viewport, and the colour it shows, for GUI tests."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication


def send_mouse(view, kind, pos, button=Qt.MouseButton.LeftButton, buttons=None):
    """A mouse event at ``pos`` (viewport logical px, floats allowed) sent to the viewport."""
    if buttons is None:
        buttons = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseButtonRelease else button
    if kind == QEvent.Type.MouseMove:
        button = Qt.MouseButton.NoButton
    local = QPointF(*pos)
    global_pos = view.viewport().mapToGlobal(local)
    event = QMouseEvent(kind, local, global_pos, button, buttons, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(view.viewport(), event)


def drag(view, points, button=Qt.MouseButton.LeftButton):
    send_mouse(view, QEvent.Type.MouseButtonPress, points[0], button)
    for point in points[1:]:
        send_mouse(view, QEvent.Type.MouseMove, point, button)
    send_mouse(view, QEvent.Type.MouseButtonRelease, points[-1], button)


def screen_rgb(view, viewport_pos):
    """Colour the viewport shows at a logical position (grab is in device pixels)."""
    image = view.viewport().grab().toImage()
    dpr = image.devicePixelRatio()
    color = image.pixelColor(int(viewport_pos[0] * dpr), int(viewport_pos[1] * dpr))
    return color.red(), color.green(), color.blue()


def shown_canvas(qtbot, document, size=(400, 300)):
    """A CanvasView of ``document``, shown at ``size`` and exposed: what it draws can be read."""
    from gui.canvas.view import CanvasView

    canvas = CanvasView(document)
    qtbot.addWidget(canvas)
    canvas.resize(*size)
    canvas.show()
    qtbot.waitExposed(canvas)
    return canvas
