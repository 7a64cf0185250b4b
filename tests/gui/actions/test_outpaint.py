"""Outpainting: the canvas grows by the asked amounts in one undo step, the photo's pixels stay
unchanged at their new offset, the new strips are pre-filled and masked with a feathered seam,
the mode becomes Inpaint, and Generate fills the new area on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QDialog

from gui.session.document import Document
from gui.actions.outpaint_actions import OutpaintActions
from gui.dialogs.extend_dialog import ExtendDialog
from gui.session.outpaint import SEAM_PX, extend_layers, prefill, seam_mask
from inference.core.api import Mode
from painting import gradient, paint_stroke


@pytest.fixture
def doc(qapp):
    document = Document()
    document.load(gradient(), path="photo.png")  # 160×120
    return document


def expected_ramp(distance_centre_px):
    return np.rint(255 * np.clip(1 - distance_centre_px / SEAM_PX, 0, 1)).astype(np.uint8)


def test_seam_mask_is_full_in_the_new_strip_and_ramps_to_zero_inside(qapp):
    mask = seam_mask(100, 200, 40, 0, 0, 0)  # 40 px added on the left of a 160×100 picture
    assert (mask[:, :40] == 255).all()
    inside = np.arange(160) + 0.5  # pixel centres' distance from the seam
    np.testing.assert_array_equal(mask[50, 40:], expected_ramp(inside))
    assert (mask == mask[:1]).all()  # the same in every row
    assert mask[0, 40] == 251 and mask[0, 40 + SEAM_PX - 1] == 4 and (mask[:, 40 + SEAM_PX :] == 0).all()
    assert (np.diff(mask[0, 40 : 40 + SEAM_PX].astype(int)) < 0).all()  # falls steadily
    # Two sides: each ramps from its own edge, the larger wins where they meet.
    both = seam_mask(100, 200, 20, 10, 20, 0)
    assert (both[:10] == 255).all() and (both[:, :20] == 255).all() and (both[:, -20:] == 255).all()
    assert both[10, 100] == expected_ramp(np.array([0.5]))[0]
    assert both[99, 100] == 0 and both[99, 179] == expected_ramp(np.array([0.5]))[0]


def test_extend_grows_the_canvas_keeps_the_photo_and_undoes_in_one_step(doc, qtbot):
    photo = doc.image.copy()
    paint_stroke(doc, [(30, 30), (60, 30)])
    doc.begin_stroke()
    doc.paint_dab(100, 100, 5)
    doc.end_stroke()
    old_paint, old_mask = doc.paint.copy(), doc.mask.copy()
    steps = doc.undo_stack.count()
    actions = OutpaintActions(doc)
    with qtbot.waitSignal(doc.resized, timeout=500):
        assert actions.extend(24, 16, 40, 8)
    assert doc.size.width() == 160 + 24 + 40 and doc.size.height() == 120 + 16 + 8
    assert doc.paint.shape == (144, 224, 4) and doc.mask.shape == (144, 224)
    old = (slice(16, 136), slice(24, 184))
    np.testing.assert_array_equal(doc.image[old], photo)  # byte for byte at the new offset
    np.testing.assert_array_equal(doc.paint[old], old_paint)
    assert not doc.paint[:16].any() and not doc.paint[:, :24].any()
    expected_mask = seam_mask(144, 224, 24, 16, 40, 8)
    np.maximum(expected_mask[old], old_mask, out=expected_mask[old])
    np.testing.assert_array_equal(doc.mask, expected_mask)
    assert (doc.mask[:16] == 255).all() and (doc.mask[:, -40:] == 255).all()
    assert doc.mask[70, 24 + SEAM_PX + 5] == 0  # the middle of the old picture is kept
    assert doc.undo_stack.count() == steps + 1 and doc.undo_stack.undoText() == "Extend canvas"
    doc.undo_stack.undo()
    assert doc.size.width() == 160 and doc.size.height() == 120
    np.testing.assert_array_equal(doc.image, photo)
    np.testing.assert_array_equal(doc.paint, old_paint)
    np.testing.assert_array_equal(doc.mask, old_mask)
    doc.undo_stack.redo()
    np.testing.assert_array_equal(doc.mask, expected_mask)
    np.testing.assert_array_equal(doc.image[old], photo)
    # Strokes work on the new size, and undo in their own step.
    paint_stroke(doc, [(5, 5), (200, 140)])
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert doc.size.width() == 160


def test_the_new_strip_starts_from_the_edge_colours(qapp):
    image = np.zeros((64, 80, 3), np.uint8)
    image[:, :, 0] = 200  # red picture...
    image[:, -4:] = (0, 0, 220)  # ...with a blue right edge
    out = prefill(image, 0, 0, 48, 0)
    assert out.shape == (64, 128, 3)
    np.testing.assert_array_equal(out[:, :80], image)
    strip = out[:, 80:].astype(int)
    assert strip[:, :3, 2].min() > 150 and strip[:, :3, 0].max() < 60  # the blue edge carries on...
    assert strip[:, 24:, 0].min() > 150 and strip[:, 24:, 2].max() < 60  # ...then the mirrored red
    assert np.abs(np.diff(strip[32, 12:, 0])).max() < 25  # further out, soft: no hard edges
    assert np.abs(strip - strip[:1]).max() <= 1  # nothing made up: every row continues its own row


def test_extend_a_side_by_a_quarter_and_refuses_impossible_sizes(doc, qtbot):
    actions = OutpaintActions(doc)
    messages = []
    actions.message.connect(messages.append)
    assert actions.extend_side("right")
    assert (doc.width_px, doc.height_px) == (200, 120)  # 160 / 4 = 40
    assert actions.extend_side("top")
    assert (doc.width_px, doc.height_px) == (200, 152)  # 120 / 4 = 30 → 32, a multiple of 8
    assert "Generate" in messages[-1]
    assert not actions.extend(0, 0, 0, 0) and not actions.extend(-8, 0, 0, 0)
    assert not actions.extend(40000, 0, 0, 0) and "at most" in messages[-1]
    assert doc.undo_stack.count() == 2
    with pytest.raises(ValueError, match="unknown side"):
        actions.extend_side("middle")


def test_extend_dialog_asks_per_side(doc, monkeypatch):
    dialog = ExtendDialog(160, 120)
    dialog.spins["left"].setValue(16)
    dialog.spins["bottom"].setValue(24)
    assert dialog.amounts() == (16, 0, 0, 24) and dialog.size_label.text() == "176 × 144 px"
    monkeypatch.setattr(ExtendDialog, "exec", lambda self: (self.spins["left"].setValue(8),
                                                            QDialog.DialogCode.Accepted)[1])
    assert OutpaintActions(doc).extend_dialog()
    assert doc.width_px == 168
    monkeypatch.setattr(ExtendDialog, "exec", lambda self: QDialog.DialogCode.Rejected)
    assert not OutpaintActions(doc).extend_dialog() and doc.width_px == 168


def test_resize_layers_rejects_mismatched_layers(doc):
    with pytest.raises(ValueError, match="H×W×3, H×W and H×W×4"):
        doc.resize_layers(np.zeros((10, 10, 3), np.uint8), np.zeros((10, 11), np.uint8),
                          np.zeros((10, 10, 4), np.uint8), "bad")
    layers = extend_layers(doc.image, doc.mask, doc.paint, 8, 0, 0, 0)
    doc.resize_layers(*layers, "Extend canvas")
    command = doc.undo_stack.command(0)
    # The transparent paint layers are stored as their shape only.
    assert len(command.patches) == 4 and command.nbytes == sum(p.in_memory_bytes for p in command.patches)


@pytest.fixture
def editor(make_editor):
    return make_editor()


def test_outpaint_in_the_editor_then_generate_fills_the_new_area(editor, qtbot, tiny_model_dir):
    doc, canvas = editor.document, editor.canvas
    doc.load(gradient(64, 96), path="photo.png")
    photo = doc.image.copy()
    assert editor.controller.mode is Mode.IMG2IMG
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_Right, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
    assert (doc.width_px, doc.height_px) == (96 + 24, 64)
    assert canvas.sceneRect() == QRectF(0, 0, 120, 64)
    assert editor.controller.mode is Mode.INPAINT and "Inpaint" in editor.panel.mode_label.text()
    assert "Extended the canvas to 120×64" in editor.window.statusBar().currentMessage()
    editor.panel.model_combo.setEditText(str(tiny_model_dir))
    editor.panel.steps_spin.setValue(3)
    editor.controller.generate()
    qtbot.waitUntil(lambda: editor.history.count() == 1, timeout=120_000)
    prefilled = doc.image.copy()
    assert editor.controller.accept()
    result = doc.image
    assert np.any(result[:, 96:] != prefilled[:, 96:])  # the new strip was generated
    # Far from the seam the photo is untouched; the mask is gone.
    np.testing.assert_array_equal(result[:, : 96 - SEAM_PX - 16], photo[:, : 96 - SEAM_PX - 16])
    assert not doc.has_mask()
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert (doc.width_px, doc.height_px) == (96, 64) and canvas.sceneRect() == QRectF(0, 0, 96, 64)
    np.testing.assert_array_equal(doc.image, photo)
    # The result was made for the extended canvas: shown again now, Accept refuses politely.
    editor.history.setCurrentRow(-1)
    editor.history.setCurrentRow(0)
    assert not editor.controller.accept() and "another size" in editor.warnings[-1]


def test_extending_hides_a_shown_result_and_the_canvas_refits(editor, qtbot):
    doc, canvas = editor.document, editor.canvas
    doc.load(gradient(64, 96))
    editor.controller.show_result(type("Entry", (), {"image": gradient(64, 96)})())
    assert editor.controller.shown_entry() is not None and canvas.preview_visible
    assert editor.outpaint.extend(0, 0, 0, 32)
    assert editor.controller.shown_entry() is None and not canvas.preview_visible
    assert not editor.window.accept_button.isEnabled()
    assert canvas.sceneRect() == QRectF(0, 0, 96, 96)
