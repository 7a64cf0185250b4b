"""Document: loading, brush strokes as one undo step each, mask commands, applying images,
and what the undo stack stores (bounding-box patches, not whole layers)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRect

from gui.session import brush
from gui.session.document import Document


@pytest.fixture
def doc(qapp):
    document = Document()
    yy, xx = np.mgrid[0:120, 0:160]
    document.load(np.stack([xx, yy, xx + yy], axis=-1).astype(np.uint8), path="photo.png")
    return document


def stroke(document, points, radius_px=4.0, hardness=1.0, erase=False):
    """One stroke through ``points`` (image px), as the canvas makes it."""
    document.begin_stroke(erase=erase)
    document.paint_dab(*points[0], radius_px, hardness)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        document.paint_segment(x0, y0, x1, y1, radius_px, hardness)
    return document.end_stroke()


def test_load_copies_the_array_and_hands_out_read_only_views(qapp):
    document = Document()
    array = np.zeros((20, 30, 3), np.uint8)
    document.load(array, path="a.png")
    array[:] = 7
    assert document.image.max() == 0
    assert document.mask.shape == (20, 30) and document.mask.dtype == np.uint8
    assert (document.width_px, document.height_px, document.path, document.is_blank) == (30, 20, "a.png", False)
    with pytest.raises(ValueError):
        document.image[0, 0] = 1
    with pytest.raises(ValueError):
        document.mask[0, 0] = 1


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 4), np.uint8),
                                 np.zeros((8, 8, 3), np.float32)])
def test_load_rejects_other_shapes_and_dtypes(doc, bad):
    with pytest.raises(ValueError, match="H×W×3 uint8"):
        doc.load(bad)


def test_new_blank_replaces_everything_and_clears_undo(doc, qtbot):
    stroke(doc, [(10, 10)])
    assert doc.undo_stack.count() == 1 and doc.dirty
    with qtbot.waitSignal(doc.replaced, timeout=100):
        doc.new_blank(64, 48, color=(10, 20, 30))
    assert doc.image.shape == (48, 64, 3) and (doc.image == [10, 20, 30]).all()
    assert not doc.has_mask() and doc.undo_stack.count() == 0
    assert doc.is_blank and doc.path is None and not doc.dirty
    with pytest.raises(ValueError, match="between 8 and"):
        doc.new_blank(4, 64)


def test_a_stroke_is_one_undo_step_and_undo_redo_restore_it(doc):
    assert stroke(doc, [(20, 30), (60, 30), (60, 70)])
    assert doc.undo_stack.count() == 1
    painted = doc.mask.copy()
    for x, y in [(20, 30), (40, 30), (60, 30), (60, 50), (60, 70)]:
        assert painted[y, x] == 255
    assert painted[100, 120] == 0 and painted[50, 30] == 0
    doc.undo_stack.undo()
    assert not doc.has_mask()
    doc.undo_stack.redo()
    np.testing.assert_array_equal(doc.mask, painted)


def test_undo_removes_only_the_last_of_two_strokes(doc):
    stroke(doc, [(20, 20), (50, 20)])
    first = doc.mask.copy()
    stroke(doc, [(20, 90), (50, 90)])
    assert doc.undo_stack.count() == 2 and doc.mask[90, 35] == 255
    doc.undo_stack.undo()
    np.testing.assert_array_equal(doc.mask, first)
    doc.undo_stack.redo()
    assert doc.mask[90, 35] == 255 and doc.mask[20, 35] == 255


def test_overlapping_strokes_undo_to_the_exact_previous_mask(doc):
    """The second stroke crosses the first across tile boundaries; its before-patch must hold
    the first stroke's pixels, not zeros."""
    stroke(doc, [(5, 60), (155, 60)], radius_px=6)
    first = doc.mask.copy()
    stroke(doc, [(130, 5), (130, 115)], radius_px=6, erase=True)
    assert doc.mask[60, 130] == 0 and doc.mask[60, 100] == 255
    doc.undo_stack.undo()
    np.testing.assert_array_equal(doc.mask, first)


