"""Faces in the editor: Restore faces changes only the boxed faces (their feather included), as one
undo step that Before / After compares; Fidelity 0 and Stop (Esc) leave the picture as it was;
the face pass inpaints only the boxes with the diffusion model; the buttons say why they are off."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect, Qt

from face_photo import face_photo
from gui.session.overlay import Layer
from inference.core.api import GenerationRequest
from inference.files.image_save import save_image
from inference.restoration_models.faces import face_crop, face_feather_px
from inference.restore.compositing import feather_reach_px

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BOX, SECOND = (40, 20, 44, 52), (100, 30, 24, 28)


def _outside(shape, boxes, margin_of):
    """H×W bool: True beyond each box's ``margin_of(box)`` px."""
    outside = np.ones(shape[:2], bool)
    for box in boxes:
        x, y, w, h = box
        margin = margin_of(box)
        outside[max(0, y - margin):y + h + margin, max(0, x - margin):x + w + margin] = False
    return outside


@pytest.fixture
def editor(make_editor, tmp_path):
    editor = make_editor()
    save_image(tmp_path / "portrait.png", face_photo((136, 96), BOX))
    assert editor.files.open_path(str(tmp_path / "portrait.png"), ask_about_parameters=False)
    return editor


def test_restore_faces_changes_only_the_boxed_faces_in_one_undo_step(editor, qtbot, face_model):
    editor.settings.choose_restoration_model("face", face_model)
    doc, faces, panel = editor.document, editor.faces.faces, editor.faces.panel
    assert editor.faces.boxes.add(BOX)
    original, steps = doc.image.copy(), doc.undo_stack.count()
    frames = []
    editor.overlay.changed.connect(lambda: frames.append(editor.overlay.shown()))
    panel.refresh()
    assert panel.restore_button.isEnabled() and panel.fidelity_slider.value() == 50
    qtbot.mouseClick(panel.restore_button, Qt.MouseButton.LeftButton)
    assert faces.busy and any("Restoring faces" in t for t in editor.window.busy_indicator.texts())
    assert panel.restore_button.text() == "Stop restoring (Esc)"
    qtbot.waitUntil(lambda: not faces.busy, timeout=180_000)

    changed = doc.image
    assert (changed != original).any()
    outside = _outside(original.shape, [BOX], lambda box: feather_reach_px(face_feather_px(box)))
    assert np.array_equal(changed[outside], original[outside])  # nothing outside the feathered box moved
    assert doc.undo_stack.count() == steps + 1 and doc.undo_stack.undoText() == "Restore faces"
    assert editor.window.statusBar().currentMessage().startswith("Restored 1 face. ")
    # The face was drawn in place while it was restored, over its crop only.
    steps_shown = [f for f in frames if f is not None and f.layer is Layer.STEP]
    assert steps_shown and steps_shown[-1].target.contains(*face_crop(BOX, doc.width_px, doc.height_px)[:2])
    assert editor.overlay.shown() is None and not editor.window.busy_indicator.texts()
    # Before / After shows the picture before Restore faces.
    window = editor.window
    assert window.compare_button.isEnabled()
    window.compare_button.setChecked(True)
    before = editor.overlay.shown()
    assert before.layer is Layer.BEFORE
    x, y = before.target.x(), before.target.y()
    h, w = before.rgb.shape[:2]
    assert np.array_equal(before.rgb, original[y:y + h, x:x + w])
    window.compare_button.setChecked(False)
    doc.undo_stack.undo()  # one step back to the photo
    assert np.array_equal(doc.image, original) and doc.undo_stack.count() == steps + 1
    assert editor.warnings == []


def test_fidelity_zero_leaves_the_picture_byte_identical(editor, qtbot, face_model):
    editor.settings.choose_restoration_model("face", face_model)
    doc, panel = editor.document, editor.faces.panel
    assert editor.faces.boxes.add(BOX)
    original, steps = doc.image.copy(), doc.undo_stack.count()
    panel.fidelity_slider.setValue(0)
    assert editor.faces.faces.fidelity == 0.0
    assert editor.faces.faces.restore()
    qtbot.waitUntil(lambda: not editor.faces.faces.busy, timeout=180_000)
    assert np.array_equal(doc.image, original) and doc.undo_stack.count() == steps
    assert editor.warnings == []


def test_stopping_leaves_the_picture_as_it_was(editor, qtbot, face_model):
    editor.settings.choose_restoration_model("face", face_model)
    doc, faces = editor.document, editor.faces.faces
    assert editor.faces.boxes.add(BOX) and editor.faces.boxes.add(SECOND)
    original, steps = doc.image.copy(), doc.undo_stack.count()
    assert faces.restore()
    editor.window.cancel_action.trigger()  # Esc
    qtbot.waitUntil(lambda: not faces.busy, timeout=180_000)
    assert np.array_equal(doc.image, original) and doc.undo_stack.count() == steps
    assert editor.overlay.shown() is None
    assert "unchanged" in editor.window.statusBar().currentMessage()
    assert editor.faces.panel.restore_button.text() == "Restore faces"
    assert editor.warnings == []


def test_generate_waits_and_stop_stops_while_faces_are_restored(editor, qtbot, face_model):
    editor.settings.choose_restoration_model("face", face_model)
    doc, faces, panel = editor.document, editor.faces.faces, editor.panel
    assert editor.faces.boxes.add(BOX) and editor.faces.boxes.add(SECOND)
    original = doc.image.copy()
    assert panel.generate_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert faces.restore()
    assert not panel.generate_button.isEnabled() and panel.cancel_button.isEnabled()  # as for Upscale
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)  # the panel's Stop
    qtbot.waitUntil(lambda: not faces.busy, timeout=180_000)
    assert np.array_equal(doc.image, original)
    assert panel.generate_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert editor.warnings == []


