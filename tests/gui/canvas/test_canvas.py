"""CanvasView: pointer → image-pixel mapping at several zooms and device pixel ratios, tools,
zoom and pan, and what the viewport shows (mask overlay, previews, applied images)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, QRect, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from gui.canvas.layers import MASK_OPACITY, MASK_RGB
from gui.session.document import Document
from pointer import drag, screen_rgb, shown_canvas

GRAY = 100
# Set by test_drag_paints_at_device_pixel_ratio_2 for the copy of the drag test it runs.
EXPECTED_DPR = float(os.environ["KILN_TEST_EXPECT_DPR"]) if "KILN_TEST_EXPECT_DPR" in os.environ else None


@pytest.fixture
def doc(qapp):
    document = Document()
    document.load(np.full((600, 800, 3), GRAY, np.uint8))
    return document


@pytest.fixture
def view(qtbot, doc):
    return shown_canvas(qtbot, doc)


def send_wheel(view, pos, angle_delta_y, modifiers):
    """One wheel notch (120) or its fraction at ``pos`` (viewport logical px)."""
    event = QWheelEvent(pos, view.viewport().mapToGlobal(pos), QPoint(0, 0), QPoint(0, angle_delta_y),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(view.viewport(), event)


@pytest.mark.parametrize("zoom", [1.0, 2.5])
def test_drag_paints_at_the_mapped_image_pixels(view, doc, zoom):
    if EXPECTED_DPR is not None:
        assert view.devicePixelRatioF() == EXPECTED_DPR
    view.set_zoom(zoom)
    view.horizontalScrollBar().setValue(37)
    view.verticalScrollBar().setValue(23)
    view.brush_size_px = 10
    start, end = (50.0, 60.0), (250.5, 200.25)
    path = [tuple(s + (e - s) * t for s, e in zip(start, end)) for t in np.linspace(0, 1, 6)]
    drag(view, path)

    def expected(pos):  # the known transform: scene is image px, scaled by zoom, then scrolled
        return int((pos[0] + 37) / zoom), int((pos[1] + 23) / zoom)

    mid = tuple((s + e) / 2 for s, e in zip(start, end))
    for x, y in (expected(start), expected(mid), expected(end)):
        assert doc.mask[y, x] == 255, (x, y)
    assert doc.undo_stack.count() == 1
    painted_y, painted_x = np.nonzero(doc.mask)
    ex0, ey0 = expected(start)
    ex1, ey1 = expected(end)
    # Nothing beyond the brush radius (5 px) of the stroke's ends.
    assert painted_x.min() >= ex0 - 6 and painted_x.max() <= ex1 + 6
    assert painted_y.min() >= ey0 - 6 and painted_y.max() <= ey1 + 6
    assert doc.mask[5, 700] == 0 and doc.mask[590, 10] == 0
    if zoom != 1:
        # Where a mapping that ignored the zoom would have painted the stroke's end.
        wrong_x, wrong_y = int(end[0] + 37), int(end[1] + 23)
        assert doc.mask[wrong_y, wrong_x] == 0
    dpr = view.devicePixelRatioF()
    assert view.viewport().grab().toImage().width() == round(view.viewport().width() * dpr)
    red, green, _blue = screen_rgb(view, mid)
    assert red > green + 80  # the overlay is drawn where the stroke is, in device pixels too


def test_drag_paints_at_device_pixel_ratio_2():
    """The drag test again in a fresh process with QT_SCALE_FACTOR=2 (pytest-qt's one
    QApplication per session cannot change its device pixel ratio)."""
    root = Path(__file__).resolve().parents[3]
    env = dict(os.environ, QT_SCALE_FACTOR="2", KILN_TEST_EXPECT_DPR="2", QT_QPA_PLATFORM="offscreen")
    node = f"{Path(__file__).resolve()}::test_drag_paints_at_the_mapped_image_pixels"
    result = subprocess.run([sys.executable, "-m", "pytest", node, "-q", "-p", "no:cacheprovider"],
                            cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "2 passed" in result.stdout


def test_eraser_and_undo_through_the_canvas(view, doc):
    view.set_zoom(1.0)
    offset = (view.horizontalScrollBar().value(), view.verticalScrollBar().value())
    view.brush_size_px = 20
    drag(view, [(20, 100), (120, 100), (220, 100)])
    drag(view, [(20, 200), (220, 200)])
    view.set_tool("eraser")
    drag(view, [(120, 60), (120, 240)])

    def at(vx, vy):  # mask under a viewport position at zoom 1
        return doc.mask[int(vy + offset[1]), int(vx + offset[0])]

    assert at(120, 100) == 0 and at(120, 200) == 0 and at(60, 100) == 255
    assert doc.undo_stack.count() == 3
    doc.undo_stack.undo()
    assert at(120, 100) == 255 and at(120, 200) == 255
    doc.undo_stack.undo()
    assert at(120, 100) == 255 and at(120, 200) == 0
    with pytest.raises(ValueError, match="unknown tool"):
        view.set_tool("lasso")


def test_mask_overlay_follows_edits_and_undo(view, doc):
    view.set_zoom(1.0)
    drag(view, [(100, 100), (200, 100)])
    shown = screen_rgb(view, (150, 100))
    blended = [c * MASK_OPACITY + GRAY * (1 - MASK_OPACITY) for c in MASK_RGB]  # about (170, 73, 73)
    assert all(abs(s - b) <= 3 for s, b in zip(shown, blended)), shown
    assert screen_rgb(view, (150, 200)) == (GRAY, GRAY, GRAY)
    doc.undo_stack.undo()
    assert screen_rgb(view, (150, 100)) == (GRAY, GRAY, GRAY)
    doc.invert_mask()
    assert screen_rgb(view, (150, 200))[0] > 160


def test_applied_image_shows_and_undo_restores_it(view, doc):
    view.set_zoom(1.0)
    corner = view.image_pos(QPointF(0, 0))
    x0, y0 = int(corner.x()), int(corner.y())
    result = doc.image.copy()
    result[y0 + 50 : y0 + 80, x0 + 60 : x0 + 90] = [0, 200, 0]
    doc.apply_image(result)
    assert screen_rgb(view, (75, 65)) == (0, 200, 0)
    assert screen_rgb(view, (40, 65)) == (GRAY, GRAY, GRAY)
    doc.undo_stack.undo()
    assert screen_rgb(view, (75, 65)) == (GRAY, GRAY, GRAY)


def test_preview_is_scaled_smoothly_into_its_rect_and_cleared(view, doc):
    view.set_zoom(1.0)
    corner = view.image_pos(QPointF(0, 0))
    target = QRect(int(corner.x()) + 40, int(corner.y()) + 40, 200, 100)
    black_white = np.zeros((1, 2, 3), np.uint8)
    black_white[0, 1] = 255
    view.show_preview(black_white, target)
    assert view.preview_visible
    left, middle, right = (screen_rgb(view, (x, 90)) for x in (45, 140, 235))
    assert left[0] < 20 and right[0] > 235 and 60 < middle[0] < 200  # interpolated, not blocky
    assert screen_rgb(view, (20, 90)) == (GRAY, GRAY, GRAY)
    view.clear_preview()
    assert not view.preview_visible and screen_rgb(view, (140, 90)) == (GRAY, GRAY, GRAY)
    with pytest.raises(ValueError, match="h×w×3 or h×w×4 uint8"):
        view.show_preview(np.zeros((4, 4), np.uint8), target)


def test_ctrl_wheel_zooms_about_the_cursor(view, qtbot):
    view.set_zoom(1.0)
    cursor = QPointF(120.0, 80.0)
    under = view.image_pos(cursor)
    with qtbot.waitSignal(view.zoom_changed, timeout=100) as blocker:
        send_wheel(view, cursor, 120, Qt.KeyboardModifier.ControlModifier)
    assert blocker.args == [pytest.approx(1.25)] and view.zoom == pytest.approx(1.25)
    after = view.image_pos(cursor)
    assert abs(after.x() - under.x()) <= 0.5 and abs(after.y() - under.y()) <= 0.5


def test_plain_wheel_scrolls_without_zooming(view):
    view.set_zoom(1.0)
    before = view.verticalScrollBar().value()
    cursor = QPointF(120.0, 80.0)
    send_wheel(view, cursor, -120, Qt.KeyboardModifier.NoModifier)
    assert view.zoom == 1.0 and view.verticalScrollBar().value() > before


def test_zoom_steps_clamp_and_fit(view, doc):
    view.set_zoom(2.0)
    view.zoom_in()
    assert view.zoom == pytest.approx(2.5)
    view.zoom_out()
    view.zoom_out()
    assert view.zoom == pytest.approx(1.6)
    view.set_zoom(1000)
    assert view.zoom == 64
    view.fit()
    shown = view.mapFromScene(view.sceneRect()).boundingRect()
    assert view.viewport().rect().contains(shown) and view.zoom < 0.5
    doc.load(np.zeros((40, 30, 3), np.uint8))  # a new picture is fitted too
    assert view.sceneRect().size().toSize() == doc.size and view.zoom > 5


@pytest.mark.parametrize("button", ["middle", "space"])
def test_pan_drags_the_view_and_does_not_paint(view, doc, button):
    view.set_zoom(2.0)
    view.horizontalScrollBar().setValue(300)
    view.verticalScrollBar().setValue(300)
    if button == "space":
        QTest.keyPress(view, Qt.Key.Key_Space)
        drag(view, [(200, 150), (170, 140), (150, 120)], Qt.MouseButton.LeftButton)
        QTest.keyRelease(view, Qt.Key.Key_Space)
    else:
        drag(view, [(200, 150), (170, 140), (150, 120)], Qt.MouseButton.MiddleButton)
    assert (view.horizontalScrollBar().value(), view.verticalScrollBar().value()) == (350, 330)
    assert not doc.has_mask() and doc.undo_stack.count() == 0


def test_brush_size_steps_keys_and_clamps(view, qtbot):
    view.brush_size_px = 40
    with qtbot.waitSignal(view.brush_size_changed, timeout=100):
        QTest.keyClick(view, Qt.Key.Key_BracketRight)
    assert view.brush_size_px == 50
    view.grow_brush()
    assert view.brush_size_px == 62
    QTest.keyClick(view, Qt.Key.Key_BracketLeft)
    assert view.brush_size_px == 50
    view.brush_size_px = 1
    view.shrink_brush()
    assert view.brush_size_px == 1
    view.grow_brush()
    assert view.brush_size_px == 2
    view.brush_size_px = 5000
    assert view.brush_size_px == 1000
    view.brush_hardness = 3
    assert view.brush_hardness == 1.0


def test_soft_brush_through_the_canvas_leaves_partial_edges(view, doc):
    view.set_zoom(1.0)
    view.brush_size_px = 40
    view.brush_hardness = 0.2
    drag(view, [(100, 100), (200, 100)])
    row = doc.mask[int(view.image_pos(QPointF(150, 100)).y())]
    values = set(np.unique(row).tolist())
    assert 255 in values and len(values - {0, 255}) > 3
