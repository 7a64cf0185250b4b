"""File → Teach the model… on the tiny model: photos dropped in, a caption, Start; the loss curve,
samples and step count move; Generate waits meanwhile (the run is not stopped); the LoRA joins
the LoRA list; Stop keeps a checkpoint and Resume finishes the run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QAction, QDropEvent

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def editor(make_editor, tmp_path, tiny_model_dir, monkeypatch):
    monkeypatch.setattr("gui.session.training.lora_folder", lambda: tmp_path / "loras")
    ed = make_editor()
    ed.panel.model_combo.setEditText(str(tiny_model_dir))
    photos = tmp_path / "grandma"
    photos.mkdir()
    for i in range(3):
        Image.fromarray(np.full((80, 72, 3), (150 + 20 * i, 120, 90), np.uint8)).save(photos / f"g{i}.png")
    ed.photos = photos
    yield ed
    ed.worker.shutdown()


def open_teach_dialog(editor):
    action = next(a for a in editor.window.findChildren(QAction) if a.text() == "&Teach the model…")
    action.trigger()
    return editor.window.teach_dialog


def drop(widget, paths):
    data = QMimeData()
    data.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, data, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(event)


def test_teach_from_dropped_photos_while_the_editor_waits(editor, qtbot):
    dialog = open_teach_dialog(editor)
    session = editor.training
    assert dialog.isVisible() and not dialog.start_button.isEnabled()  # nothing to learn from yet
    drop(dialog, [editor.photos])
    assert dialog.photo_list.count() == 3 and dialog.start_button.isEnabled()
    dialog.photo_list.setCurrentRow(1)
    dialog.caption_edit.setText("grandma in her garden")
    dialog.caption_edit.textEdited.emit("grandma in her garden")
    assert session.photos[1][1] == "grandma in her garden"
    assert dialog.caption_edit.text() == "grandma in her garden"
    dialog.photo_list.setCurrentRow(0)
    assert dialog.caption_edit.placeholderText() == "a photo of sks person"  # the preset's, with the trigger
    dialog.steps_spin.setValue(12)
    session.resolution = 64  # the tiny model's size (the dialog offers real models' sizes)
    dialog.start_button.click()
    assert session.running and dialog.stop_button.isEnabled() and not dialog.steps_spin.isEnabled()
    messages = []
    editor.controller.message.connect(messages.append)
    assert not editor.controller.generate()  # waits: a generation would stop the training job
    assert "teaching the model" in messages[-1] and session.running
    qtbot.waitUntil(lambda: session.state == "finished", timeout=180_000)
    out = session.out_path()
    assert out.is_file() and [str(out), 1.0] in editor.panel.params.loras
    assert dialog.progress_label.text().startswith("Done: 12 steps") and len(dialog.plot.losses) == 12
    assert dialog.sample_label.pixmap() is not None and not dialog.sample_label.pixmap().isNull()
    assert dialog.sample_label.toolTip() == "Sample after training step 12"  # the finished picture
    assert sorted(p.name for p in editor.photos.iterdir()) == ["g0.png", "g1.png", "g2.png"]  # untouched
    assert editor.controller.generate()  # and the editor generates again, with the new LoRA
    qtbot.waitUntil(lambda: not editor.controller.busy, timeout=120_000)
    assert editor.history.count() == 1 and not editor.warnings


def test_stop_keeps_a_checkpoint_and_resume_finishes(editor, qtbot):
    dialog = open_teach_dialog(editor)
    session = editor.training
    session.add_photos([str(editor.photos)])
    session.steps, session.resolution = 30, 64
    dialog.start_button.click()
    qtbot.waitUntil(lambda: session.step >= 3, timeout=120_000)
    dialog.close()  # the status bar still shows the run
    assert any(text.startswith("Teaching the model: step ") for text in editor.window.busy_indicator.texts())
    dialog.show()
    dialog.stop_button.click()
    qtbot.waitUntil(lambda: session.state == "stopped", timeout=60_000)
    assert editor.window.busy_indicator.texts() == []
    stopped_at = session.step
    assert dialog.resume_button.isEnabled() and stopped_at < 30
    assert (Path(str(session.out_path().with_suffix(".run"))) / "checkpoint" / "state.json").is_file()
    assert "Resume continues it" in dialog.status.text()
    dialog.resume_button.click()
    qtbot.waitUntil(lambda: session.state == "finished", timeout=180_000)
    assert session.step == 30 and session.out_path().is_file()


def test_a_run_stopped_before_a_restart_resumes(make_editor, editor, qtbot):
    session = editor.training
    session.add_photos([str(editor.photos)])
    session.steps, session.resolution = 20, 64
    assert session.start()
    qtbot.waitUntil(lambda: session.step >= 2, timeout=120_000)
    session.stop()
    qtbot.waitUntil(lambda: session.state == "stopped", timeout=60_000)
    editor.window.close()

    again = make_editor()  # a restart: the same settings file, a new session
    again.panel.model_combo.setEditText(editor.panel.params.model_ref)
    dialog = open_teach_dialog(again)
    assert not dialog.resume_button.isEnabled()  # no photos or settings yet: nothing of this run
    again.training.add_photos([str(editor.photos)])
    again.training.steps, again.training.resolution = 20, 64
    dialog.steps_spin.setValue(20)
    assert dialog.resume_button.isEnabled()  # the run folder of this LoRA has its checkpoint
    dialog.resume_button.click()
    qtbot.waitUntil(lambda: again.training.state == "finished", timeout=180_000)
    assert again.training.step == 20 and again.training.out_path().is_file()
