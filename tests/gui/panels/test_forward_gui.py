"""The "What strength does" slider on the tiny model: it shows the picture noised to the level
image-to-image starts from, back at 0 the picture itself; moves are debounced, one view is in
flight at a time and the latest wins; a generation takes over the worker and the canvas."""

from __future__ import annotations

import numpy as np
import pytest
from diffusers import PNDMScheduler

from gui.panels.forward_view_panel import DEBOUNCE_MS
from inference.core.api import ForwardViewRequest, GenerationRequest
from inference.engine.forward import start_timestep
from submissions import record_submissions
from painting import paint_stroke, photo_editor


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def editor(make_editor, tmp_path, tiny_model_dir):
    ed = photo_editor(make_editor, tmp_path, tiny_model_dir, steps=20)
    # Every submission with whether the worker was still busy with another, and every overlay drawn.
    ed.submitted, ed.drawn = record_submissions(ed), []
    show = ed.canvas.show_preview
    ed.canvas.show_preview = lambda rgb, rect: (ed.drawn.append((rgb, rect)), show(rgb, rect))
    yield ed
    ed.worker.shutdown()


def view_settled(editor, percent):
    view = editor.forward_view
    return not view.busy and view.level_label.text().startswith(f"{percent}% · timestep")


def test_the_slider_shows_the_noised_picture_and_zero_gives_it_back(editor, qtbot, tiny_model_dir):
    view, doc = editor.forward_view, editor.document
    view.slider.setValue(60)
    assert not editor.submitted  # debounced: nothing asked yet
    qtbot.waitUntil(lambda: view_settled(editor, 60), timeout=60_000)
    (request, _), = editor.submitted
    assert isinstance(request, ForwardViewRequest)
    assert editor.worker.runner.kind_of(request.job_id) == "ForwardViewRequest"  # typed, not told by its id
    assert (request.strength, request.steps, request.seed, request.model_ref) == (0.6, 20, 5, str(tiny_model_dir))
    assert np.array_equal(request.image, doc.composite())
    scheduler = PNDMScheduler.from_pretrained(tiny_model_dir, subfolder="scheduler")
    assert f"timestep {start_timestep(scheduler, 20, 0.6)} ·" in view.level_label.text()
    rgb, rect = editor.drawn[-1]
    assert rgb.shape == doc.image.shape and rect.isEmpty() and editor.canvas.preview_visible
    assert np.abs(rgb.astype(int) - doc.image).mean() > 5  # noised, not the picture

    view.slider.setValue(0)
    assert not editor.canvas.preview_visible and "the picture itself" in view.level_label.text()
    qtbot.wait(DEBOUNCE_MS + 100)
    assert len(editor.submitted) == 1 and not editor.warnings

    view.slider.setValue(80)
    view.use_button.click()
    assert editor.panel.params.strength == 0.8
    paint_stroke(editor.document, [(10, 10), (20, 20)])  # an edit: the view showed an older picture
    assert view.percent == 0 and not editor.canvas.preview_visible


def test_one_view_in_flight_and_the_latest_wins(editor, qtbot):
    view = editor.forward_view
    for percent in (10, 20, 30):  # within the debounce: one request
        view.slider.setValue(percent)
    qtbot.waitUntil(lambda: len(editor.submitted) == 1, timeout=5_000)
    view.slider.setValue(70)
    qtbot.wait(DEBOUNCE_MS + 50)
    view.slider.setValue(80)
    qtbot.waitUntil(lambda: view_settled(editor, 80), timeout=60_000)
    strengths = [request.strength for request, _ in editor.submitted]
    assert strengths[0] == 0.3 and strengths[-1] == 0.8 and len(strengths) <= 3
    assert not any(busy for _, busy in editor.submitted), "a view was asked while another was in flight"


def test_a_generation_takes_over_from_a_view_in_flight(editor, qtbot):
    view = editor.forward_view
    view.slider.setValue(50)
    qtbot.waitUntil(lambda: view.busy, timeout=5_000)
    editor.panel.steps_spin.setValue(3)
    assert editor.controller.generate()  # replaces the view in flight
    assert view.percent == 0 and not view.slider.isEnabled() and not view.busy
    qtbot.waitUntil(lambda: editor.history.count() == 1 and not editor.controller.busy, timeout=120_000)
    assert isinstance(editor.submitted[-1][0], GenerationRequest) and view.slider.isEnabled()
    assert editor.controller.shown_entry() is not None and not editor.warnings

    # A view over a shown result gives the result back at 0.
    entry = editor.controller.shown_entry()
    view.slider.setValue(40)
    qtbot.waitUntil(lambda: view_settled(editor, 40), timeout=60_000)
    view.slider.setValue(0)
    assert np.array_equal(editor.drawn[-1][0], entry.image) and editor.controller.shown_entry() is entry


def test_a_failing_view_says_so_without_a_dialog(editor, qtbot, tmp_path):
    messages = []
    editor.forward_view.message.connect(messages.append)
    editor.panel.model_combo.setEditText(str(tmp_path / "no-such-model"))
    editor.forward_view.slider.setValue(50)
    qtbot.waitUntil(lambda: bool(messages), timeout=60_000)
    assert "not found" in messages[0] and editor.forward_view.level_label.text() == "No view"
    assert not editor.warnings and not editor.controller.busy and not editor.canvas.preview_visible
