"""The device panel, LoRA list, Models menu and out-of-memory notices in the editor."""

from __future__ import annotations

import torch

from gui.panels.device_panel import MEMORY_MODES, NOT_STARTED, PRECISIONS
from inference.engine.engine import Engine


def test_the_panel_offers_exactly_what_the_engine_accepts():
    from inference.hardware.devices import PRECISIONS as ENGINE_PRECISIONS
    from inference.hardware.memory import MEMORY_MODE_NAMES

    assert tuple(PRECISIONS) == tuple(ENGINE_PRECISIONS) and tuple(MEMORY_MODES) == tuple(MEMORY_MODE_NAMES)


def test_device_choices_reach_the_worker_and_survive_a_restart(make_editor, qtbot):
    ed = make_editor()
    assert ed.device_panel.device_label.text() == NOT_STARTED
    panel = ed.device_panel
    panel.precision_combo.setCurrentIndex(panel.precision_combo.findData("bf16"))
    panel.memory_combo.setCurrentIndex(panel.memory_combo.findData("slicing"))
    worker = ed.worker  # the settings the worker thread applied between jobs
    qtbot.waitUntil(lambda: (worker._precision, worker._memory_mode) == ("bf16", "slicing"), timeout=5000)
    ed.window.close()
    again = make_editor()
    assert (again.device_panel.precision, again.device_panel.memory_mode) == ("bf16", "slicing")


def test_after_a_job_the_panel_names_the_device_and_a_lora_is_applied(make_editor, qtbot, tiny_model_dir, tmp_path):
    from tiny_lora import save_unet_lora

    from inference.models.tiny_model import build_tiny_pipeline

    lora = save_unet_lora(build_tiny_pipeline().unet, tmp_path)
    ed = make_editor()
    ed.panel.model_combo.setEditText(str(tiny_model_dir))
    ed.panel.steps_spin.setValue(2)
    ed.lora_panel.add(str(lora), 0.5)
    submitted = []
    submit = ed.worker.submit
    ed.worker.submit = lambda request: submitted.append(request) or submit(request)
    assert ed.controller.generate()
    qtbot.waitUntil(lambda: ed.history.count() == 1, timeout=120_000)
    assert submitted[0].loras == ((str(lora), 0.5),)
    qtbot.waitUntil(lambda: ed.device_panel.device_label.text() != NOT_STARTED, timeout=5000)
    assert "CPU" in ed.device_panel.device_label.text() and "fp32" in ed.device_panel.device_label.text()
    # The LoRA list is remembered with the other settings
    ed.window.close()
    again = make_editor()
    assert again.panel.params.loras == [[str(lora), 0.5]]
    again.lora_panel.remove(0)
    assert again.panel.params.loras == []


class _OutOfMemoryOnce(Engine):
    """The first attempt runs out of memory, as a too-small GPU would."""

    attempts = 0

    def _run_once(self, *args, **kwargs):
        type(self).attempts += 1
        if type(self).attempts == 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return super()._run_once(*args, **kwargs)


def test_an_out_of_memory_retry_is_told_and_the_result_still_arrives(make_editor, qtbot, tiny_model_dir):
    ed = make_editor(engine_factory=_OutOfMemoryOnce)
    messages = []
    ed.controller.message.connect(messages.append)
    ed.panel.model_combo.setEditText(str(tiny_model_dir))
    ed.panel.steps_spin.setValue(2)
    assert ed.controller.generate()
    qtbot.waitUntil(lambda: ed.history.count() == 1, timeout=120_000)
    told = [m for m in messages if "memory" in m]
    assert told and "retried" in told[-1] and messages[-1] == told[-1]  # the last word, not overwritten
    assert not ed.warnings and not ed.controller.busy
    # The next job is normal and says nothing about memory
    messages.clear()
    assert ed.controller.generate()
    qtbot.waitUntil(lambda: ed.history.count() == 2, timeout=120_000)
    assert not [m for m in messages if "memory" in m]


def test_the_models_menu_opens_the_dialog_and_a_choice_fills_the_model_box(make_editor, monkeypatch):
    from gui.dialogs.model_manager_dialog import ModelManagerDialog

    ed = make_editor()
    opened = []

    def fake_exec(dialog):
        opened.append(dialog)
        dialog.model_chosen.emit("some/model")
        return 0

    monkeypatch.setattr(ModelManagerDialog, "exec", fake_exec)
    action = next(a for a in ed.window.actions() if a.text() == "&Models…")
    assert action.shortcut().toString() == "Ctrl+Shift+M"
    action.trigger()
    assert opened and ed.panel.model_combo.currentText() == "some/model"
