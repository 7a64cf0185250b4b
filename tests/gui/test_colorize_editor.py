"""Image → Colourise in the editor on a gray scan with a colour hint painted on it: the result
keeps the scan's luminance everywhere (under the hint too), has colour, is applied as one undo
step, and the hint is used up."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtGui import QAction

from inference.restore.tone_match import luminance
from painting import paint_stroke
from photos import scan

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_colourise_a_gray_scan_with_a_hint(make_editor, qtbot, tmp_path, tiny_model_dir):
    editor = make_editor()
    gray = scan(4, size=(160, 120), gray=True)
    Image.fromarray(gray).save(tmp_path / "scan.png")
    assert editor.files.open_path(str(tmp_path / "scan.png"), ask_about_parameters=False)
    editor.panel.model_combo.setEditText(str(tiny_model_dir))
    editor.panel.steps_spin.setValue(4)
    editor.panel.prompt_edit.setPlainText("a colour photo of a garden")
    paint_stroke(editor.document, [(20, 60), (140, 60)], color=(220, 30, 30), radius_px=8)  # "the wall is red"
    undo_steps = editor.document.undo_stack.count()
    action = next(a for a in editor.window.findChildren(QAction) if a.text() == "Colou&rise")
    action.trigger()
    qtbot.waitUntil(lambda: editor.history.count() == 1 and not editor.controller.busy, timeout=120_000)
    shown = editor.results.shown.image
    assert np.abs(luminance(shown).astype(int) - gray[..., 0]).max() <= 1  # the hint left no trace in the tones
    assert editor.controller.accept()
    doc = editor.document
    assert np.abs(luminance(doc.image).astype(int) - gray[..., 0]).max() <= 1
    assert not (np.array_equal(doc.image[..., 0], doc.image[..., 1]) and np.array_equal(doc.image[..., 1], doc.image[..., 2]))
    assert not doc.has_paint()  # the hint is used up
    assert doc.undo_stack.count() == undo_steps + 1
    doc.undo_stack.undo()
    assert np.array_equal(doc.image, gray) and doc.has_paint() and not editor.warnings
