"""The paint layer: colour strokes land exactly where and as strong as asked, one undo step each;
eraser, fill, visibility, clear and merge; the canvas draws paint between the photo and the mask.
In the editor (shortcuts, Sketch to image, export): ``test_paint_editor.py``."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QRect

from gui.canvas.view import CanvasView
from gui.canvas.layers import MASK_OPACITY, MASK_RGB
from gui.session.document import Document
from gui.session.paint_layer import composite_paint, flood_region, paint_over
from painting import RED, gradient, paint_stroke
from pointer import drag, screen_rgb, send_mouse


@pytest.fixture
def doc(qapp):
    document = Document()
    document.load(gradient(), path="photo.png")
    return document


def disc(shape, x, y, radius_px):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (xx + 0.5 - x) ** 2 + (yy + 0.5 - y) ** 2 <= radius_px**2


def alpha_over(photo, color, alpha):
    """The composite the user must see: colour at ``alpha`` (H×W, 0..255) over the photo."""
    a = alpha.astype(np.int64)[..., None]
    return ((photo.astype(np.int64) * (255 - a) + np.asarray(color) * a + 127) // 255).astype(np.uint8)


# --- the document's paint layer ---------------------------------------------------------------


def test_a_stroke_lays_its_colour_at_its_opacity_exactly_and_undoes_in_one_step(doc):
    photo = doc.image.copy()
    assert paint_stroke(doc, [(50.0, 40.0)], opacity=0.6, radius_px=10.0)
    inside = disc(photo.shape, 50.0, 40.0, 10.0)
    assert np.array_equal(doc.paint[..., 3], np.where(inside, 153, 0))  # round(0.6 × 255)
    assert (doc.paint[inside][:, :3] == RED).all()
    np.testing.assert_array_equal(doc.composite(), alpha_over(photo, RED, np.where(inside, 153, 0)))
    assert np.array_equal(doc.image, photo)  # the photo itself is untouched
    assert doc.undo_stack.count() == 1 and doc.undo_stack.undoText() == "Paint stroke"
    command = doc.undo_stack.command(0)
    assert command.rect == QRect(40, 30, 20, 20) and command.nbytes == 2 * 20 * 20 * 4
    doc.undo_stack.undo()
    assert not doc.has_paint() and np.array_equal(doc.composite(), photo)
    doc.undo_stack.redo()
    np.testing.assert_array_equal(doc.composite(), alpha_over(photo, RED, np.where(inside, 153, 0)))


def test_opacity_does_not_build_up_within_a_stroke_but_does_across_strokes(doc):
    # A stroke back and forth over itself, with dabs overlapping everywhere: alpha stays 128.
    paint_stroke(doc, [(20, 60), (140, 60), (20, 62), (140, 58)], opacity=0.5, radius_px=8)
    alpha = doc.paint[..., 3]
    assert set(np.unique(alpha).tolist()) == {0, 128}
    # Soft dabs repeated at one point give the same alpha as one dab.
    doc.begin_stroke(layer="paint", color=RED, opacity=0.5)
    doc.paint_dab(80, 20, 10, hardness=0.0)
    once = doc.paint.copy()
    for _ in range(5):
        doc.paint_dab(80, 20, 10, hardness=0.0)
    doc.end_stroke()
    np.testing.assert_array_equal(doc.paint, once)
    # A second stroke lays itself over the first: 128 + 128 × (1 - 128/255) = 192.
    paint_stroke(doc, [(80, 50), (80, 70)], color=(0, 0, 255), opacity=0.5, radius_px=3)
    pixel = doc.paint[60, 80]
    assert pixel[3] == 192
    expected_rgb = (np.array((0, 0, 255)) * 128 + np.array(RED) * 128 * 127 / 255) / (128 + 128 * 127 / 255)
    assert np.abs(pixel[:3].astype(float) - expected_rgb).max() <= 0.5
    assert doc.undo_stack.count() == 3


def test_overlapping_paint_strokes_across_tiles_undo_to_the_exact_previous_layer(qapp):
    """The second stroke crosses the first over several 128 px tiles; its before-patch must
    hold the first stroke's paint, and its colour must lie over it, not replace it."""
    document = Document()
    document.load(gradient(300, 400))
    paint_stroke(document, [(5, 150), (395, 150)], opacity=0.5, radius_px=20)
    first = document.paint.copy()
    paint_stroke(document, [(260, 5), (260, 295)], color=(0, 90, 255), opacity=0.5, radius_px=20)
    assert document.paint[150, 260, 3] == 192 and document.paint[60, 260, 3] == 128
    document.undo_stack.undo()
    np.testing.assert_array_equal(document.paint, first)


