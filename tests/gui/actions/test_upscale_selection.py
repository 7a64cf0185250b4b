"""Image → Upscale… of the masked area only: the picture becomes the box around the masked pixels
(plus a margin), enlarged, with its mask, paint and face boxes, in one undo step."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QRect, QTimer

from gui.session.face_boxes import face_boxes_of
from gui.session.overlay import Layer
from gui.session.restoration_jobs import masked_area, scale_layers, upscale_problem
from inference.core.api import StepPreview
from painting import paint_stroke
from photos import scan
from test_upscale_fill_gui import _editor, _events, _finish, _small_tiles

pytestmark = pytest.mark.usefixtures("one_torch_thread")
PICTURE = (128, 96)  # width, height
CROP = (40, 30, 32, 24)  # the mask below, 8 px around it: ×2 gives 64×48, half the picture's size


def _mask() -> np.ndarray:
    mask = np.zeros(PICTURE[::-1], np.uint8)
    mask[38:46, 48:64] = 255
    mask[40, 50] = 0  # a soft hole: the mask is cropped and scaled as it is
    return mask


def test_the_masked_area_is_the_masks_bounds_plus_a_margin_within_the_picture():
    assert masked_area(_mask()) == CROP
    corner = np.zeros((50, 60), np.uint8)
    corner[2:5, 55:59] = 1
    assert masked_area(corner) == (47, 0, 13, 13)  # clamped to the picture at the top and right
    assert masked_area(corner, margin=0) == (55, 2, 4, 3)
    assert masked_area(np.zeros((50, 60), np.uint8)) is None


def test_upscaling_the_masked_area_makes_the_picture_that_area_enlarged_and_one_undo_takes_it_back(
        make_editor, qtbot, compact_upscaler):
    from inference.restoration_models.jobs import model_for
    from inference.restoration_models.upscale import upscale_image

    picture = scan(3, size=PICTURE, gray=False)
    editor = _editor(make_editor, picture, upscale=compact_upscaler)
    doc, boxes = editor.document, face_boxes_of(editor.document)
    doc.set_mask(_mask())
    paint_stroke(doc, [(30, 40), (100, 44)])
    # Inside the area; half in it (clipped); off it to the top left and to the bottom right (removed).
    for box in ((44, 32, 20, 20), (60, 40, 30, 30), (0, 0, 30, 30), (80, 60, 40, 30)):
        assert boxes.add(box)
    boxes.select(1)
    before = (doc.image.copy(), doc.mask.copy(), doc.paint.copy(), boxes.boxes)
    steps, messages = doc.undo_stack.count(), []
    editor.restoration.message.connect(messages.append)

    assert editor.restoration.upscale(2, masked_area=True)
    _finish(qtbot, editor)
    x, y, w, h = CROP
    assert (doc.width_px, doc.height_px) == (2 * w, 2 * h) == (64, 48)
    # The same pixels as upscaling the crop directly with the same model.
    direct = upscale_image(model_for(str(compact_upscaler)), picture[y:y + h, x:x + w], 2)
    assert np.array_equal(doc.image, direct)
    mask, paint = scale_layers(before[1][y:y + h, x:x + w], before[2][y:y + h, x:x + w], 64, 48)
    assert np.array_equal(doc.mask, mask) and doc.mask[17:31, 30:46].min() == 255
    assert doc.mask[:14].max() == 0 and doc.mask[34:].max() == 0 and doc.mask[21, 21] < 255  # and its hole
    assert np.array_equal(doc.paint, paint) and paint[..., 3].any()
    # The boxes moved by the crop's offset and doubled; those off the area are gone. The new size is
    # half the old one, which the boxes' guess for a plain Upscale's undo would take for ×½.
    assert boxes.boxes == ((8, 4, 40, 40), (40, 20, 24, 28)) and boxes.selected == 1
    assert doc.undo_stack.count() == steps + 1 and doc.undo_stack.undoText() == "Upscale ×2 (masked area)"
    assert "Upscaled the masked area 32×24 → 64×48" in messages[-1]
    after = (doc.image.copy(), doc.mask.copy(), doc.paint.copy(), boxes.boxes)

    doc.undo_stack.undo()  # one Ctrl+Z: everything as it was
    assert (doc.width_px, doc.height_px) == PICTURE
    assert all(np.array_equal(a, b) for a, b in zip((doc.image, doc.mask, doc.paint), before[:3]))
    assert boxes.boxes == before[3] and boxes.selected == 1
    doc.undo_stack.redo()
    assert all(np.array_equal(a, b) for a, b in zip((doc.image, doc.mask, doc.paint), after[:3]))
    assert boxes.boxes == after[3]


def test_the_dialog_offers_the_masked_area_only_with_a_mask_and_sizes_and_checks_it(
        make_editor, qtbot, compact_upscaler):
    from gui.dialogs.upscale_dialog import UpscaleDialog

    editor = _editor(make_editor, scan(1, size=PICTURE), upscale=compact_upscaler)
    dialog = editor.upscale.make_dialog()
    qtbot.addWidget(dialog)
    assert not dialog.masked_check.isEnabled() and "Paint the mask" in dialog.masked_check.toolTip()
    dialog.masked_check.setChecked(True)
    assert not dialog.only_masked_area() and dialog.size_label.text() == "128×96 → 256×192 px"
    assert not editor.restoration.upscale(2, masked_area=True)  # said why, nothing started
    assert not editor.restoration.busy

    editor.document.set_mask(_mask())
    dialog = editor.upscale.make_dialog()
    qtbot.addWidget(dialog)
    assert dialog.masked_check.isEnabled() and "one face" in dialog.masked_check.toolTip()
    dialog.masked_check.setChecked(True)
    assert dialog.only_masked_area() and dialog.size_label.text() == "32×24 → 64×48 px (the masked area)"
    dialog.set_factor(4)
    assert dialog.size_label.text() == "32×24 → 128×96 px (the masked area)"

    # Too large for the whole picture, not for the masked area: the check applies to the crop.
    big = UpscaleDialog(12000, 9000, "up.safetensors", upscale_problem, factor=4, masked_size=(600, 400))
    qtbot.addWidget(big)
    assert not big.can_start() and "megapixels" in big.problem_label.text()
    big.masked_check.setChecked(True)
    assert big.can_start() and big.problem_label.isHidden()
    assert big.size_label.text() == "600×400 → 2400×1600 px (the masked area)"
    big.masked_check.setChecked(False)
    assert not big.can_start()


def test_the_previews_are_drawn_over_the_masked_area_while_it_is_upscaled(make_editor, qtbot, compact_upscaler,
                                                                          monkeypatch):
    _small_tiles(monkeypatch, tile_px=16)
    editor = _editor(make_editor, scan(2, size=PICTURE, gray=False), upscale=compact_upscaler)
    editor.document.set_mask(_mask())
    events, frames = _events(editor), []
    editor.overlay.changed.connect(lambda: frames.append(editor.overlay.shown()))

    def choose_masked_area():
        dialog = editor.upscale.dialog
        dialog.masked_check.setChecked(True)
        dialog.accept()

    QTimer.singleShot(0, choose_masked_area)
    assert editor.upscale.upscale_dialog()
    _finish(qtbot, editor)

    previews = [e for e in events if isinstance(e, StepPreview)]
    # Each tile with the 8 px seam bands it blends into its neighbours (the crop's pixels)
    assert {p.box for p in previews} == {(0, 0, 24, 24), (8, 0, 24, 24), (0, 8, 24, 16), (8, 8, 24, 16)}
    steps = [f for f in frames if f is not None and f.layer is Layer.STEP]
    assert len(steps) == 4 and all(f.target == QRect(*CROP) for f in steps)  # over the area, nowhere else
    assert steps[0].rgb.shape == (24, 32, 4) and steps[0].rgb[:24, :24, 3].min() == 255
    assert steps[0].rgb[:, 24:, 3].max() == 0 and steps[-1].rgb[..., 3].min() == 255
    assert (editor.document.width_px, editor.document.height_px) == (64, 48)
    assert editor.document.undo_stack.undoText() == "Upscale ×2 (masked area)"
