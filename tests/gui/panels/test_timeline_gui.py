"""The Timeline panel on the tiny model: scrubbing shows each step's preview in place and the end
shows the result; branching from step k with the same seed gives the same picture, with another
seed a different one; inpainting results are not offered, an inpainting model says why."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget

from gui.session.step_overlay import mask_box
from gui.session.timeline import NOT_BRANCHABLE_TEXT
from inference.core.api import Mode
from painting import gradient

STEPS = 8


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # 2 shared cores: GUI and torch


@pytest.fixture
def editor(make_editor, tmp_path, tiny_model_dir):
    ed = make_editor()
    ed.panel.model_combo.setEditText(str(tiny_model_dir))
    ed.panel.steps_spin.setValue(STEPS)
    ed.panel.prompt_edit.setPlainText("a red barn in the snow")
    ed.panel.params.width_px = ed.panel.params.height_px = 64
    ed.document.new_blank(64, 64)
    # Every request submitted, and every picture the canvas was asked to draw over the photo.
    ed.submitted, ed.drawn = [], []
    submit, show = ed.worker.submit, ed.canvas.show_preview
    ed.worker.submit = lambda request: (sent := submit(request), ed.submitted.append(sent))[0]  # as numbered
    ed.canvas.show_preview = lambda rgb, rect: (ed.drawn.append((rgb, rect)), show(rgb, rect))
    yield ed
    ed.worker.shutdown()


def generate(editor, qtbot, action=None):
    """Run Generate (or ``action``) and wait for its result in the history; the new entry."""
    count = editor.history.count()
    assert (action or editor.controller.generate)()
    qtbot.waitUntil(lambda: editor.history.count() == count + 1 and not editor.controller.busy, timeout=120_000)
    return editor.history.entries()[-1]


def test_scrubbing_shows_each_steps_preview_and_the_end_shows_the_result(editor, qtbot):
    editor.panel.use_seed(1234)
    entry = generate(editor, qtbot)
    run, panel = editor.controller.timeline.last, editor.timeline
    total = len(run.previews)
    assert total >= STEPS and run.previews[-1].total == total  # PNDM runs one step more than asked
    assert [p.step for p in run.previews] == list(range(1, total + 1))
    assert panel.slider.maximum() == total and panel.step == total and panel.slider.isEnabled()

    # Dragging: each step's preview is drawn over the whole picture, the last one too while held…
    editor.drawn.clear()
    panel.slider.setSliderDown(True)
    for k in (1, 3, total):
        panel.slider.setValue(k)
        rgb, rect = editor.drawn[-1]
        assert rgb is run.previews[k - 1].rgb and rect.isEmpty(), k
        assert f"Step {k} of {total}" in panel.step_label.text()
    # …and releasing at the last step shows the result again.
    panel.slider.setSliderDown(False)
    rgb, rect = editor.drawn[-1]
    assert np.array_equal(rgb, entry.image) and editor.controller.shown_entry() is entry
    assert "the result" in panel.step_label.text()

    # The keyboard scrubs too; leaving the timeline (hiding it) gives the canvas back to the result.
    qtbot.keyClick(panel.slider, Qt.Key.Key_Home)
    assert editor.drawn[-1][0] is run.previews[0].rgb and editor.canvas.preview_visible
    dock = editor.window.findChild(QDockWidget, "timelineDock")
    view_menu = next(a.menu() for a in editor.window.menuBar().actions() if a.text() == "&View")
    toggle = dock.toggleViewAction()
    assert toggle in view_menu.actions() and toggle.text() == "Timeline"
    toggle.trigger()  # View → Timeline: hidden
    assert not dock.isVisible()
    assert np.array_equal(editor.drawn[-1][0], entry.image) and panel.step == total
    assert editor.controller.shown_entry() is entry


def test_branching_with_the_same_seed_reproduces_and_a_random_seed_varies(editor, qtbot):
    editor.panel.use_seed(1234)
    original = generate(editor, qtbot)
    source = editor.submitted[-1]
    panel, k = editor.timeline, 4
    assert not panel.branch_button.isEnabled()  # at the last step: that is the result itself
    panel.slider.setValue(k)
    assert panel.branch_button.isEnabled()
    source_previews = list(editor.controller.timeline.last.previews)

    editor.canvas.setFocus()
    ctrl_b = lambda: qtbot.keyClick(editor.canvas, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier) or True  # noqa: E731
    same = generate(editor, qtbot, ctrl_b)
    branch = editor.submitted[-1]
    assert branch.branch_from == (source.job_id, k) and branch.job_id == same.job_id != source.job_id
    assert (branch.mode, branch.seed, branch.prompt) == (Mode.TXT2IMG, 1234, source.prompt)
    assert (branch.model_ref, branch.steps, branch.scheduler) == (source.model_ref, source.steps, source.scheduler)
    assert (branch.width_px, branch.height_px, branch.guidance) == (64, 64, source.guidance)
    assert np.array_equal(same.image, original.image), "the same seed and prompt must give the same picture"
    assert same.seed == 1234 and editor.history.count() == 2
    # The branch's timeline is the whole history: the source's first k steps, then its own.
    run = editor.controller.timeline.last
    assert run.request.job_id == branch.job_id and len(run.previews) == len(source_previews)
    assert all(a is b for a, b in zip(run.previews[:k], source_previews[:k]))
    assert {p.job_id for p in run.previews[k:]} == {branch.job_id}

    # Random seed: a variation of the same start.
    editor.panel.random_check.setChecked(True)
    panel.slider.setValue(k)
    varied = generate(editor, qtbot, panel.branch)
    again = editor.submitted[-1]
    assert again.branch_from == (branch.job_id, k) and again.seed != 1234
    assert not np.array_equal(varied.image, original.image)


def test_branching_an_image_to_image_result_keeps_its_picture(editor, qtbot, tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(gradient(64, 96)).save(path)
    editor.files.open_path(str(path), ask_about_parameters=False)
    editor.panel.use_seed(7)
    original = generate(editor, qtbot)
    source = editor.submitted[-1]
    assert source.mode is Mode.IMG2IMG
    editor.timeline.slider.setValue(2)
    same = generate(editor, qtbot, editor.timeline.branch)
    branch = editor.submitted[-1]
    assert branch.mode is Mode.IMG2IMG and branch.branch_from == (source.job_id, 2)
    assert np.array_equal(branch.image, source.image) and branch.strength == source.strength
    assert np.array_equal(same.image, original.image)


def test_inpainting_is_not_offered_and_an_inpainting_model_says_why(editor, qtbot, tmp_path, tiny_inpaint_dir):
    path = tmp_path / "photo.png"
    Image.fromarray(gradient(64, 96)).save(path)
    editor.files.open_path(str(path), ask_about_parameters=False)
    doc = editor.document
    doc.begin_stroke()
    doc.paint_segment(30, 20, 60, 40, radius_px=8)
    doc.end_stroke()
    editor.panel.steps_spin.setValue(3)
    generate(editor, qtbot)
    assert editor.submitted[-1].mode is Mode.INPAINT
    panel = editor.timeline
    panel.slider.setValue(1)  # inpainting steps show in place, only inside the mask
    rgb, rect = editor.drawn[-1]
    assert rgb.shape[2] == 4 and rect == mask_box(doc.mask)
    assert not panel.branch_button.isEnabled() and panel.branch_button.toolTip() == NOT_BRANCHABLE_TEXT
    branch_action = next(a for a in editor.window.actions() if a.text() == "&Branch from this step")
    assert not branch_action.isEnabled()
    assert not editor.controller.branch(1) and editor.warnings[-1] == NOT_BRANCHABLE_TEXT

    # An inpainting model keeps no states: the engine refuses, and the app says so as usual.
    editor.document.new_blank(64, 64)
    assert editor.controller.timeline.last is None  # another picture: the old timeline is gone
    editor.panel.model_combo.setEditText(str(tiny_inpaint_dir))
    generate(editor, qtbot)
    panel.slider.setValue(1)
    assert panel.branch_button.isEnabled() and branch_action.isEnabled()
    warnings = len(editor.warnings)
    assert panel.branch()
    qtbot.waitUntil(lambda: not editor.controller.busy, timeout=60_000)
    assert len(editor.warnings) == warnings + 1 and "can no longer be branched" in editor.warnings[-1]
    assert editor.history.count() == 1 and panel.slider.isEnabled()  # the new picture's one result
