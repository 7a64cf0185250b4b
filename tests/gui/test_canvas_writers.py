"""The editor's writers over the canvas — a finished result, a timeline scrub, the strength view —
through the one overlay owner, in the order a person reaches them: the newest shows, its slider
going back shows the result again, and Accept and Discard leave the picture (applied or as it
was) with nothing over it. Tiny model, real editor."""

from __future__ import annotations

import numpy as np
import pytest

from gui.session.overlay import Layer
from painting import photo_editor

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def editor(make_editor, tmp_path, tiny_model_dir):
    ed = photo_editor(make_editor, tmp_path, tiny_model_dir, steps=4)
    yield ed
    ed.worker.shutdown()


def generate(editor, qtbot):
    count = editor.history.count()
    assert editor.controller.generate()
    qtbot.waitUntil(lambda: editor.history.count() == count + 1 and not editor.controller.busy, timeout=120_000)
    return editor.results.shown


def shown(editor):
    frame = editor.overlay.shown()
    return None if frame is None else frame.layer


def test_result_timeline_and_strength_in_turn_then_discard_and_accept(editor, qtbot):
    photo = editor.document.image.copy()
    entry = generate(editor, qtbot)
    timeline, strength = editor.timeline, editor.forward_view
    assert shown(editor) is Layer.RESULT and np.array_equal(editor.overlay.shown().rgb, entry.image)

    timeline.slider.setValue(1)  # scrub: the first step over the result
    assert shown(editor) is Layer.TIMELINE and editor.canvas.preview_visible
    strength.slider.setValue(50)  # the strength view is newer: it wins, the timeline goes back to the end
    qtbot.waitUntil(lambda: shown(editor) is Layer.STRENGTH, timeout=60_000)
    assert timeline.step == timeline.slider.maximum()
    timeline.slider.setValue(2)  # and the timeline again: the strength slider goes to 0
    assert shown(editor) is Layer.TIMELINE and strength.percent == 0
    timeline.leave()
    assert shown(editor) is Layer.RESULT  # the result was underneath all along

    strength.slider.setValue(30)
    qtbot.waitUntil(lambda: shown(editor) is Layer.STRENGTH, timeout=60_000)
    editor.history.setCurrentRow(-1)
    editor.history.setCurrentRow(0)  # picking the result again gives it the canvas
    assert shown(editor) is Layer.RESULT and strength.percent == 0

    editor.controller.discard()
    assert shown(editor) is None and not editor.canvas.preview_visible
    assert np.array_equal(editor.document.image, photo)

    entry = generate(editor, qtbot)
    timeline.slider.setValue(1)
    assert shown(editor) is Layer.TIMELINE
    assert editor.controller.accept()
    assert shown(editor) is None and not editor.canvas.preview_visible and timeline.step == timeline.slider.maximum()
    assert np.array_equal(editor.document.image, entry.image) and editor.results.accepted is entry
    editor.document.undo_stack.undo()  # one step
    assert np.array_equal(editor.document.image, photo) and not editor.warnings
