"""The editor end to end with the tiny real model: previews stream onto the canvas, results go
to the history, Accept is one undo step, cancel restores the canvas, errors keep the app alive."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from gui.app import build_editor
from gui.preview_overlay import mask_box
from gui.settings import Settings
from inference.api import Mode


@pytest.fixture
def editor(qtbot, tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, title, text, *a: warnings.append(text))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    ed = build_editor(Settings(str(tmp_path / "settings.ini")), engine_factory=None)
    ed.warnings = warnings
    qtbot.addWidget(ed.window)
    ed.window.show()
    yield ed
    ed.worker.shutdown()


@pytest.fixture
def photo_path(tmp_path):
    yy, xx = np.mgrid[0:96, 0:128]
    path = tmp_path / "photo.png"
    Image.fromarray(np.stack([xx * 2, yy * 2, (xx + yy)], -1).clip(0, 255).astype(np.uint8)).save(path)
    return path


def _paint_mask(document, box=(30, 30, 70, 60)):
    x0, y0, x1, y1 = box
    document.begin_stroke()
    document.paint_segment(x0, y0, x1, y1, radius_px=10)
    document.end_stroke()


def _configure(editor, model_dir, steps=3):
    editor.panel.model_combo.setEditText(str(model_dir))
    editor.panel.steps_spin.setValue(steps)
    editor.panel.prompt_edit.setPlainText("an old photo")


def test_inpaint_streams_previews_then_accept_is_one_undo_step(editor, qtbot, tiny_model_dir, photo_path):
    assert editor.files.open_path(str(photo_path), ask_about_parameters=False)
    original = editor.document.image.copy()
    _paint_mask(editor.document)
    assert editor.controller.mode is Mode.INPAINT
    _configure(editor, tiny_model_dir)
    progress, previews = [], []
    editor.controller.progress.connect(lambda step, total, text: progress.append((step, total, text)))
    real_show = editor.canvas.show_preview
    editor.canvas.show_preview = lambda rgb, rect: (previews.append((rgb.shape, rect)), real_show(rgb, rect))[1]

    editor.controller.generate()
    assert editor.controller.busy
    qtbot.waitUntil(lambda: editor.history.count() == 1, timeout=120_000)

    steps = [p for p in progress if p[2].startswith("Step ") and p[0] > 0]
    total = steps[-1][1]
    assert [s[0] for s in steps] == list(range(1, total + 1))
    assert all("ETA" in s[2] for s in steps)
    step_previews = previews[:total]
    assert len(step_previews) == total
    shape, rect = step_previews[0]
    assert shape[2] == 4  # inpainting previews are masked to the painted area…
    assert rect == mask_box(editor.document.mask)  # …and drawn over it, in place
    entry = editor.history.current_entry()
    assert editor.controller.shown_entry() is entry and editor.canvas.preview_visible

    mask_before = editor.document.mask.copy()
    assert editor.controller.accept()
    assert not editor.document.has_mask()  # the mask did its job
    changed = np.any(editor.document.image != original, axis=2)
    assert changed.any()
    ys, xs = np.nonzero(changed)
    assert ys.min() >= 20 - 10 and xs.max() <= 80 + 10  # only around the mask
    editor.document.undo_stack.undo()  # one step brings back the photo and the mask
    assert np.array_equal(editor.document.image, original)
    assert np.array_equal(editor.document.mask, mask_before)
    editor.document.undo_stack.redo()
    assert np.array_equal(editor.document.image, entry.image)


def test_cancel_stops_and_restores_the_canvas(editor, qtbot, tiny_model_dir, photo_path):
    editor.files.open_path(str(photo_path), ask_about_parameters=False)
    original = editor.document.image.copy()
    _configure(editor, tiny_model_dir, steps=40)
    stopped = []
    editor.controller.progress.connect(lambda s, t, text: stopped.append(text) if text.startswith("Stopped") else None)
    editor.worker.step.connect(lambda event: editor.controller.cancel() if event.step == 1 else None)
    editor.controller.generate()
    qtbot.waitUntil(lambda: not editor.controller.busy, timeout=120_000)
    assert stopped and int(stopped[0].split()[-1]) <= 2
    assert editor.history.count() == 0
    assert not editor.canvas.preview_visible
    assert np.array_equal(editor.document.image, original)


def test_errors_show_a_message_and_the_worker_stays_usable(editor, qtbot, tiny_model_dir, tmp_path):
    _configure(editor, tmp_path / "missing-model")
    editor.panel.width_spin.setValue(64)
    editor.panel.params.width_px = editor.panel.params.height_px = 64
    editor.document.new_blank(64, 64)
    editor.controller.generate()
    qtbot.waitUntil(lambda: not editor.controller.busy, timeout=60_000)
    assert editor.warnings and "not found" in editor.warnings[-1]
    _configure(editor, tiny_model_dir, steps=2)
    editor.controller.generate()
    qtbot.waitUntil(lambda: editor.history.count() == 1, timeout=120_000)
    assert editor.history.current_entry().image.shape == (64, 64, 3)


def test_generate_without_a_model_explains_instead_of_failing(editor, qtbot, monkeypatch):
    asked = []
    editor.controller.model_needed.connect(lambda: asked.append(True))
    monkeypatch.setattr(editor.window, "ask_for_model", lambda: None)
    editor.panel.model_combo.setEditText("")
    editor.controller.generate()
    assert asked and not editor.controller.busy


def test_closing_mid_generation_exits_cleanly(qtbot, tmp_path, tiny_model_dir):
    ed = build_editor(Settings(str(tmp_path / "s.ini")), engine_factory=None)
    ed.window.show()
    _configure(ed, tiny_model_dir, steps=200)
    ed.document.new_blank(64, 64)
    ed.panel.params.width_px = ed.panel.params.height_px = 64
    ed.controller.generate()
    qtbot.waitUntil(lambda: ed.canvas.preview_visible, timeout=120_000)
    ed.window.close()  # cancels and waits for the worker thread
    assert not ed.worker._thread.isRunning()


def test_broken_file_leaves_the_document_untouched(editor, tmp_path, photo_path):
    editor.files.open_path(str(photo_path), ask_about_parameters=False)
    _paint_mask(editor.document)
    before_image, before_mask = editor.document.image.copy(), editor.document.mask.copy()
    for name, data in [("empty.png", b""), ("broken.jpg", b"\xff\xd8\xff\xe0garbage"), ("notes.png", b"hello")]:
        (tmp_path / name).write_bytes(data)
        assert not editor.files.open_path(str(tmp_path / name))
    assert len(editor.warnings) == 3
    assert np.array_equal(editor.document.image, before_image) and np.array_equal(editor.document.mask, before_mask)
    assert editor.document.path == str(photo_path)


def test_export_writes_a_new_file_with_parameters_and_reopening_offers_them(editor, qtbot, tiny_model_dir, photo_path, tmp_path):
    editor.files.open_path(str(photo_path), ask_about_parameters=False)
    original_bytes = photo_path.read_bytes()
    suggested = editor.files.suggested_save_path()
    assert suggested != str(photo_path) and suggested.endswith("photo-kiln.png")
    _configure(editor, tiny_model_dir, steps=2)
    editor.panel.use_seed(1234)
    editor.controller.generate()
    qtbot.waitUntil(lambda: editor.history.count() == 1, timeout=120_000)
    editor.controller.accept()
    assert editor.files.save_to(suggested)
    assert photo_path.read_bytes() == original_bytes
    assert "Seed: 1234" in Image.open(suggested).text["parameters"]

    found = []
    editor.files.parameters_found.connect(found.append)
    editor.panel.use_seed(1)
    editor.files.open_path(suggested)
    assert found and found[0]["seed"] == 1234 and found[0]["prompt"] == "an old photo"
    assert editor.panel.params.seed == 1234 and not editor.panel.params.random_seed


def test_settings_survive_a_restart(qtbot, tmp_path, tiny_model_dir):
    path = str(tmp_path / "settings.ini")
    first = build_editor(Settings(path))
    first.panel.model_combo.setEditText(str(tiny_model_dir))
    first.panel.steps_spin.setValue(33)
    first.panel.prompt_edit.setPlainText("sepia portrait")
    first.window.close()
    second = build_editor(Settings(path))
    try:
        assert second.panel.params.steps == 33 and second.panel.steps_spin.value() == 33
        assert second.panel.params.prompt == "sepia portrait"
        assert str(tiny_model_dir) in [second.panel.model_combo.itemText(i) for i in range(second.panel.model_combo.count())]
    finally:
        second.worker.shutdown()


def test_mode_follows_the_document(editor, photo_path):
    assert editor.controller.mode is Mode.TXT2IMG
    editor.files.open_path(str(photo_path), ask_about_parameters=False)
    assert editor.controller.mode is Mode.IMG2IMG
    _paint_mask(editor.document)
    assert editor.controller.mode is Mode.INPAINT and "Inpaint" in editor.panel.mode_label.text()
    editor.document.clear_mask()
    assert editor.controller.mode is Mode.IMG2IMG and "Image to image" in editor.panel.mode_label.text()
