"""What a newcomer meets in the window: Generate in sight at 1280×800, Before/After after Heal,
a strength label that does not move its slider, the status after Undo, untinted history
thumbnails, and Save offered before a photo replaces unsaved work."""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QRect
from PySide6.QtGui import QIcon, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog, QMessageBox

from gui.session.results import HistoryEntry
from inference.core.api import Mode
from inference.files.project_read import load_project
from photos import scan


def _action(editor, text):
    return next(a for a in editor.window.actions() if a.text() == text)


def _shortcut(editor, keys):
    return next(a for a in editor.window.actions() if a.shortcut() == QKeySequence(keys))


def _healed(editor, tmp_path):
    path = tmp_path / "scratched.png"
    Image.fromarray(scan(3)).save(path)
    editor.files.open_path(str(path), ask_about_parameters=False)
    original = editor.document.image.copy()
    assert editor.restore.detect_damage() > 0 and editor.restore.heal()
    return original


def test_generate_is_in_sight_at_1280x800_without_scrolling(make_editor, qtbot):
    editor = make_editor()
    window = editor.window
    window.resize(1280, 800)
    qtbot.waitUntil(lambda: window.height() == 800)
    QApplication.processEvents()
    for widget in (editor.panel.generate_button, editor.panel.mode_label, editor.panel.live_check):
        shown = widget.visibleRegion().boundingRect()
        assert shown == widget.rect(), f"{widget.objectName() or type(widget).__name__} is cut off: {shown}"
        top_left = widget.mapTo(window, widget.rect().topLeft())
        assert QRect(top_left, widget.size()) & window.rect() == QRect(top_left, widget.size())


def test_before_after_after_heal_shows_the_picture_before_heal(make_editor, tmp_path):
    editor = make_editor()
    window, canvas = editor.window, editor.canvas
    original = _healed(editor, tmp_path)
    healed = editor.document.image.copy()
    assert window.compare_button.isEnabled()
    _action(editor, "&Before / after").trigger()  # the \ key
    assert window.compare_button.isChecked() and canvas.preview_visible
    canvas.set_zoom(1.0)
    QApplication.processEvents()
    shot = canvas.viewport().grab().toImage()
    dpr = shot.devicePixelRatio()
    change = np.abs(healed.astype(int) - original).sum(axis=2)
    y, x = np.unravel_index(np.argmax(change), change.shape)  # the pixel Heal changed most
    pos = canvas.mapFromScene(float(x) + 0.5, float(y) + 0.5)
    seen = shot.pixelColor(int(pos.x() * dpr), int(pos.y() * dpr))
    seen = np.array([seen.red(), seen.green(), seen.blue()])
    assert np.abs(seen - original[y, x]).sum() < np.abs(seen - healed[y, x]).sum()  # the scratch is back
    _action(editor, "&Before / after").trigger()
    assert not window.compare_button.isChecked() and not canvas.preview_visible


def test_before_after_ends_with_an_edit_and_is_disabled_with_a_reason_when_there_is_nothing(make_editor, tmp_path):
    editor = make_editor()
    window = editor.window
    assert not window.compare_button.isEnabled() and "Nothing to compare" in window.compare_button.toolTip()
    _action(editor, "&Before / after").trigger()
    assert window.compare_button.text() == "Before / After (\\)" and not editor.canvas.preview_visible
    _healed(editor, tmp_path)
    _action(editor, "&Before / after").trigger()
    editor.document.undo_stack.undo()  # the picture changed: the comparison is over
    assert not window.compare_button.isChecked() and not editor.canvas.preview_visible


def test_the_strength_label_growing_does_not_move_its_slider(make_editor, qtbot):
    editor = make_editor()
    view = editor.forward_view
    editor.window.resize(1280, 800)
    QApplication.processEvents()
    before = view.slider.geometry()
    for text in ("54% · timestep 501 · 85% noise", "100% · timestep 999 · 100% noise",
                 "Choose a model first, then drag the slider to see what each strength starts from"):
        view._show_label(text)
        QApplication.processEvents()
        assert view.slider.geometry() == before, text
    assert view.level_label.toolTip().startswith("Choose a model first")


def test_undo_replaces_the_status_that_offered_it(make_editor, tmp_path):
    editor = make_editor()
    _healed(editor, tmp_path)
    assert "Undo with Ctrl+Z" in editor.window.statusBar().currentMessage()
    _shortcut(editor, "Ctrl+Z").trigger()
    assert editor.window.statusBar().currentMessage() == "Undid “Heal”. Redo with Ctrl+Shift+Z."
    _shortcut(editor, "Ctrl+Shift+Z").trigger()
    assert editor.window.statusBar().currentMessage() == "Redid “Heal”."


def test_a_selected_history_thumbnail_keeps_its_colours(make_editor):
    editor = make_editor()
    sepia = np.empty((64, 64, 3), np.uint8)
    sepia[:] = (170, 130, 80)
    editor.results.add(HistoryEntry(1, sepia, Mode.IMG2IMG, 5, "sepia"))
    item = editor.history.currentItem()
    assert item.isSelected()
    shown = item.icon().pixmap(32, QIcon.Mode.Selected).toImage()
    colour = shown.pixelColor(shown.width() // 2, shown.height() // 2)
    assert (colour.red(), colour.green(), colour.blue()) == (170, 130, 80)


def test_opening_a_photo_over_unsaved_work_offers_save(make_editor, tmp_path, monkeypatch):
    editor = make_editor()
    _healed(editor, tmp_path)
    offered = []

    def answer(_parent, _title, _text, buttons, *_a):
        offered.append(buttons)
        return QMessageBox.StandardButton.Save

    project = tmp_path / "work.kiln"
    monkeypatch.setattr(QMessageBox, "question", answer)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(project), ""))
    healed = editor.document.image.copy()
    other = tmp_path / "other.png"
    Image.fromarray(scan(5)).save(other)
    assert editor.files.open_path(str(other), ask_about_parameters=False)
    assert offered and offered[0] & QMessageBox.StandardButton.Save
    assert np.array_equal(load_project(project).image, healed)  # saved first, then replaced
    assert editor.document.path == str(other)