def test_eraser_removes_mask(doc):
    stroke(doc, [(20, 50), (140, 50)], radius_px=8)
    stroke(doc, [(80, 30), (80, 70)], radius_px=5, erase=True)
    assert doc.mask[50, 80] == 0 and doc.mask[50, 20] == 255 and doc.mask[50, 140] == 255
    assert doc.undo_stack.undoText() == "Eraser stroke"


def test_hard_dab_is_an_exact_disc(doc):
    stroke(doc, [(80.0, 60.0)], radius_px=10.0)
    yy, xx = np.mgrid[0:120, 0:160]
    inside = (xx + 0.5 - 80) ** 2 + (yy + 0.5 - 60) ** 2 <= 100
    np.testing.assert_array_equal(doc.mask, np.where(inside, 255, 0))


def test_soft_dabs_fade_and_do_not_build_up_within_a_stroke(doc):
    doc.begin_stroke()
    doc.paint_dab(80, 60, 20, hardness=0.0)
    once = doc.mask.copy()
    for _ in range(5):
        doc.paint_dab(80, 60, 20, hardness=0.0)
    doc.end_stroke()
    np.testing.assert_array_equal(doc.mask, once)
    assert once[60, 80] > 240 and 0 < once[60, 92] < 200 and once[60, 101] == 0


def test_dabs_are_spaced_at_most_a_quarter_radius_apart():
    points = brush.dab_centers(0, 0, 30, 40, brush.dab_spacing_px(8.0))
    steps = np.hypot(*np.diff(np.vstack([[0, 0], points]), axis=0).T)
    assert steps.max() <= 2.0 + 1e-9 and tuple(points[-1]) == (30, 40)


def test_a_fast_thin_stroke_leaves_no_gaps(doc):
    stroke(doc, [(2.5, 2.5), (150.5, 110.5)], radius_px=1.0)
    for t in np.linspace(0, 1, 200):
        x, y = 2.5 + 148 * t, 2.5 + 108 * t
        assert doc.mask[int(y), int(x)] == 255


def test_a_stroke_outside_the_image_records_nothing(doc):
    assert not stroke(doc, [(-50, -50), (-20, -40)])
    assert doc.undo_stack.count() == 0


def test_strokes_store_only_their_bounding_box(qapp):
    document = Document()
    document.load(np.zeros((3000, 4000, 3), np.uint8))
    stroke(document, [(1000, 1000), (1100, 1040)], radius_px=10)
    command = document.undo_stack.command(0)
    assert command.rect == QRect(990, 990, 120, 60)  # pixel centres within 10 px of the path
    assert command.nbytes == 2 * 120 * 60  # before + after, uint8
    assert command.nbytes < document.image.nbytes / 1000


def test_mask_changed_reports_the_painted_rect_on_edit_undo_and_redo(doc, qtbot):
    rects = []
    doc.mask_changed.connect(rects.append)
    stroke(doc, [(40, 40)], radius_px=3)
    assert rects == [QRect(37, 37, 6, 6)]
    doc.undo_stack.undo()
    doc.undo_stack.redo()
    assert rects[1:] == [QRect(37, 37, 6, 6)] * 2


def test_cancel_stroke_restores_the_mask_and_records_nothing(doc):
    stroke(doc, [(20, 20)], radius_px=8)
    before = doc.mask.copy()
    doc.begin_stroke(erase=True)
    doc.paint_segment(0, 20, 150, 20, 8)
    doc.cancel_stroke()
    np.testing.assert_array_equal(doc.mask, before)
    assert doc.undo_stack.count() == 1


def test_clear_and_invert_are_each_one_undoable_command(doc):
    stroke(doc, [(20, 20), (60, 20)])
    painted = doc.mask.copy()
    assert doc.clear_mask()
    assert not doc.has_mask() and doc.undo_stack.count() == 2
    assert not doc.clear_mask()  # nothing to clear: no empty undo step
    doc.undo_stack.undo()
    np.testing.assert_array_equal(doc.mask, painted)
    doc.invert_mask()
    np.testing.assert_array_equal(doc.mask, 255 - painted)
    assert doc.undo_stack.command(doc.undo_stack.count() - 1).nbytes == 0
    doc.undo_stack.undo()
    np.testing.assert_array_equal(doc.mask, painted)
    doc.undo_stack.redo()
    np.testing.assert_array_equal(doc.mask, 255 - painted)


