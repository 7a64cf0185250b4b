"""The editor end to end with the tiny real model: previews stream onto the canvas, results go
to the history, Accept is one undo step, cancel restores the canvas, errors keep the app alive."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QThread
from PySide6.QtWidgets import QMessageBox

from gui.app import build_editor
from gui.session.step_overlay import mask_box
from gui.session.settings import Settings
from inference.core.api import Mode


@pytest.fixture
def editor(qtbot, tmp_path, monkeypatch):
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, title, text, *a: warnings.append(text))
    buttons = QMessageBox.StandardButton
    # "Discard changes?" → Discard; "Use these parameters?" and the rest → Yes.
    monkeypatch.setattr(QMessageBox, "question",
                        lambda _parent, title, *a, **k: buttons.Discard if "Discard" in title else buttons.Yes)
    ed = build_editor(Settings(str(tmp_path / "settings.ini")), engine_factory=None)
    ed.warnings = warnings
    qtbot.addWidget(ed.window)
    ed.window.show()
    yield ed
    ed.worker.shutdown()
    ed.autosave.close()


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
    gui_thread = QThread.currentThread()

    def recording_show(rgb, rect):
        previews.append((rgb.shape, rect, QThread.currentThread() is gui_thread))
        real_show(rgb, rect)

    editor.canvas.show_preview = recording_show

    editor.controller.generate()
    assert editor.controller.busy
    qtbot.waitUntil(lambda: editor.history.count() == 1, timeout=120_000)

    steps = [p for p in progress if p[2].startswith("Step ") and p[0] > 0]
    total = steps[-1][1]
    assert [s[0] for s in steps] == list(range(1, total + 1))
    assert all("ETA" in s[2] for s in steps)
    step_previews = previews[:total]
    assert len(step_previews) == total
    assert all(on_gui_thread for _, _, on_gui_thread in previews)
    shape, rect, _ = step_previews[0]
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
    cancel_once = [True]

    def cancel_at_first_step(event):
        if event.step == 1 and cancel_once.pop() if cancel_once else False:
            editor.controller.cancel()

    editor.worker.step.connect(cancel_at_first_step)
    editor.controller.generate()
    qtbot.waitUntil(lambda: not editor.controller.busy, timeout=120_000)
    assert stopped and int(stopped[0].split()[-1]) <= 2
    assert editor.history.count() == 0
    assert not editor.canvas.preview_visible
    assert np.array_equal(editor.document.image, original)
    # The next Generate works.
    editor.panel.steps_spin.setValue(2)
    editor.controller.generate()
    qtbot.waitUntil(lambda: editor.history.count() == 1, timeout=120_000)


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
    assert not ed.worker.runner.alive


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
    assert editor.document.dirty  # an export does not keep the mask and history: still unsaved
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


def test_an_engine_exception_becomes_a_message_and_the_next_job_works(qtbot, tmp_path, tiny_model_dir, monkeypatch):
    from inference.engine.engine import Engine

    calls = []

    class FlakyEngine(Engine):
        def run(self, request, on_step, cancel):
            calls.append(request.job_id)
            if len(calls) == 1:
                raise RuntimeError("simulated failure inside the pipeline")
            return super().run(request, on_step, cancel)

    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _p, _t, text, *a: warnings.append(text))
    ed = build_editor(Settings(str(tmp_path / "s.ini")), engine_factory=FlakyEngine)
    try:
        _configure(ed, tiny_model_dir, steps=2)
        ed.document.new_blank(64, 64)
        ed.panel.params.width_px = ed.panel.params.height_px = 64
        ed.controller.generate()
        qtbot.waitUntil(lambda: bool(warnings), timeout=120_000)
        assert "RuntimeError" in warnings[0] and "simulated failure" in warnings[0]
        assert not ed.controller.busy
        ed.controller.generate()
        qtbot.waitUntil(lambda: ed.history.count() == 1, timeout=120_000)
    finally:
        ed.worker.shutdown()


CLOSE_MID_RUN = """
import sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from gui.app import build_editor
from gui.session.settings import Settings
ed = build_editor(Settings(sys.argv[1]))
ed.window.show()
ed.panel.model_combo.setEditText(sys.argv[2])
ed.panel.steps_spin.setValue(500)
ed.panel.params.width_px = ed.panel.params.height_px = 64
ed.document.new_blank(64, 64)
ed.worker.step.connect(lambda event: ed.window.close() if event.step == 2 else None)
QTimer.singleShot(0, ed.controller.generate)
sys.exit(app.exec())
"""


def test_closing_the_window_mid_run_exits_with_status_0(tmp_path, tiny_model_dir):
    import os
    import subprocess
    import sys

    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", CLOSE_MID_RUN, str(tmp_path / "s.ini"), str(tiny_model_dir)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=os.getcwd())
    assert done.returncode == 0, done.stderr[-2000:]
    assert "QThread: Destroyed while thread is still running" not in done.stderr


def test_shortcuts_reach_their_actions(editor, qtbot, photo_path):
    from PySide6.QtCore import Qt

    editor.files.open_path(str(photo_path), ask_about_parameters=False)
    editor.canvas.setFocus()
    size = editor.canvas.brush_size_px
    qtbot.keyClick(editor.canvas, Qt.Key.Key_BracketRight)
    assert editor.canvas.brush_size_px > size
    qtbot.keyClick(editor.canvas, Qt.Key.Key_BracketLeft)
    assert editor.canvas.brush_size_px == size
    qtbot.keyClick(editor.canvas, Qt.Key.Key_E)
    assert editor.canvas.tool == "eraser"
    qtbot.keyClick(editor.canvas, Qt.Key.Key_B)
    assert editor.canvas.tool == "brush"
    _paint_mask(editor.document)
    qtbot.keyClick(editor.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert not editor.document.has_mask()
    qtbot.keyClick(editor.canvas, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert editor.document.has_mask()
    qtbot.keyClick(editor.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    editor.canvas.set_zoom(1.0)
    qtbot.keyClick(editor.canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    fitted = editor.canvas.zoom
    assert fitted != 1.0
    editor.canvas.set_zoom(1.0)
    editor.canvas.fit()
    assert editor.canvas.zoom == fitted
    # Typing in the prompt box types; it does not switch tools.
    editor.panel.prompt_edit.setFocus()
    qtbot.keyClicks(editor.panel.prompt_edit, "be")
    assert editor.panel.params.prompt == "be" and editor.canvas.tool == "brush"


def test_before_after_toggle_shows_the_original(editor, qtbot, tiny_model_dir, photo_path):
    editor.files.open_path(str(photo_path), ask_about_parameters=False)
    _configure(editor, tiny_model_dir, steps=2)
    editor.controller.generate()
    qtbot.waitUntil(lambda: editor.history.count() == 1, timeout=120_000)
    assert editor.canvas.preview_visible
    editor.window.compare_button.setChecked(True)
    assert not editor.canvas.preview_visible
    editor.window.compare_button.setChecked(False)
    assert editor.canvas.preview_visible
    editor.controller.discard()
    assert not editor.canvas.preview_visible and editor.history.count() == 1
