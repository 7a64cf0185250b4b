"""Image → Upscale… and Fill (learned) in the editor, with random-weight models of real architectures."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from gui.session.overlay import Layer
from inference.core.api import JobStarted, StepPreview
from painting import gradient, paint_stroke
from photos import scan

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TIMEOUT_MS = 120_000


def _editor(make_editor, picture, **models):
    """An editor showing ``picture``, with ``models`` ("upscale", "fill": paths) chosen."""
    editor = make_editor()
    for kind, path in models.items():
        editor.settings.choose_restoration_model(kind, str(path))
    editor.document.load(picture)
    return editor


def _finish(qtbot, editor):
    qtbot.waitUntil(lambda: not editor.restoration.busy, timeout=TIMEOUT_MS)


def _small_tiles(monkeypatch, tile_px=32, gate: threading.Event | None = None):
    """Upscale in ``tile_px`` tiles; with ``gate``, each tile after the first waits for it."""
    from inference.restoration_models import upscale

    real = upscale.upscale_image

    def tiled(model, image, factor, on_tile=None, tile=None, **kwargs):
        def report(index, total, box, rgb):
            on_tile(index, total, box, rgb)
            if gate is not None:
                assert gate.wait(30), "the test never opened the gate"

        return real(model, image, factor, tile=tile_px, on_tile=report, **kwargs)

    monkeypatch.setattr(upscale, "DEFAULT_TILE", tile_px)  # the job's JobStarted counts tiles of this size
    monkeypatch.setattr(upscale, "upscale_image", tiled)


def _events(editor):
    seen = []
    editor.worker.restoration.connect(seen.append)
    return seen


def test_upscale_enlarges_every_layer_previews_each_tile_in_place_and_undoes_in_one_step(
        make_editor, qtbot, compact_upscaler, monkeypatch):
    _small_tiles(monkeypatch)
    picture = scan(1, size=(96, 64))  # gray: it must stay gray
    editor = _editor(make_editor, picture, upscale=compact_upscaler)
    doc = editor.document
    doc.set_mask(np.pad(np.full((16, 16), 255, np.uint8), ((8, 40), (8, 72))))
    paint_stroke(doc, [(60, 30), (80, 40)])
    before = (doc.image.copy(), doc.mask.copy(), doc.paint.copy())
    steps_before = doc.undo_stack.count()
    events, frames, texts = _events(editor), [], []
    editor.overlay.changed.connect(lambda: frames.append(editor.overlay.shown()))
    editor.window.progress_label.setText("")
    editor.restoration.progress.connect(lambda *args: texts.append(args[2]))

    assert editor.restoration.upscale(2)
    assert not editor.panel.generate_button.isEnabled()  # one job at a time: Generate waits
    _finish(qtbot, editor)

    # The picture, the mask and the paint layer are all twice as large, in one undo step.
    assert (doc.width_px, doc.height_px) == (192, 128) and doc.mask.shape == (128, 192)
    assert doc.paint.shape == (128, 192, 4) and doc.paint[..., 3].any()
    assert doc.mask[18:46, 18:46].min() == 255 and doc.mask[:, 100:].max() == 0
    assert np.array_equal(doc.image[..., 0], doc.image[..., 1]) and np.array_equal(doc.image[..., 1], doc.image[..., 2])
    assert doc.undo_stack.count() == steps_before + 1 and editor.panel.generate_button.isEnabled()
    # One preview per tile (3 × 2 tiles of 32 px), each with its box, drawn in place meanwhile.
    started = [e for e in events if isinstance(e, JobStarted)]
    previews = [e for e in events if isinstance(e, StepPreview)]
    assert started[0].total_steps == 6 and [p.step for p in previews] == [1, 2, 3, 4, 5, 6]
    def band(start, size, length):  # a tile's core plus the 8 px seam band it blends on each inner side
        begin = start - 8 if start > 0 else 0
        return begin, min(length, start + size + 8) - begin

    expected = {(bx, by, bw, bh) for x in (0, 32, 64) for y in (0, 32)
                for (bx, bw), (by, bh) in [(band(x, 32, 96), band(y, 32, 64))]}
    assert {p.box for p in previews} == expected
    steps = [f for f in frames if f is not None and f.layer is Layer.STEP]
    assert len(steps) == 6 and steps[0].rgb.shape == (64, 96, 4)
    assert steps[0].rgb[:40, :40, 3].min() == 255 and steps[0].rgb[:, 40:, 3].max() == 0  # tile 1 (and its seam band) only
    assert steps[-1].rgb[..., 3].min() == 255  # the sweep covers the picture at the end
    assert not editor.overlay.has(Layer.STEP)
    assert "Upscaling: tile 3 of 6, " in " | ".join(texts) and "left" in texts[3]
    assert editor.window.progress_label.text().startswith("Upscale done")

    doc.undo_stack.undo()
    assert (doc.width_px, doc.height_px) == (96, 64)
    assert all(np.array_equal(a, b) for a, b in zip((doc.image, doc.mask, doc.paint), before))
    doc.undo_stack.redo()
    assert (doc.width_px, doc.height_px) == (192, 128)


def test_esc_stops_an_upscale_within_a_tile_and_the_next_one_works(make_editor, qtbot, compact_upscaler, monkeypatch):
    gate = threading.Event()
    _small_tiles(monkeypatch, gate=gate)
    editor = _editor(make_editor, gradient(64, 96), upscale=compact_upscaler)
    doc = editor.document
    original, steps_before = doc.image.copy(), doc.undo_stack.count()
    events = _events(editor)

    assert editor.restoration.upscale(2)
    qtbot.waitUntil(lambda: any(isinstance(e, StepPreview) for e in events), timeout=TIMEOUT_MS)
    assert editor.overlay.has(Layer.STEP)  # the first tile is on the canvas
    assert not editor.restoration.upscale(2) and not editor.restoration.fill()  # one at a time
    editor.window.cancel_action.trigger()  # Esc
    assert not editor.overlay.has(Layer.STEP)
    gate.set()
    _finish(qtbot, editor)

    assert [type(e).__name__ for e in events][-1] == "JobCancelled"
    assert sum(isinstance(e, StepPreview) for e in events) < 6
    assert np.array_equal(doc.image, original) and doc.image.shape == original.shape
    assert doc.undo_stack.count() == steps_before and not doc.dirty
    assert editor.panel.generate_button.isEnabled() and not editor.worker.busy

    assert editor.restoration.upscale(2)  # the runner goes on
    _finish(qtbot, editor)
    assert (doc.width_px, doc.height_px) == (192, 128)


def test_a_face_model_chosen_for_upscale_says_so_and_changes_nothing(make_editor, qtbot, face_model):
    editor = _editor(make_editor, gradient(64, 96), upscale=face_model)
    original = editor.document.image.copy()
    assert editor.restoration.upscale(2)
    _finish(qtbot, editor)
    assert any("face restorer" in w and "not an upscaler" in w for w in editor.warnings), editor.warnings
    assert np.array_equal(editor.document.image, original) and editor.document.undo_stack.count() == 0


def test_without_a_chosen_model_it_says_where_to_choose_one(make_editor):
    editor = _editor(make_editor, gradient(64, 96))
    assert editor.upscale.make_dialog() is None and not editor.restoration.upscale(2)
    editor.document.set_mask(np.full((64, 96), 255, np.uint8))
    assert not editor.restoration.fill()
    assert len(editor.warnings) == 3
    assert all("File → Models… → Restoration" in w and "make-test-model" in w for w in editor.warnings)
    assert "--restoration fill" in editor.warnings[-1]


def test_upscale_dialog_shows_the_sizes_defaults_to_the_native_scale_and_refuses_too_large(
        make_editor, qtbot, tiny_upscaler):
    from gui.dialogs.upscale_dialog import UpscaleDialog
    from gui.session.restoration_jobs import upscale_problem

    editor = _editor(make_editor, gradient(64, 96), upscale=tiny_upscaler)
    dialog = editor.upscale.make_dialog()
    qtbot.addWidget(dialog)
    assert dialog.factor() == 2 and dialog.size_label.text() == "96×64 → 192×128 px"
    assert editor.upscale.wait_described()
    qtbot.waitUntil(lambda: dialog.factor() == 4)  # the model's native scale, once the file was read
    assert dialog.size_label.text() == "96×64 → 384×256 px" and "×4" in dialog.model_label.text()
    assert dialog.can_start()

    big = UpscaleDialog(6000, 4000, "up.safetensors", upscale_problem, factor=4)
    qtbot.addWidget(big)
    assert not big.can_start() and "384 megapixels" in big.problem_label.text()
    big.set_factor(2)
    assert big.can_start() and big.problem_label.isHidden()


def test_fill_changes_only_the_masked_pixels_in_one_undo_step(make_editor, qtbot, fill_model):
    editor = _editor(make_editor, gradient(64, 96), fill=fill_model)
    doc, button = editor.document, editor.window.restore_panel.fill_button
    assert not button.isEnabled() and "Paint the mask" in button.toolTip()
    assert not editor.restoration.fill()  # explained, nothing started
    mask = np.zeros((64, 96), np.uint8)
    mask[20:40, 30:60] = 255
    doc.set_mask(mask)
    assert button.isEnabled()
    original, steps_before = doc.image.copy(), doc.undo_stack.count()
    events = _events(editor)

    button.click()
    assert editor.restoration.busy and not button.isEnabled()
    _finish(qtbot, editor)

    changed = np.any(doc.image != original, axis=2)
    assert changed.any() and not changed[mask == 0].any()  # outside the mask: byte for byte
    assert not doc.has_mask() and doc.undo_stack.count() == steps_before + 1
    previews = [e for e in events if isinstance(e, StepPreview)]
    assert previews and previews[0].box == (0, 0, 96, 64)
    started = [e for e in events if isinstance(e, JobStarted)]
    assert started[0].total_steps == len(previews) == previews[-1].total  # progress knows its end
    doc.undo_stack.undo()
    assert np.array_equal(doc.image, original) and np.array_equal(doc.mask, mask)


def test_a_generation_started_during_an_upscale_takes_its_place_and_the_busy_state_follows(
        make_editor, qtbot, compact_upscaler, tiny_model_dir, monkeypatch):
    from inference.engine.engine import Engine

    gate, held = threading.Event(), threading.Event()

    class HeldEngine(Engine):  # the generation waits for the test, however busy the machine is
        def run(self, request, on_step, cancel):
            assert held.wait(60), "the test never let the generation run"
            return super().run(request, on_step, cancel)

    _small_tiles(monkeypatch, gate=gate)
    editor = make_editor(engine_factory=HeldEngine)
    editor.settings.choose_restoration_model("upscale", str(compact_upscaler))
    editor.document.load(gradient(64, 96))
    editor.panel.model_combo.setEditText(str(tiny_model_dir))
    editor.panel.steps_spin.setValue(2)
    original, events, messages = editor.document.image.copy(), _events(editor), []
    editor.restoration.message.connect(messages.append)

    assert editor.restoration.upscale(2)
    qtbot.waitUntil(lambda: any(isinstance(e, StepPreview) for e in events), timeout=TIMEOUT_MS)
    assert editor.controller.generate()  # Ctrl+Enter: the newest job wins
    gate.set()
    _finish(qtbot, editor)
    assert "another job took its place" in messages[-1]
    assert editor.controller.busy and not editor.panel.generate_button.isEnabled()  # the generation runs
    assert not editor.restoration.upscale(2) and "generation is running" in messages[-1]
    held.set()
    qtbot.waitUntil(lambda: editor.history.count() == 1, timeout=TIMEOUT_MS)
    assert editor.panel.generate_button.isEnabled()
    assert np.array_equal(editor.document.image, original)  # the upscale changed nothing


def test_upscale_then_add_detail_gives_a_result_at_the_new_size_tile_by_tile(
        make_editor, qtbot, compact_upscaler, tiny_model_dir):
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QDialog

    picture = scan(2, size=(300, 140), gray=False)  # ×2 → 600×280: two tiles of the model's 512 px
    editor = _editor(make_editor, picture, upscale=compact_upscaler)
    doc, controller = editor.document, editor.controller
    editor.panel.model_combo.setEditText(str(tiny_model_dir))
    editor.panel.steps_spin.setValue(4)
    editor.panel.prompt_edit.setPlainText("an old photo")
    previews = []
    editor.worker.step.connect(lambda event: previews.append(event.box))

    def choose_detail():
        dialog = editor.upscale.dialog
        assert dialog.detail_check.isEnabled()
        dialog.detail_check.setChecked(True)
        dialog.done(QDialog.DialogCode.Accepted)

    QTimer.singleShot(0, choose_detail)
    assert editor.upscale.upscale_dialog()
    qtbot.waitUntil(lambda: editor.history.count() == 1 and not controller.busy and not editor.restoration.busy,
                    timeout=180_000)
    upscaled = doc.image.copy()
    assert upscaled.shape == (280, 600, 3)
    assert len({box for box in previews if box}) == 2  # each tile's steps drawn over its own box
    entry = editor.results.shown
    assert "Denoising strength: 0.3" in entry.parameters
    assert controller.accept()
    assert doc.image.shape == (280, 600, 3) and not np.array_equal(doc.image, upscaled)
    doc.undo_stack.undo()
    assert np.array_equal(doc.image, upscaled)  # the detail pass is its own undo step
    doc.undo_stack.undo()
    assert np.array_equal(doc.image, picture)
    assert editor.warnings == []


def test_add_detail_is_not_offered_without_a_diffusion_model(make_editor, compact_upscaler):
    editor = _editor(make_editor, scan(1, size=(96, 64)), upscale=compact_upscaler)
    dialog = editor.upscale.make_dialog()
    assert not dialog.detail_check.isEnabled() and "Model box" in dialog.detail_check.toolTip()
