"""Restoration in the editor: detect damage, heal without a model, shape the mask, compare, export."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from gui.app import build_editor
from gui.session.settings import Settings
from photos import scan


@pytest.fixture
def editor(qtbot, tmp_path, monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: None)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    ed = build_editor(Settings(str(tmp_path / "settings.ini")))
    qtbot.addWidget(ed.window)
    yield ed
    ed.worker.shutdown()


@pytest.fixture
def scratched(tmp_path):
    path = tmp_path / "scratched.png"
    Image.fromarray(scan(3)).save(path)
    return path


def test_detect_then_heal_repairs_only_the_damage_in_one_undo_step(editor, scratched):
    editor.files.open_path(str(scratched), ask_about_parameters=False)
    original = editor.document.image.copy()
    assert editor.restore.detect_damage() > 0
    mask = editor.document.mask.copy()
    assert 0 < np.count_nonzero(mask) < mask.size * 0.2
    assert editor.restore.heal()
    healed = editor.document.image.copy()
    changed = np.any(healed != original, axis=2)
    assert changed.any() and not changed[mask == 0].any()  # nothing outside the mask moved
    assert not editor.document.has_mask()
    editor.document.undo_stack.undo()
    assert np.array_equal(editor.document.image, original) and np.array_equal(editor.document.mask, mask)
    editor.document.undo_stack.undo()
    assert not editor.document.has_mask()  # the detection was its own step


def test_changing_sensitivity_redoes_the_last_detection_in_place(editor, scratched):
    editor.files.open_path(str(scratched), ask_about_parameters=False)
    editor.restore.set_sensitivity(0.2)
    low = editor.restore.detect_damage()
    steps = editor.document.undo_stack.count()
    editor.restore_panel_slider = editor.window.restore_panel.sensitivity_slider
    editor.restore_panel_slider.setValue(90)
    high = np.count_nonzero(editor.document.mask)
    assert editor.document.undo_stack.count() == steps  # replaced, not stacked
    assert high >= low


def test_grow_shrink_feather_are_undoable(editor, scratched):
    editor.files.open_path(str(scratched), ask_about_parameters=False)
    editor.document.begin_stroke()
    editor.document.paint_dab(60, 60, radius_px=6)
    editor.document.end_stroke()
    area = np.count_nonzero(editor.document.mask)
    assert editor.restore.grow() and np.count_nonzero(editor.document.mask) > area
    assert editor.restore.shrink() and np.count_nonzero(editor.document.mask) < np.count_nonzero(editor.document.mask) + 1
    assert editor.restore.feather()
    soft = editor.document.mask
    assert ((soft > 0) & (soft < 255)).any()
    for _ in range(3):
        editor.document.undo_stack.undo()
    assert np.count_nonzero(editor.document.mask) == area


def test_split_compare_and_changed_pixels_map(editor, qtbot, tiny_model_dir, scratched, tmp_path):
    editor.files.open_path(str(scratched), ask_about_parameters=False)
    original = editor.document.image.copy()
    editor.document.begin_stroke()
    editor.document.paint_segment(20, 20, 100, 60, radius_px=8)
    editor.document.end_stroke()
    editor.panel.model_combo.setEditText(str(tiny_model_dir))
    editor.panel.steps_spin.setValue(2)
    editor.controller.generate()
    qtbot.waitUntil(lambda: editor.history.count() == 1, timeout=120_000)
    uploads = []
    show_preview = editor.canvas.show_preview
    editor.canvas.show_preview = lambda rgb, rect: uploads.append(rect) or show_preview(rgb, rect)
    result = editor.controller.shown_entry().image
    for fraction in (0.5, 0.25, 1.0, 0.5):
        editor.controller.set_split(fraction)
    # The result is not re-uploaded per move; the canvas shows it left of the split, the
    # original right of it, and a divider line between them.
    assert uploads == [] and editor.canvas.preview_visible
    canvas = editor.canvas
    canvas.set_zoom(1.0)
    split_x = round(original.shape[1] * 0.5)
    shot = canvas.viewport().grab().toImage()
    dpr = shot.devicePixelRatio()

    def shown_at(x, y):
        pos = canvas.mapFromScene(x, y)  # the top-left corner of image pixel (x, y)
        c = shot.pixelColor(int(pos.x() * dpr), int(pos.y() * dpr))
        return c.red(), c.green(), c.blue()

    def differs(x, y):
        return np.abs(result[y, x].astype(int) - original[y, x]).sum() > 60

    def nearer_result(x, y):
        seen = np.array(shown_at(x, y))
        return np.abs(seen - result[y, x]).sum() < np.abs(seen - original[y, x]).sum()

    left = [(x, y) for y in range(22, 60, 3) for x in range(22, split_x - 6, 3) if differs(x, y)]
    right = [(x, y) for y in range(22, 60, 3) for x in range(split_x + 6, 98, 3) if differs(x, y)]
    assert len(left) > 5 and len(right) > 5
    assert all(nearer_result(x, y) for x, y in left)
    # Right of the split: the original exactly as it is, not tinted by the mask overlay
    assert all(shown_at(x, y) == tuple(int(v) for v in original[y, x]) for x, y in right)
    divider = [shown_at(split_x, y) for y in range(5, original.shape[0] - 5, 10)]
    assert all(min(c) > 200 for c in divider)  # the light line of the divider
    editor.controller.accept()
    editor.files.export_changes_map = True
    out = tmp_path / "export.png"
    assert editor.files.save_to(str(out))
    changes = np.array(Image.open(tmp_path / "export-changes.png"))[..., 0]
    assert np.array_equal(changes == 255, np.any(editor.document.image != original, axis=2))
