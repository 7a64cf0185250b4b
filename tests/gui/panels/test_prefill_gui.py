"""Pre-fill with Fill hole: the diffusion model starts inpainting from the learned fill."""

from __future__ import annotations

import numpy as np
import pytest

from photos import scan

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _masked_editor(make_editor, tiny_model_dir, fill_model=None):
    first = make_editor()
    if fill_model is not None:
        first.settings.choose_restoration_model("fill", str(fill_model))
    editor = make_editor()  # a restart: the chosen fill model is read at start
    doc = editor.document
    doc.load(scan(5, size=(96, 64), gray=False))
    mask = np.zeros((64, 96), np.uint8)
    mask[16:48, 24:72] = 255
    doc.set_mask(mask)
    editor.panel.model_combo.setEditText(str(tiny_model_dir))
    editor.panel.steps_spin.setValue(2)
    editor.panel.random_check.setChecked(False)
    return editor


def test_the_two_pre_fills_exclude_each_other_and_the_fill_one_reaches_the_request(
        make_editor, qtbot, tiny_model_dir, fill_model):
    editor = _masked_editor(make_editor, tiny_model_dir, fill_model)
    panel, controller = editor.panel, editor.controller
    panel.prefill_check.setChecked(True)
    panel.prefill_fill_check.setChecked(True)
    assert not panel.prefill_check.isChecked() and editor.panel.params.prefill_fill
    requests = []
    editor.worker.started.connect(lambda _event: requests.append(controller._request))
    assert controller.generate()
    qtbot.waitUntil(lambda: editor.history.count() == 1 and not controller.busy, timeout=180_000)
    request = requests[0]
    assert request.prefill == "fill" and request.fill_model == str(fill_model)
    filled = editor.results.shown.image
    outside = editor.document.mask == 0
    outside[:, 8:88] = False  # the feather reaches 13 px past the mask
    assert np.array_equal(filled[outside], editor.document.image[outside])
    panel.prefill_check.setChecked(True)  # Heal instead: another start, another picture
    assert not panel.prefill_fill_check.isChecked()
    assert controller.generate()
    qtbot.waitUntil(lambda: editor.history.count() == 2 and not controller.busy, timeout=180_000)
    assert not np.array_equal(editor.results.shown.image, filled)
    assert editor.warnings == []


def test_without_a_fill_model_it_says_where_to_choose_one(make_editor, tiny_model_dir):
    editor = _masked_editor(make_editor, tiny_model_dir)
    errors = []
    editor.controller.error.connect(errors.append)
    editor.panel.prefill_fill_check.setChecked(True)
    assert not editor.controller.generate()
    assert errors and "File → Models… → Restoration" in errors[0]
