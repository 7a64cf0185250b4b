"""Type a prompt, Ctrl+Enter, then Enter: the result is accepted, the prompt keeps its one line."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from photos import scan

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_enter_after_a_result_accepts_it_even_when_the_prompt_had_the_keyboard(make_editor, qtbot, tiny_model_dir):
    editor = make_editor()
    doc, panel = editor.document, editor.panel
    doc.load(scan(3, size=(96, 64), gray=False))
    original = doc.image.copy()
    panel.model_combo.setEditText(str(tiny_model_dir))
    panel.steps_spin.setValue(2)
    panel.strength_spin.setValue(0.5)
    editor.window.activateWindow()
    panel.prompt_edit.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is panel.prompt_edit, timeout=5000)
    qtbot.keyClicks(panel.prompt_edit, "an old photo")
    qtbot.keyClick(panel.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)  # Generate
    qtbot.waitUntil(lambda: editor.history.count() == 1 and not editor.controller.busy, timeout=120_000)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)  # Enter: accept
    qtbot.waitUntil(lambda: not np.array_equal(doc.image, original), timeout=5000)
    assert panel.prompt_edit.toPlainText() == "an old photo"