def test_mask_bounds_and_set_mask(doc):
    assert doc.mask_bounds().isEmpty()
    new_mask = np.zeros((120, 160), np.uint8)
    new_mask[10:20, 30:70] = 128
    assert doc.set_mask(new_mask)
    assert doc.mask_bounds() == QRect(30, 10, 40, 10)
    with pytest.raises(ValueError, match="like the image"):
        doc.set_mask(np.zeros((10, 10), np.uint8))


def test_apply_image_is_undoable_and_stores_the_changed_box(doc, qtbot):
    original = doc.image.copy()
    result = original.copy()
    result[40:50, 100:130] = [200, 10, 10]
    rects = []
    doc.image_changed.connect(rects.append)
    assert doc.apply_image(result, "Inpaint")
    np.testing.assert_array_equal(doc.image, result)
    command = doc.undo_stack.command(0)
    assert command.text() == "Inpaint" and command.rect == QRect(100, 40, 30, 10)
    assert command.nbytes == 2 * 30 * 10 * 3
    doc.undo_stack.undo()
    np.testing.assert_array_equal(doc.image, original)
    doc.undo_stack.redo()
    np.testing.assert_array_equal(doc.image, result)
    assert rects == [QRect(100, 40, 30, 10)] * 3
    assert not doc.apply_image(result)  # unchanged: no command
    with pytest.raises(ValueError, match="like the document"):
        doc.apply_image(np.zeros((10, 10, 3), np.uint8))


def test_dirty_follows_the_undo_stack_and_mark_saved(doc):
    assert not doc.dirty
    stroke(doc, [(10, 10)])
    assert doc.dirty
    doc.undo_stack.undo()
    assert not doc.dirty
    doc.undo_stack.redo()
    doc.mark_saved("out.png")
    assert not doc.dirty and doc.path == "out.png"


def test_undo_memory_stays_within_its_budget_and_every_step_still_undoes(tmp_path):
    doc = Document()
    doc.load(np.zeros((300, 400, 3), np.uint8))
    doc.undo_store.budget_bytes = 2 * 300 * 400 * 3 + 1  # one full-image step (before + after)
    states = [doc.image.copy()]
    rng = np.random.default_rng(0)
    for _ in range(5):
        assert doc.apply_image(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8), "Heal")
        states.append(doc.image.copy())
        assert doc.undo_memory_bytes() <= doc.undo_store.budget_bytes
    spilled = list(doc.undo_store.folder.iterdir())
    assert len(spilled) == 8  # the four older steps' patches moved to disk
    for expected in reversed(states[:-1]):
        doc.undo_stack.undo()
        assert np.array_equal(doc.image, expected)
    for expected in states[1:]:
        doc.undo_stack.redo()
        assert np.array_equal(doc.image, expected)
    # A new picture drops the history, and with it the files on disk
    doc.load(np.zeros((10, 10, 3), np.uint8))
    import gc

    gc.collect()
    assert not any(doc.undo_store.folder.iterdir())


def test_a_full_disk_keeps_undo_steps_in_memory(monkeypatch):
    import errno

    def full_disk(*_args, **_kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("gui.session.undo_store.open", full_disk, raising=False)
    doc = Document()
    doc.load(np.zeros((30, 40, 3), np.uint8))
    doc.undo_store.budget_bytes = 1
    for value in (10, 20, 30):
        assert doc.apply_image(np.full((30, 40, 3), value, np.uint8))
    assert doc.undo_memory_bytes() == 3 * 2 * 30 * 40 * 3  # nothing could move; nothing lost
    for value in (20, 10, 0):
        doc.undo_stack.undo()
        assert (doc.image == value).all()


def test_image_edits_make_a_blank_canvas_a_picture_until_undone(qapp):
    document = Document()
    document.new_blank(64, 48)
    stroke(document, [(10, 10)])
    assert document.is_blank  # a mask alone does not make a picture
    assert document.apply_image(np.zeros((48, 64, 3), np.uint8), "Apply result")
    assert not document.is_blank
    document.undo_stack.undo()
    assert document.is_blank
    document.undo_stack.redo()
    assert not document.is_blank