def test_the_prompt_is_in_sight_at_1280_by_800(editor, qtbot):
    """The Faces and Paint panels are compact: at the default layout of a 1280×800 screen the
    Prompt box shows whole in the side panel, without scrolling."""
    window = editor.window
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.height() == 800)
    scroll = window._side_scroll
    qtbot.wait(50)  # the layouts settle
    assert scroll.verticalScrollBar().value() == 0
    prompt = editor.panel.prompt_edit
    shown = QRect(prompt.mapTo(scroll.viewport(), QPoint(0, 0)), prompt.size())
    assert scroll.viewport().rect().contains(shown), (shown, scroll.viewport().rect())
    assert editor.faces.panel.height() < 2 * editor.faces.panel.restore_button.height() + 60  # two rows


def test_the_buttons_say_why_they_cannot_run(editor):
    panel, boxes = editor.faces.panel, editor.faces.boxes
    assert not panel.restore_button.isEnabled() and "Draw a box" in panel.restore_button.toolTip()
    assert not panel.pass_button.isEnabled() and "Draw a box" in panel.pass_button.toolTip()
    assert boxes.add(BOX)
    assert not panel.restore_button.isEnabled()
    assert "File → Models… → Restoration" in panel.restore_button.toolTip()
    assert not panel.pass_button.isEnabled() and "diffusion model" in panel.pass_button.toolTip()
    editor.faces.actions["restore"].trigger()  # from the menu: says what to do
    assert "File → Models… → Restoration" in editor.window.statusBar().currentMessage()
    editor.panel.model_combo.setEditText("/models/some-model")
    assert panel.pass_button.isEnabled()


def test_the_face_pass_inpaints_only_the_boxes(editor, qtbot, tiny_inpaint_dir):
    doc, controller = editor.document, editor.controller
    assert editor.faces.boxes.add(BOX)
    doc.begin_stroke()  # the user's own mask: the face pass neither uses nor clears it
    doc.paint_dab(10, 80, radius_px=5)
    doc.end_stroke()
    mask, original = doc.mask.copy(), doc.image.copy()
    editor.panel.model_combo.setEditText(str(tiny_inpaint_dir))
    editor.panel.steps_spin.setValue(6)
    editor.panel.prompt_edit.setPlainText("a portrait photo")
    panel = editor.faces.panel
    assert panel.pass_button.isEnabled() and panel.strength_spin.value() == pytest.approx(0.35)
    qtbot.mouseClick(panel.pass_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: editor.history.count() == 1 and not controller.busy, timeout=180_000)
    entry = editor.results.shown
    assert "Denoising strength: 0.35" in entry.parameters
    assert controller.accept()
    changed = doc.image
    feather = GenerationRequest.__dataclass_fields__["mask_feather_px"].default
    outside = _outside(original.shape, [BOX], lambda _box: feather_reach_px(feather))
    assert (changed != original).any() and np.array_equal(changed[outside], original[outside])
    assert np.array_equal(doc.mask, mask)  # the user's mask is as it was
    doc.undo_stack.undo()
    assert np.array_equal(doc.image, original) and editor.warnings == []


def test_find_faces_proposes_boxes_in_one_undo_step(editor, qtbot, firing_finder, tmp_path):
    from inference.restoration_models.face_finder import face_boxes_to_propose, load_face_finder

    save_image(tmp_path / "group.png", face_photo((400, 300), BOX))
    assert editor.files.open_path(str(tmp_path / "group.png"), ask_about_parameters=False)
    doc, boxes, panel = editor.document, editor.faces.boxes, editor.faces.panel
    finding, find = editor.faces.finding, editor.faces.actions["find"]
    panel.refresh()
    assert "needs a face detector" in panel.find_button.toolTip()
    qtbot.mouseClick(panel.find_button, Qt.MouseButton.LeftButton)  # without a detector: where to get one
    assert "File → Models… → Restoration" in editor.window.statusBar().currentMessage()
    editor.window.statusBar().clearMessage()
    find.trigger()  # Shift+F the same; nothing changes
    assert "File → Models… → Restoration" in editor.window.statusBar().currentMessage()
    assert boxes.boxes == ()

    editor.settings.choose_restoration_model("detect", str(firing_finder))
    panel.refresh()
    assert panel.find_button.isEnabled() and find.shortcut().toString() == "Shift+F"
    boxes.add(BOX)  # a face boxed by hand keeps its box; only the others are proposed
    steps, original = doc.undo_stack.count(), doc.image.copy()
    qtbot.mouseClick(panel.find_button, Qt.MouseButton.LeftButton)
    assert finding.wait(60)
    expected = face_boxes_to_propose(load_face_finder(firing_finder).find(original), doc.width_px, doc.height_px,
                                     [BOX])
    assert expected and boxes.boxes == (BOX, *expected)
    assert doc.undo_stack.count() == steps + 1 and doc.undo_stack.undoText() == f"Find faces ({len(expected)})"
    assert editor.window.statusBar().currentMessage().startswith(f"Found {len(expected)} face")
    assert np.array_equal(doc.image, original)  # finding faces never touches the picture
    doc.undo_stack.undo()
    assert boxes.boxes == (BOX,)

    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx graph")
    editor.settings.choose_restoration_model("detect", str(broken))
    errors = []
    editor.window.show_error = errors.append  # the error dialog, without a modal loop
    editor.faces.finding.error.disconnect()
    editor.faces.finding.error.connect(errors.append)
    assert finding.find() and finding.wait(60)
    assert errors and "not a readable ONNX model" in errors[0] and boxes.boxes == (BOX,)
