"""Face boxes follow Extend canvas: the picture moves by the margin added on the left and top,
and the boxes move with it in the same undo step (one Ctrl+Z puts back both the size and the
boxes), also when the canvas grows to exactly twice its size (which Upscale ×2 would scale), and
after saving and reopening a project. A picture cut smaller (no action does that yet) clips or
drops the boxes as drawing a box does; a failed change leaves no step behind."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtWidgets import QDialog

from gui.dialogs.extend_dialog import ExtendDialog
from gui.session.document import Document
from gui.session.face_boxes import face_boxes_of
from inference.files.image_save import save_image
from photos import scan

BOXES = ((40, 30, 60, 60), (120, 40, 50, 70))


@pytest.fixture
def editor(make_editor, tmp_path):
    path = tmp_path / "family.png"
    save_image(path, scan(2, size=(200, 150), gray=False))
    editor = make_editor()
    assert editor.files.open_path(str(path), ask_about_parameters=False)
    for box in BOXES:
        assert editor.faces.boxes.add(box)
    editor.faces.boxes.select(0)
    return editor


def _under(image, boxes):
    return [image[y:y + h, x:x + w].copy() for x, y, w, h in boxes]


def _shifted(boxes, dx, dy):
    return tuple((x + dx, y + dy, w, h) for x, y, w, h in boxes)


def test_boxes_keep_their_faces_when_the_canvas_is_extended_left_and_top(editor, monkeypatch):
    doc, boxes, stack = editor.document, editor.faces.boxes, editor.document.undo_stack
    faces, steps = _under(doc.image, BOXES), stack.count()

    def ask(dialog):  # Image → Extend canvas…: 40 px on the left, 24 on top, 16 on the right, 8 below
        for side, amount in zip(("left", "top", "right", "bottom"), (40, 24, 16, 8)):
            dialog.spins[side].setValue(amount)
        return QDialog.DialogCode.Accepted

    monkeypatch.setattr(ExtendDialog, "exec", ask)
    assert editor.outpaint.extend_dialog()
    assert (doc.width_px, doc.height_px) == (256, 182)
    assert boxes.boxes == _shifted(BOXES, 40, 24) and boxes.selected == 0
    for before, after in zip(faces, _under(doc.image, boxes.boxes)):
        np.testing.assert_array_equal(after, before)  # the same picture pixels in each box
    assert stack.count() == steps + 1 and stack.undoText() == "Extend canvas"

    stack.undo()  # one step: the canvas and the boxes together
    assert (doc.width_px, doc.height_px) == (200, 150) and boxes.boxes == BOXES and boxes.selected == 0
    assert stack.count() == steps + 1 and stack.index() == steps
    stack.redo()
    assert (doc.width_px, doc.height_px) == (256, 182) and boxes.boxes == _shifted(BOXES, 40, 24)

    # Later steps come back in order: a box moved on the extended canvas, then the extension.
    assert boxes.set_box(1, (10, 10, 50, 70))
    stack.undo()
    assert boxes.boxes == _shifted(BOXES, 40, 24)
    stack.undo()
    assert boxes.boxes == BOXES and (doc.width_px, doc.height_px) == (200, 150)
    stack.undo()  # the second box's own step
    assert boxes.boxes == BOXES[:1]


def test_extending_a_side_by_a_quarter_moves_the_boxes_only_for_the_left_and_top(editor):
    doc, boxes = editor.document, editor.faces.boxes
    assert editor.outpaint.extend_side("right") and editor.outpaint.extend_side("bottom")
    assert boxes.boxes == BOXES and (doc.width_px, doc.height_px) == (248, 190)
    assert editor.outpaint.extend_side("left")  # 248 / 4 = 62 → 64 px
    assert boxes.boxes == _shifted(BOXES, 64, 0)
    assert editor.outpaint.extend_side("top")  # 190 / 4 = 47.5 → 48 px
    assert boxes.boxes == _shifted(BOXES, 64, 48)
    for _ in range(4):
        doc.undo_stack.undo()
    assert boxes.boxes == BOXES and (doc.width_px, doc.height_px) == (200, 150)


def test_doubling_the_canvas_moves_the_boxes_rather_than_scaling_them(editor, make_editor, tmp_path):
    doc, boxes, stack = editor.document, editor.faces.boxes, editor.document.undo_stack
    faces = _under(doc.image, BOXES)
    assert editor.outpaint.extend(200, 150, 0, 0)  # 400×300: the size Upscale ×2 makes
    moved = _shifted(BOXES, 200, 150)
    assert boxes.boxes == moved
    for before, after in zip(faces, _under(doc.image, boxes.boxes)):
        np.testing.assert_array_equal(after, before)
    stack.undo()
    assert boxes.boxes == BOXES and (doc.width_px, doc.height_px) == (200, 150)
    stack.redo()
    assert boxes.boxes == moved

    project = tmp_path / "family.kiln"
    assert editor.projects.save_to(str(project))
    reopened = make_editor()  # a restart
    assert reopened.files.open_path(str(project))
    doc, boxes, stack = reopened.document, reopened.faces.boxes, reopened.document.undo_stack
    assert boxes.boxes == moved and stack.undoText() == "Extend canvas"
    stack.undo()
    assert boxes.boxes == BOXES and (doc.width_px, doc.height_px) == (200, 150)
    stack.redo()
    assert boxes.boxes == moved and (doc.width_px, doc.height_px) == (400, 300)
    assert reopened.warnings == []


def _cut(doc, left, top):
    return [np.asarray(layer)[top:, left:] for layer in (doc.image, doc.mask, doc.paint)]


def test_a_picture_cut_smaller_clips_the_boxes_and_drops_those_left_off_it(qapp):
    doc = Document()
    doc.load(scan(2, size=(200, 150), gray=False))
    boxes = face_boxes_of(doc)
    drawn = ((10, 10, 40, 40), (50, 20, 40, 40), (52, 100, 20, 30), (100, 50, 40, 40))
    for box in drawn:
        assert boxes.add(box)
    boxes.select(3)
    with boxes.moving_with_picture(-60, 0, "Cut"):
        doc.resize_layers(*_cut(doc, 60, 0), "Cut")
    # Off the picture, and 12 px wide (too small for a face model): gone; half off it: clipped.
    assert boxes.boxes == ((0, 20, 30, 40), (40, 50, 40, 40)) and boxes.selected == 1
    assert doc.undo_stack.count() == 5 and doc.undo_stack.undoText() == "Cut"
    doc.undo_stack.undo()
    assert boxes.boxes == drawn and boxes.selected == 3 and doc.width_px == 200


def test_a_failed_change_leaves_no_step_and_the_boxes_as_they_were(qapp):
    doc = Document()
    doc.load(scan(2, size=(200, 150), gray=False))
    boxes = face_boxes_of(doc)
    assert boxes.add((40, 30, 60, 60))
    with pytest.raises(MemoryError):
        with boxes.moving_with_picture(-20, -10, "Cut"):
            doc.resize_layers(*_cut(doc, 20, 10), "Cut")
            raise MemoryError  # as if the boxes could not be moved after the picture changed
    assert (doc.width_px, doc.height_px) == (200, 150) and boxes.boxes == ((40, 30, 60, 60),)
    assert doc.undo_stack.count() == 1 and not doc.undo_stack.canRedo()
    assert doc.undo_stack.undoText() == "Add face box"
