"""Live mode on the tiny model: one job in flight at most, stale jobs cancelled, the latest
stroke state wins; a pause mid-stroke regenerates; steps never round down to zero; the fast
preset; live results stay out of the history until accepted."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt

from gui.session.generation_params import GenerationParams, build_request, denoising_steps, effective_steps
from gui.session.live_mode import PAUSE_MS, fast_preset
from inference.core.api import Mode, StepPreview
from inference.engine.engine import Engine
from submissions import record_submissions
from painting import gradient, paint_stroke


class CountingEngine(Engine):
    """The real engine, slowed to 50 ms a step so strokes land mid-job, counting how many runs
    overlap (they must never)."""

    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
        self.running = self.max_running = 0

    def run(self, request, on_step, cancel):
        with self.lock:
            self.running += 1
            self.max_running = max(self.max_running, self.running)
        try:
            def slow_step(event):
                on_step(event)
                if isinstance(event, StepPreview):
                    time.sleep(0.05)

            return super().run(request, slow_step, cancel)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture
def engine():
    return CountingEngine()


@pytest.fixture
def editor(make_editor, tmp_path, engine, tiny_model_dir):
    ed = make_editor(engine_factory=lambda: engine)
    path = tmp_path / "photo.png"
    Image.fromarray(gradient(64, 96)).save(path)
    ed.files.open_path(str(path), ask_about_parameters=False)
    ed.panel.model_combo.setEditText(str(tiny_model_dir))
    ed.panel.steps_spin.setValue(8)
    ed.panel.prompt_edit.setPlainText("a bird on a branch")
    # Every submission, with whether a job was still in flight when it was made.
    ed.submitted = record_submissions(ed)
    ed.cancelled = []
    ed.worker.cancelled.connect(lambda event: ed.cancelled.append(event.job_id))
    yield ed
    ed.worker.shutdown()


def settled(editor):
    """Live mode has nothing left to do: no job running, no newer state waiting."""
    return not editor.controller.busy and not editor.live._dirty and not editor.live._timer.isActive()


def test_five_rapid_strokes_one_job_in_flight_and_the_last_stroke_wins(editor, qtbot, engine):
    doc, controller = editor.document, editor.controller
    photo = doc.image.copy()
    steps = []
    editor.worker.step.connect(steps.append)
    editor.live.set_enabled(True)
    qtbot.waitUntil(lambda: bool(steps), timeout=60_000)  # the first live job is denoising
    for i in range(5):
        paint_stroke(doc, [(10 + 15 * i, 10), (10 + 15 * i, 50)], color=(40 * i, 200, 90), radius_px=4)
        qtbot.wait(20)  # a job lasts longer than this: strokes land mid-job
    final_state = doc.composite()
    final_paint = doc.paint.copy()
    qtbot.waitUntil(lambda: settled(editor) and controller.shown_entry() is not None, timeout=120_000)

    assert engine.max_running == 1
    assert not any(in_flight for _request, in_flight in editor.submitted), "a job was submitted over another"
    assert editor.cancelled, "the stale job was not cancelled"
    assert 2 <= len(editor.submitted) <= 6  # the first job, then at most one per stroke
    assert set(editor.cancelled) <= {request.job_id for request, _ in editor.submitted[:-1]}
    final = editor.submitted[-1][0]
    np.testing.assert_array_equal(final.image, final_state)
    assert final.mode is Mode.IMG2IMG and final.job_id not in editor.cancelled
    # The live result is pending on the canvas, not in the history, until accepted.
    entry = controller.shown_entry()
    assert entry.job_id == final.job_id and editor.history.count() == 0 and editor.canvas.preview_visible
    submitted = len(editor.submitted)
    assert controller.accept()
    assert editor.history.count() == 1 and controller.shown_entry() is None
    np.testing.assert_array_equal(doc.image, entry.image)
    assert not doc.has_paint()
    qtbot.wait(PAUSE_MS + 100)
    assert len(editor.submitted) == submitted and settled(editor)  # accepting started nothing new
    doc.undo_stack.undo()  # one step: the photo and the sketch are back
    np.testing.assert_array_equal(doc.image, photo)
    np.testing.assert_array_equal(doc.paint, final_paint)


def test_a_pause_mid_stroke_regenerates_and_release_without_change_starts_nothing(editor, qtbot, engine):
    doc = editor.document
    editor.live.set_enabled(True)
    qtbot.waitUntil(lambda: settled(editor) and editor.controller.shown_entry() is not None, timeout=60_000)
    count = len(editor.submitted)
    doc.begin_stroke(layer="paint", color=(250, 0, 0))
    doc.paint_segment(20, 20, 60, 40, 5)
    moved_at = time.monotonic()
    assert editor.controller.shown_entry() is None  # the old result is hidden at once: it is stale
    qtbot.waitUntil(lambda: len(editor.submitted) == count + 1, timeout=10_000)
    assert time.monotonic() - moved_at >= PAUSE_MS / 1000 - 0.01
    assert doc.stroke_active
    np.testing.assert_array_equal(editor.submitted[-1][0].image, doc.composite())
    doc.end_stroke()  # nothing moved since the pause: the running job is still current
    qtbot.waitUntil(lambda: settled(editor), timeout=60_000)
    assert len(editor.submitted) == count + 1 and engine.max_running == 1


def test_live_requests_never_round_down_to_zero_steps(editor, monkeypatch):
    editor.panel.steps_spin.setValue(2)
    editor.panel.strength_spin.setValue(0.3)
    assert editor.panel.steps_label.text() == "runs 1 of 4 steps"
    editor.panel.steps_spin.setValue(10)
    assert editor.panel.steps_label.text() == "runs 3 steps"
    for steps in (1, 2, 3, 4):
        for strength in (0.05, 0.1, 0.3, 1 / 3, 0.5, 0.99):
            raised = effective_steps(steps, strength)
            assert raised >= steps and int(raised * strength) >= 1
            assert denoising_steps(steps, strength, Mode.IMG2IMG) >= 1
    params = GenerationParams(model_ref="m", steps=1, strength=0.3)
    request = build_request(1, params, np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16), np.uint8), False, True)
    assert request.steps == 4 and int(request.steps * request.strength) == 1
    txt = build_request(2, params, np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16), np.uint8), True)
    assert txt.mode is Mode.TXT2IMG and txt.steps == 1


def test_fast_preset_sets_few_step_settings_and_gives_yours_back(editor, qtbot, monkeypatch):
    panel, window = editor.panel, editor.window
    panel.guidance_spin.setValue(7.5)
    panel.scheduler_combo.setCurrentText("euler_a")
    assert not panel.fast_button.isVisible()
    editor.live.set_enabled(True)
    assert panel.fast_button.isVisible() and panel.live_check.isChecked() and window.live_action.isChecked()
    qtbot.keyClick(editor.canvas, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    params = panel.params
    assert (params.steps, params.guidance, params.scheduler) == (4, 1.0, "lcm")
    assert panel.fast_button.isChecked() and window.fast_action.isChecked() and panel.steps_spin.value() == 4
    panel.fast_button.click()
    assert (params.steps, params.guidance, params.scheduler) == (8, 7.5, "euler_a")
    assert not window.fast_action.isChecked()
    qtbot.keyClick(editor.canvas, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert not editor.live.enabled and not panel.live_check.isChecked() and not panel.fast_button.isVisible()
    # Without an "lcm" scheduler the sampler is left as it is.
    monkeypatch.setattr("gui.session.live_mode.scheduler_names", lambda: ["default", "euler_a"])
    assert fast_preset(params).scheduler == "euler_a" and fast_preset(params).steps == 4


def test_live_mode_turns_itself_off_when_it_cannot_run(editor, qtbot, monkeypatch, tmp_path):
    asked = []
    monkeypatch.setattr(editor.window, "ask_for_model", lambda: asked.append(True))
    editor.panel.model_combo.setEditText("")
    editor.panel.live_check.setChecked(True)
    qtbot.waitUntil(lambda: not editor.live.enabled, timeout=5_000)
    assert asked and not editor.panel.live_check.isChecked() and not editor.window.live_action.isChecked()
    editor.panel.model_combo.setEditText(str(tmp_path / "no-such-model"))
    editor.live.set_enabled(True)
    qtbot.waitUntil(lambda: not editor.live.enabled, timeout=60_000)
    assert len(editor.warnings) == 1 and "not found" in editor.warnings[0]
    paint_stroke(editor.document, [(20, 20), (40, 40)])
    qtbot.wait(100)
    assert len(editor.warnings) == 1 and not editor.controller.busy  # off: strokes start nothing
