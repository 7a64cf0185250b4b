"""Face boxes: drawn, moved and resized with the face box tool on the canvas, one undo step each,
shown as numbered outlines, and kept in projects (older projects without boxes still open)."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF

from gui.canvas.face_box_tool import BOX_RGB, SELECTED_RGB
from inference.files.image_save import save_image
from hostile_projects import rezip
from photos import scan
from pointer import drag, screen_rgb


def _at(canvas, x, y):
    """Viewport position of image point (x, y)."""
    point = canvas.viewportTransform().map(QPointF(x, y))
    return point.x(), point.y()


def _draw(canvas, x0, y0, x1, y1):
    drag(canvas, [_at(canvas, x0, y0), _at(canvas, (x0 + x1) / 2, (y0 + y1) / 2), _at(canvas, x1, y1)])


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "family.png"
    save_image(path, scan(2, size=(200, 150), gray=False))
    return path


@pytest.fixture
def editor(make_editor, photo):
    editor = make_editor()
    assert editor.files.open_path(str(photo), ask_about_parameters=False)
    editor.faces.actions["tool"].trigger()  # Image → Faces → Face box tool (F)
    assert editor.faces.tool.active
    return editor


def test_drawing_a_box_adds_one_and_undo_removes_it_in_one_step(editor):
    boxes, stack, canvas = editor.faces.boxes, editor.document.undo_stack, editor.canvas
    picture = editor.document.image.copy()
    _draw(canvas, 40, 30, 100, 90)
    assert len(boxes.boxes) == 1
    assert np.allclose(boxes.boxes[0], (40, 30, 60, 60), atol=1)
    assert stack.count() == 1 and stack.undoText() == "Add face box"
    assert np.array_equal(editor.document.image, picture) and not editor.document.has_mask()  # no brush stroke
    stack.undo()
    assert boxes.boxes == () and stack.index() == 0
    stack.redo()
    assert len(boxes.boxes) == 1


def test_boxes_are_drawn_as_numbered_outlines_over_the_picture(editor, qtbot):
    canvas = editor.canvas
    _draw(canvas, 40, 30, 100, 90)
    _draw(canvas, 120, 40, 180, 110)
    qtbot.wait(50)
    for (x, y, w, _h), colour in zip(editor.faces.boxes.boxes, (BOX_RGB, SELECTED_RGB)):
        vx, vy = _at(canvas, x + w / 2, y)  # the middle of the box's top edge
        seen = [screen_rgb(canvas, (vx + dx, vy + dy)) for dx in (-1, 0, 1) for dy in (-2, -1, 0, 1, 2)]
        want = (colour.red(), colour.green(), colour.blue())
        assert any(max(abs(a - b) for a, b in zip(rgb, want)) < 40 for rgb in seen), (seen, want)


def test_moving_and_resizing_a_box_are_one_undo_step_each(editor):
    boxes, stack, canvas = editor.faces.boxes, editor.document.undo_stack, editor.canvas
    _draw(canvas, 40, 30, 100, 90)
    drawn = boxes.boxes[0]
    drag(canvas, [_at(canvas, 70, 60), _at(canvas, 80, 65), _at(canvas, 90, 70)])  # from inside: a move
    assert np.allclose(boxes.boxes[0], (60, 40, 60, 60), atol=1)
    assert stack.count() == 2 and stack.undoText() == "Move face box"
    right = boxes.boxes[0][0] + boxes.boxes[0][2]
    drag(canvas, [_at(canvas, right, 70), _at(canvas, right + 10, 70), _at(canvas, right + 20, 70)])  # its edge
    x, y, w, h = boxes.boxes[0]
    assert (w, h) == pytest.approx((80, 60), abs=1) and stack.undoText() == "Resize face box"
    stack.undo()
    assert np.allclose(boxes.boxes[0], (60, 40, 60, 60), atol=1)
    stack.undo()
    assert boxes.boxes == (drawn,)


def test_a_tiny_or_off_picture_box_is_refused_with_a_message(editor):
    boxes, canvas = editor.faces.boxes, editor.canvas
    said = []
    boxes.message.connect(said.append)
    _draw(canvas, 50, 50, 58, 56)  # 8×6 px: no face model can use it
    _draw(canvas, -80, -60, -20, -10)  # beside the picture
    assert boxes.boxes == () and editor.document.undo_stack.count() == 0
    assert "at least 16×16" in said[0] and "outside the picture" in said[1]
    assert "outside the picture" in editor.window.statusBar().currentMessage()
    _draw(canvas, 170, 120, 260, 200)  # half off it: clipped to the picture
    assert boxes.boxes == ((170, 120, 30, 30),)


def test_delete_removes_the_selected_box_in_one_undo_step(editor):
    boxes, stack, canvas = editor.faces.boxes, editor.document.undo_stack, editor.canvas
    _draw(canvas, 20, 20, 60, 60)
    _draw(canvas, 100, 40, 160, 100)
    first = boxes.boxes[0]
    drag(canvas, [_at(canvas, 40, 40)])  # a click selects
    assert boxes.selected == 0
    editor.faces.actions["delete"].trigger()  # Delete
    assert len(boxes.boxes) == 1 and first not in boxes.boxes
    stack.undo()
    assert boxes.boxes[0] == first and len(boxes.boxes) == 2


def test_another_tool_leaves_the_face_box_tool_and_a_new_picture_has_no_boxes(editor, photo):
    _draw(editor.canvas, 40, 30, 100, 90)
    editor.canvas.set_tool("eraser")
    assert not editor.faces.tool.active and not editor.faces.actions["tool"].isChecked()
    assert editor.files.open_path(str(photo), ask_about_parameters=False)
    assert editor.faces.boxes.boxes == ()


def test_boxes_and_their_undo_steps_survive_saving_and_reopening_a_project(editor, make_editor, tmp_path):
    canvas, boxes = editor.canvas, editor.faces.boxes
    _draw(canvas, 20, 20, 60, 60)
    _draw(canvas, 100, 40, 160, 100)
    drag(canvas, [_at(canvas, 130, 70), _at(canvas, 135, 75), _at(canvas, 140, 80)])
    saved, before_move = boxes.boxes, editor.document.undo_stack.count()
    project = tmp_path / "family.kiln"
    assert editor.projects.save_to(str(project))

    reopened = make_editor()  # a restart
    assert reopened.files.open_path(str(project))
    assert reopened.faces.boxes.boxes == saved
    stack = reopened.document.undo_stack
    assert stack.count() == before_move and stack.undoText() == "Move face box" and not reopened.document.dirty
    stack.undo()
    assert reopened.faces.boxes.boxes[1] != saved[1] and reopened.faces.boxes.boxes[0] == saved[0]
    assert reopened.warnings == []


def test_a_project_saved_before_face_boxes_still_opens(make_editor, photo, tmp_path):
    editor = make_editor()
    assert editor.files.open_path(str(photo), ask_about_parameters=False)
    editor.document.begin_stroke()
    editor.document.paint_dab(50, 50, radius_px=8)
    editor.document.end_stroke()
    project = tmp_path / "old.kiln"
    assert editor.projects.save_to(str(project))
    # As an older Kiln wrote it: no "face_boxes" in its description.
    project.write_bytes(rezip(project.read_bytes(), lambda manifest, _entries: manifest.pop("face_boxes")))

    reopened = make_editor()
    assert reopened.files.open_path(str(project))
    assert reopened.faces.boxes.boxes == () and reopened.document.has_mask()
    assert reopened.warnings == []


def test_damaged_face_boxes_in_a_project_are_left_out_with_a_note(editor, make_editor, tmp_path):
    _draw(editor.canvas, 40, 30, 100, 90)
    project = tmp_path / "family.kiln"
    assert editor.projects.save_to(str(project))
    project.write_bytes(rezip(project.read_bytes(), lambda manifest, _entries: manifest.update(
        face_boxes=[[1, 2, "three", 4], {"x": 1}])))

    reopened = make_editor()
    assert reopened.files.open_path(str(project))
    assert any("face boxes could not be read" in text for text in reopened.warnings)
    # The history still holds the box, and so the picture has it; its undo step works as before.
    assert np.allclose(reopened.faces.boxes.boxes[0], (40, 30, 60, 60), atol=1)
    stack = reopened.document.undo_stack
    assert stack.undoText() == "Add face box"
    stack.undo()
    assert reopened.faces.boxes.boxes == ()


def test_boxes_follow_the_picture_when_it_is_enlarged_and_back(editor):
    doc, boxes = editor.document, editor.faces.boxes
    _draw(editor.canvas, 41, 31, 101, 91)
    drawn = boxes.boxes
    big = [np.repeat(np.repeat(np.asarray(a), 2, axis=0), 2, axis=1) for a in (doc.image, doc.mask, doc.paint)]
    doc.resize_layers(*big, "Upscale ×2")  # as Image → Upscale… does
    assert boxes.boxes == tuple(tuple(2 * v for v in box) for box in drawn)
    doc.undo_stack.undo()
    assert boxes.boxes == drawn
    doc.undo_stack.redo()
    editor.faces.boxes.set_box(0, (101, 61, 121, 121))  # moved at the new size
    doc.undo_stack.undo()
    doc.undo_stack.undo()
    assert boxes.boxes == drawn
