"""Long work on big scans runs off the GUI thread: Save project, Detect damage, the Sensitivity
slider. The window's event loop keeps turning meanwhile, edits made during a save are neither
lost nor half in the file, and quitting waits for the save."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtWidgets import QFileDialog

import inference.restore.damage
from inference.files.project_read import load_project
from photos import scan

TICK_MS = 10


class Ticks:
    """A QTimer in the GUI thread; ``gaps_ms`` holds the time between its ticks."""

    def __init__(self):
        self.clock, self.gaps_ms, self._last = QElapsedTimer(), [], None
        self.clock.start()
        self.timer = QTimer(interval=TICK_MS)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self):
        now = self.clock.elapsed()
        if self._last is not None:
            self.gaps_ms.append(now - self._last)
        self._last = now

    def stop(self):
        self.timer.stop()


def _action(editor, text):
    return next(a for a in editor.window.actions() if a.text() == text)


def _big_scan(width=2700, height=1800):
    """A photo-like picture of about 5 MP with grain (slow to compress): H×W×3 uint8."""
    rng = np.random.default_rng(1)
    smooth = scan(1, (width // 10, height // 10)).repeat(10, 0).repeat(10, 1)
    return np.clip(smooth.astype(np.int16) + rng.integers(0, 40, smooth.shape), 0, 255).astype(np.uint8)


def _stroke(doc, x, y, radius=8):
    doc.begin_stroke()
    doc.paint_dab(x, y, radius)
    doc.end_stroke()


def test_ctrl_s_saves_in_the_background_while_the_event_loop_turns(make_editor, tmp_path, qtbot, monkeypatch):
    editor = make_editor()
    editor.document.load(_big_scan(), str(tmp_path / "scan.png"))
    project = tmp_path / "scan.kiln"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(project), ""))
    ticks = Ticks()
    _action(editor, "&Save project").trigger()  # returns at once: the file is written meanwhile
    assert editor.projects.saving and editor.window.busy_indicator.isVisible()
    qtbot.waitUntil(lambda: not editor.projects.saving, timeout=120_000)
    ticks.stop()
    # The timer kept ticking through the save: no gap near the save's own length.
    assert len(ticks.gaps_ms) >= 5 and max(ticks.gaps_ms) < 1000
    assert not editor.document.dirty and not editor.window.busy_indicator.isVisible()
    assert np.array_equal(load_project(project).image, editor.document.image)


def test_edits_during_a_save_are_kept_and_never_half_in_the_file(make_editor, tmp_path, qtbot, monkeypatch):
    editor = make_editor()
    doc = editor.document
    doc.load(_big_scan(), str(tmp_path / "scan.png"))
    project = tmp_path / "scan.kiln"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(project), ""))
    assert editor.projects.start_save()
    _stroke(doc, 100, 100)  # while the layers are copied: it is part of the saved state
    saved_mask = doc.mask.copy()
    qtbot.waitUntil(lambda: editor.projects._saver.phase == "writing", timeout=60_000)
    _stroke(doc, 900, 900)  # while the file is written: it is not, and stays unsaved
    qtbot.waitUntil(lambda: not editor.projects.saving, timeout=120_000)
    state = load_project(project)
    assert np.array_equal(state.mask, saved_mask) and state.undo_index == 1
    assert doc.dirty and editor.window.windowTitle().startswith("*") and doc.undo_stack.index() == 2
    # The file is consistent: its undo history leads to its layers.
    other = make_editor()
    assert other.projects.open_path(str(project))
    assert np.array_equal(other.document.mask, saved_mask) and not other.document.dirty


def test_quitting_during_a_save_waits_for_the_file(make_editor, tmp_path, monkeypatch):
    editor = make_editor()
    editor.document.load(_big_scan(), str(tmp_path / "scan.png"))
    project = tmp_path / "scan.kiln"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(project), ""))
    assert editor.projects.start_save()
    editor.window.close()
    assert not editor.projects.saving and not editor.window.isVisible()
    assert load_project(project).image.shape == editor.document.image.shape


def test_detect_damage_runs_in_the_background_while_the_event_loop_turns(make_editor, tmp_path, qtbot):
    editor = make_editor()
    editor.document.load(scan(3, (2400, 1600)), str(tmp_path / "scan.png"))
    ticks = Ticks()
    _action(editor, "&Detect damage").trigger()
    assert editor.restore.busy and editor.window.busy_indicator.isVisible()
    qtbot.waitUntil(lambda: not editor.restore.busy, timeout=120_000)
    ticks.stop()
    assert len(ticks.gaps_ms) >= 5 and editor.document.has_mask()
    assert editor.document.undo_stack.count() == 1


def _editor_counting_detections(make_editor, tmp_path, monkeypatch):
    """An editor with a small scan open, and the list of sensitivities detection was run at."""
    editor = make_editor()
    editor.document.load(scan(3, (320, 240)), str(tmp_path / "scan.png"))
    asked = []
    real = inference.restore.damage.detect_damage
    monkeypatch.setattr(inference.restore.damage, "detect_damage", lambda image, s: asked.append(s) or real(image, s))
    return editor, asked


def test_rapid_sensitivity_moves_make_one_detection_for_the_last_value(make_editor, tmp_path, qtbot, monkeypatch):
    editor, asked = _editor_counting_detections(make_editor, tmp_path, monkeypatch)
    assert editor.restore.detect_damage() > 0
    slider = editor.window.restore_panel.sensitivity_slider
    asked.clear()
    for value in range(52, 92, 4):  # ten moves, no pause between them
        slider.setValue(value)
    qtbot.waitUntil(lambda: not editor.restore.busy, timeout=60_000)
    assert asked == [pytest.approx(0.88)]
    stack = editor.document.undo_stack
    assert stack.count() == 1 and stack.text(0) == "Detect damage (88%)"  # replaced, not stacked


def test_a_detection_for_an_older_sensitivity_is_dropped(make_editor, tmp_path, qtbot, monkeypatch):
    editor, asked = _editor_counting_detections(make_editor, tmp_path, monkeypatch)
    editor.restore.request_detection()  # at 50 %
    editor.restore.set_sensitivity(0.7)  # before its answer came
    qtbot.waitUntil(lambda: not editor.restore.busy, timeout=60_000)
    stack = editor.document.undo_stack
    assert asked[-1] == pytest.approx(0.7) and stack.count() == 1 and stack.text(0) == "Detect damage (70%)"