def test_paint_over_is_exact_at_its_ends():
    before = np.zeros((2, 2, 4), np.uint8)
    before[0, 0] = (10, 20, 30, 255)
    alpha = np.array([[0, 255], [77, 0]], np.uint8)
    out = paint_over(before, (1, 2, 3), alpha)
    assert tuple(out[0, 0]) == (10, 20, 30, 255)  # alpha 0 leaves the pixel
    assert tuple(out[0, 1]) == (1, 2, 3, 255)
    assert tuple(out[1, 0]) == (1, 2, 3, 77)  # over transparency: exactly (colour, alpha)
    assert tuple(out[1, 1]) == (0, 0, 0, 0)


def test_paint_eraser_removes_paint_not_the_photo(doc):
    photo = doc.image.copy()
    paint_stroke(doc, [(20, 60), (140, 60)], radius_px=10)
    paint_stroke(doc, [(80, 40), (80, 80)], radius_px=4, erase=True)
    assert doc.paint[60, 80, 3] == 0 and doc.paint[60, 30, 3] == 255
    assert doc.undo_stack.undoText() == "Paint eraser stroke"
    assert np.array_equal(doc.composite()[60, 80], photo[60, 80])
    paint_stroke(doc, [(120, 40), (120, 80)], radius_px=4, erase=True, opacity=0.5)
    assert doc.paint[60, 120, 3] == 127  # 255 × (1 - 128/255)
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.paint[60, 80, 3] == 255 and doc.paint[60, 120, 3] == 255


def test_cancelled_paint_stroke_restores_the_layer(doc):
    paint_stroke(doc, [(20, 20)], radius_px=8)
    before = doc.paint.copy()
    doc.begin_stroke(layer="paint", color=(0, 255, 0))
    doc.paint_segment(0, 20, 150, 20, 8)
    doc.cancel_stroke()
    np.testing.assert_array_equal(doc.paint, before)
    assert doc.undo_stack.count() == 1
    with pytest.raises(ValueError, match="'mask' or the 'paint'"):
        doc.begin_stroke(layer="image")


def test_fill_covers_the_contiguous_region_of_the_picture_as_shown(qapp):
    document = Document()
    photo = np.full((60, 80, 3), 100, np.uint8)
    photo[:, 60:] = 200  # a different colour: the fill stops there
    document.load(photo)
    paint_stroke(document, [(30, -5), (30, 65)], color=(0, 0, 0), radius_px=2)  # a wall of paint
    assert document.fill_paint(10.5, 30.5, RED, opacity=0.5)
    alpha = document.paint[..., 3]
    assert (alpha[:, :28] == 128).all() and (alpha[:, 33:60] == 0).all() and (alpha[:, 60:] == 0).all()
    assert document.undo_stack.count() == 2 and document.undo_stack.undoText() == "Fill"
    document.undo_stack.undo()
    assert (document.paint[:, :28, 3] == 0).all()
    assert not document.fill_paint(500, 10, RED)  # outside: nothing
    assert document.undo_stack.count() == 2


def test_flood_region_is_the_4_connected_piece_within_tolerance_of_the_seed():
    picture = np.full((700, 900, 3), (100, 150, 200), np.uint8)
    picture[300, :] = (100, 150, 211)  # one level past the tolerance in one channel: a wall...
    picture[300, 450] = (110, 140, 210)  # ...with a gap exactly at the tolerance in every channel
    picture[600:, 800:] = (40, 40, 40)  # a dark corner...
    picture[600, 800] = picture[601, 801] = (100, 150, 200)  # ...with two light pixels, touching diagonally
    region = flood_region(picture, 10, 10, tolerance=10)
    # The whole picture but the wall and the dark corner, found beyond the first search window.
    expected = np.ones((700, 900), bool)
    expected[300, :] = False
    expected[300, 450] = True
    expected[600:, 800:] = False
    expected[600, 800] = True
    np.testing.assert_array_equal(region, expected)
    assert flood_region(picture, 801, 601, tolerance=10).sum() == 1  # diagonal neighbours are not connected
    assert not flood_region(picture, 900, 10).any()


def test_hidden_paint_is_kept_but_left_out_and_painting_shows_it(doc, qtbot):
    photo = doc.image.copy()
    paint_stroke(doc, [(40, 40)], radius_px=8)
    painted = doc.composite()
    with qtbot.waitSignal(doc.paint_visibility_changed, timeout=100) as blocker:
        doc.set_paint_visible(False)
    assert blocker.args == [False]
    assert doc.has_paint() and np.array_equal(doc.composite(), photo)
    doc.begin_stroke(layer="paint", color=RED)
    assert doc.paint_visible
    doc.cancel_stroke()
    np.testing.assert_array_equal(doc.composite(), painted)


