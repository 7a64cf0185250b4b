"""Paint in the editor: the shortcuts and the panel, Sketch to image (the composite is the
img2img request's image, Accept is one undo step), and export of the picture as shown."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QColorDialog

from inference.core.api import Mode
from painting import RED, gradient, paint_stroke


@pytest.fixture
def editor(make_editor):
    return make_editor()


@pytest.fixture
def photo_path(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(gradient(96, 128)).save(path)
    return path


def test_paint_shortcuts_and_panel(editor, qtbot, monkeypatch, photo_path):
    editor.files.open_path(str(photo_path), ask_about_parameters=False)
    canvas, doc, panel = editor.canvas, editor.document, editor.paint_panel
    canvas.setFocus()
    for key, modifier, tool in [(Qt.Key.Key_P, Qt.KeyboardModifier.NoModifier, "paint"),
                                (Qt.Key.Key_P, Qt.KeyboardModifier.ShiftModifier, "paint eraser"),
                                (Qt.Key.Key_G, Qt.KeyboardModifier.NoModifier, "fill"),
                                (Qt.Key.Key_B, Qt.KeyboardModifier.NoModifier, "brush")]:
        qtbot.keyClick(canvas, key, modifier)
        assert canvas.tool == tool
    assert not any(b.isChecked() for b in panel.tool_buttons.values())
    monkeypatch.setattr(QColorDialog, "getColor", lambda *a, **k: QColor(10, 200, 30))
    qtbot.keyClick(canvas, Qt.Key.Key_C)
    assert canvas.paint_color == (10, 200, 30) and canvas.tool == "paint"
    assert panel.tool_buttons["paint"].isChecked() and panel.color_button.text() == "#0ac81e"
    assert "Paint 40 px · 100%" == editor.window.brush_label.text()
    panel.opacity_slider.setValue(35)
    assert canvas.paint_opacity == pytest.approx(0.35)
    panel.size_spin.setValue(12)
    assert canvas.brush_size_px == 12
    paint_stroke(doc, [(30, 30), (60, 30)], color=canvas.paint_color)
    qtbot.keyClick(canvas, Qt.Key.Key_H, Qt.KeyboardModifier.ShiftModifier)
    assert not doc.paint_visible and not panel.visible_check.isChecked()
    assert not editor.window.paint_visible_action.isChecked()
    panel.visible_check.setChecked(True)
    assert doc.paint_visible and editor.window.paint_visible_action.isChecked()
    qtbot.keyClick(canvas, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert not doc.has_paint()
    doc.undo_stack.undo()
    qtbot.keyClick(canvas, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    assert not doc.has_paint() and doc.undo_stack.undoText() == "Merge paint"
    # Typing capitals in the prompt types them; it does not switch tools.
    editor.panel.prompt_edit.setFocus()
    qtbot.keyClicks(editor.panel.prompt_edit, "PGC")
    assert editor.panel.params.prompt == "PGC" and canvas.tool == "paint"


def test_sketch_builds_an_img2img_request_from_the_composite(editor, photo_path, tiny_model_dir, monkeypatch):
    editor.files.open_path(str(photo_path), ask_about_parameters=False)
    doc = editor.document
    assert editor.controller.mode is Mode.IMG2IMG and not editor.controller.sketching
    paint_stroke(doc, [(20, 20), (100, 70)], opacity=0.7, radius_px=9)
    assert editor.controller.mode is Mode.IMG2IMG and editor.controller.sketching
    assert "Sketch to image" in editor.panel.mode_label.text()
    editor.panel.model_combo.setEditText(str(tiny_model_dir))
    editor.panel.strength_spin.setValue(0.6)
    submitted = []
    monkeypatch.setattr(editor.worker, "submit", lambda request: submitted.append(request) or request)
    assert editor.controller.generate()
    request = submitted[0]
    assert request.mode is Mode.IMG2IMG and request.strength == pytest.approx(0.6)
    np.testing.assert_array_equal(request.image, doc.composite())
    assert not np.array_equal(request.image, doc.image)
    # Hidden paint is not part of the request: the mode says so too.
    doc.set_paint_visible(False)
    assert "Image to image" in editor.panel.mode_label.text()
    editor.controller._request = None  # the fake submit ran nothing
    editor.controller.generate()
    np.testing.assert_array_equal(submitted[1].image, doc.image)


def test_sketch_to_image_on_the_tiny_model_then_one_undo_restores_photo_and_sketch(editor, qtbot, photo_path,
                                                                                  tiny_model_dir):
    editor.files.open_path(str(photo_path), ask_about_parameters=False)
    doc = editor.document
    photo = doc.image.copy()
    paint_stroke(doc, [(20, 20), (100, 70)], opacity=0.8, radius_px=9)
    sketch = doc.paint.copy()
    editor.panel.model_combo.setEditText(str(tiny_model_dir))
    editor.panel.steps_spin.setValue(3)
    editor.panel.prompt_edit.setPlainText("a bird")
    editor.controller.generate()
    qtbot.waitUntil(lambda: editor.history.count() == 1, timeout=120_000)
    entry = editor.history.current_entry()
    assert entry.mode is Mode.IMG2IMG and editor.controller.shown_entry() is entry
    steps = doc.undo_stack.count()
    assert editor.controller.accept()
    np.testing.assert_array_equal(doc.image, entry.image)
    assert not doc.has_paint()  # the sketch became the picture
    assert doc.undo_stack.count() == steps + 1
    doc.undo_stack.undo()
    np.testing.assert_array_equal(doc.image, photo)
    np.testing.assert_array_equal(doc.paint, sketch)
    assert "Sketch to image" in editor.panel.mode_label.text()


def test_a_sketch_on_a_blank_canvas_is_a_picture_to_work_from(editor):
    doc = editor.document
    assert doc.is_blank and editor.controller.mode is Mode.TXT2IMG
    paint_stroke(doc, [(100, 100), (300, 300)], radius_px=30)
    assert editor.controller.mode is Mode.IMG2IMG and "Sketch to image" in editor.panel.mode_label.text()
    # Merging makes the canvas a picture; undo makes it blank again.
    doc.merge_paint()
    assert not doc.is_blank and editor.controller.mode is Mode.IMG2IMG
    doc.undo_stack.undo()
    assert doc.is_blank and doc.has_paint()
    doc.undo_stack.undo()
    assert editor.controller.mode is Mode.TXT2IMG


def test_export_writes_the_picture_as_shown_with_its_visible_paint(editor, tmp_path):
    photo = gradient()
    source = tmp_path / "photo.png"
    Image.fromarray(photo).save(source)
    assert editor.files.open_path(str(source), ask_about_parameters=False)
    paint_stroke(editor.document, [(40, 40), (100, 60)], color=RED, opacity=0.5)
    out = tmp_path / "sketch.png"
    assert editor.files.save_to(str(out))
    saved = np.array(Image.open(out).convert("RGB"))
    assert np.array_equal(saved, editor.document.composite()) and not np.array_equal(saved, photo)
    assert np.array_equal(np.array(Image.open(source).convert("RGB")), photo)  # the original untouched
    editor.document.set_paint_visible(False)  # hidden paint is not part of the picture
    assert editor.files.save_to(str(out))
    assert np.array_equal(np.array(Image.open(out).convert("RGB")), photo)
