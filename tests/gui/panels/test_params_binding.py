"""Generation settings are observable per field, and the panels are bound to them both ways: a
value set anywhere (a reopened project, a PNG's parameters, the fast preset) shows at once, with
no refresh call; a widget edited writes its one field."""

from __future__ import annotations

import pytest

from gui.panels.generation_panel import GenerationPanel
from gui.panels.lora_panel import LoraPanel
from gui.session.generation_params import GenerationParams


@pytest.fixture
def panels(qtbot):
    params = GenerationParams(prompt="first", steps=20)
    panel, loras = GenerationPanel(params), LoraPanel(params)
    qtbot.addWidget(panel)
    qtbot.addWidget(loras)
    return params, panel, loras


def test_a_field_set_on_the_model_shows_in_its_widget(panels):
    params, panel, loras = panels
    assert panel.prompt_edit.toPlainText() == "first" and panel.steps_spin.value() == 20
    params.prompt, params.steps, params.seed, params.random_seed = "an old barn", 31, 777, False
    params.scheduler, params.width_px, params.colorize = "euler_a", 640, True
    params.loras = [["/models/style.safetensors", 0.7]]
    assert panel.prompt_edit.toPlainText() == "an old barn" and panel.steps_spin.value() == 31
    assert panel.seed_spin.value() == 777 and not panel.random_check.isChecked() and panel.seed_spin.isEnabled()
    assert panel.scheduler_combo.currentText() == "euler_a" and panel.width_spin.value() == 640
    assert panel.colorize_check.isChecked()
    assert [label.text() for label in loras.findChildren(type(panel.mode_label)) if label.text() == "style"] == ["style"]


def test_a_widget_writes_its_field_and_a_value_it_cannot_show_settles_once(panels):
    params, panel, _ = panels
    seen = []
    params.watch("guidance", seen.append)
    panel.guidance_spin.setValue(9.0)
    assert params.guidance == 9.0 and seen == [9.0]
    params.guidance = 7.25  # one decimal in the widget: it writes back what it shows, and that is the end
    assert panel.guidance_spin.value() == pytest.approx(7.3) and params.guidance == panel.guidance_spin.value()
    assert len(seen) == 3
    panel.prompt_edit.setPlainText("typed")
    assert params.prompt == "typed"


def test_a_copy_has_no_watchers_and_a_wrong_name_is_refused():
    params = GenerationParams()
    seen = []
    params.watch("steps", seen.append)
    copy = params.copy()
    copy.steps = 5
    params.steps = 20  # the same value: no news
    assert seen == [] and params.steps == 20
    with pytest.raises(ValueError, match="no field"):
        params.watch("stpes", seen.append)