def test_clear_and_merge_are_each_one_undo_step(doc):
    photo = doc.image.copy()
    paint_stroke(doc, [(30, 30), (90, 30)], opacity=0.8)
    painted, composite = doc.paint.copy(), doc.composite()
    assert doc.clear_paint() and not doc.has_paint()
    assert not doc.clear_paint()
    doc.undo_stack.undo()
    np.testing.assert_array_equal(doc.paint, painted)
    assert doc.merge_paint()
    np.testing.assert_array_equal(doc.image, composite)
    assert not doc.has_paint() and doc.undo_stack.undoText() == "Merge paint"
    doc.undo_stack.undo()
    np.testing.assert_array_equal(doc.image, photo)
    np.testing.assert_array_equal(doc.paint, painted)


def test_a_new_picture_clears_the_paint(doc):
    paint_stroke(doc, [(30, 30)])
    doc.set_paint_visible(False)
    doc.load(np.zeros((20, 30, 3), np.uint8))
    assert doc.paint.shape == (20, 30, 4) and not doc.has_paint() and doc.paint_visible
    with pytest.raises(ValueError):
        doc.paint[0, 0, 0] = 1


def test_composite_paint_touches_only_the_painted_box():
    image = gradient()
    paint = np.zeros((120, 160, 4), np.uint8)
    paint[10:12, 20:23] = (255, 255, 255, 255)
    out = composite_paint(image, paint)
    changed = np.any(out != image, axis=2)
    assert changed[10:12, 20:23].all() and changed.sum() <= 6


# --- the canvas ---------------------------------------------------------------------------------


@pytest.fixture
def view(qtbot, qapp):
    document = Document()
    document.load(np.full((600, 800, 3), 100, np.uint8))
    canvas = CanvasView(document)
    qtbot.addWidget(canvas)
    canvas.resize(400, 300)
    canvas.show()
    qtbot.waitExposed(canvas)
    canvas.set_zoom(1.0)
    return canvas


def test_canvas_draws_paint_between_the_photo_and_the_mask(view):
    doc = view.document
    view.set_tool("paint")
    view.paint_color = RED
    view.brush_size_px = 20
    drag(view, [(50, 100), (300, 100)])
    assert doc.undo_stack.count() == 1 and doc.paint_visible
    assert screen_rgb(view, (100, 100)) == RED  # opaque paint shows exactly
    assert screen_rgb(view, (100, 200)) == (100, 100, 100)
    view.set_tool("brush")
    drag(view, [(200, 60), (200, 140)])  # mask over the paint
    shown = screen_rgb(view, (200, 100))
    over_paint = [m * MASK_OPACITY + p * (1 - MASK_OPACITY) for m, p in zip(MASK_RGB, RED)]
    assert all(abs(s - e) <= 3 for s, e in zip(shown, over_paint)), shown
    doc.set_paint_visible(False)
    assert screen_rgb(view, (100, 100)) == (100, 100, 100)
    doc.set_paint_visible(True)
    view.set_tool("paint eraser")
    drag(view, [(100, 80), (100, 120)])
    assert screen_rgb(view, (100, 100)) == (100, 100, 100)
    assert doc.undo_stack.count() == 3
    doc.undo_stack.undo()
    assert screen_rgb(view, (100, 100)) == RED


def test_canvas_paints_at_half_opacity_and_fills_on_click(view):
    doc = view.document
    view.set_tool("paint")
    view.paint_color = (250, 250, 250)
    view.paint_opacity = 0.5
    view.brush_size_px = 10
    drag(view, [(40, 50), (80, 50)])
    shown = screen_rgb(view, (55, 50))  # away from the brush outline, which stays at (80, 50)
    assert all(abs(c - (250 * 128 + 100 * 127) / 255) <= 2 for c in shown), shown
    view.set_tool("fill")
    view.paint_color = (0, 0, 255)
    view.paint_opacity = 1.0
    send_mouse(view, QEvent.Type.MouseButtonPress, (200, 200))
    send_mouse(view, QEvent.Type.MouseButtonRelease, (200, 200))
    assert screen_rgb(view, (300, 250)) == (0, 0, 255)
    assert screen_rgb(view, (55, 50))[2] < 255  # the painted stroke has another colour: not filled
    assert doc.undo_stack.count() == 2 and doc.undo_stack.undoText() == "Fill"
    with pytest.raises(ValueError, match="unknown tool"):
        view.set_tool("spray")


# --- the editor ---------------------------------------------------------------------------------
