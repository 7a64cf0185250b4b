"""Every path that runs jobs drives the one job runner (inference.core.jobs.JobRunner): the
editor's generation, detection, heal, project saving and autosave; ``main.py generate`` and
``main.py restore`` and ``main.py train-lora``; ``bench/live.py --headless``."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from inference.core import jobs

pytestmark = pytest.mark.usefixtures("one_torch_thread")
BENCH = Path(__file__).resolve().parents[1] / "bench"


@pytest.fixture
def runner_submissions(monkeypatch):
    """The type of every request any JobRunner was given, in order."""
    seen = []
    submit = jobs.JobRunner.submit

    def spy(self, request, policy=jobs.Policy.QUEUE):
        seen.append(type(request).__name__)
        return submit(self, request, policy)

    monkeypatch.setattr(jobs.JobRunner, "submit", spy)
    return seen


def test_the_editor_generates_through_the_runner(make_editor, qtbot, tiny_model_dir, runner_submissions):
    ed = make_editor()
    ed.panel.model_combo.setEditText(str(tiny_model_dir))
    ed.panel.steps_spin.setValue(2)
    ed.document.new_blank(64, 64)
    ed.panel.params.width_px = ed.panel.params.height_px = 64
    assert ed.controller.generate()
    qtbot.waitUntil(lambda: ed.history.count() == 1, timeout=120_000)
    # The generation, and nothing else that reaches the engine (autosave's writes are WorkRequests).
    assert [kind for kind in runner_submissions if kind != "WorkRequest"] == ["GenerationRequest"]
    assert isinstance(ed.worker.runner, jobs.JobRunner)


def test_the_editors_background_work_runs_on_the_runner(make_editor, tmp_path, runner_submissions):
    from photos import scan
    from PIL import Image

    ed = make_editor()
    Image.fromarray(scan(3, size=(160, 120))).save(tmp_path / "scan.png")
    assert ed.files.open_path(str(tmp_path / "scan.png"), ask_about_parameters=False)
    runner_submissions.clear()
    assert ed.restore.detect_damage() > 0  # detection: one job
    assert ed.restore.heal()  # heal: one job
    assert runner_submissions == ["WorkRequest", "WorkRequest"]
    assert ed.projects.save_to(str(tmp_path / "p.kiln"))  # the project's copy and its write
    assert runner_submissions[2:] and set(runner_submissions) == {"WorkRequest"}
    runner_submissions.clear()
    ed.autosave.save_now()  # the recovery copy
    assert ed.autosave.wait_idle() and runner_submissions == ["WorkRequest"]


def test_the_headless_live_bench_runs_on_the_runner(tiny_model_dir, runner_submissions, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    from gui.session.generation_params import GenerationParams
    from inference.hardware.devices import choose_device
    from inference.engine.engine import Engine

    live_headless = __import__("live_headless")
    params = GenerationParams(model_ref=str(tiny_model_dir), steps=2, strength=0.6, seed=1, random_seed=False)
    live = live_headless.HeadlessLive(types.SimpleNamespace(size=64), Engine(choose_device(precision="fp32")),
                                      params, np.full((64, 64, 3), 128, np.uint8))
    try:
        live.warm_up()
    finally:
        live.close()
    assert runner_submissions == ["GenerationRequest"]
    sys.modules.pop("live_headless", None)


def test_generate_on_the_command_line_runs_on_the_runner(tiny_model_dir, tmp_path, runner_submissions, capsys):
    import main

    out = tmp_path / "out.png"
    code = main.main(["generate", "--model", str(tiny_model_dir), "--prompt", "a barn", "--steps", "2",
                      "--width", "64", "--height", "64", "--seed", "1", "--out", str(out)])
    assert code == 0 and out.exists()
    assert runner_submissions == ["GenerationRequest"]


def test_restore_on_the_command_line_runs_its_model_jobs_on_the_runner(tiny_model_dir, tmp_path, runner_submissions):
    import main
    from PIL import Image

    Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(tmp_path / "p.png")
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 20:40] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    code = main.main(["restore", str(tmp_path / "p.png"), "--out", str(tmp_path / "out"), "--mask",
                      str(tmp_path / "m.png"), "--model", str(tiny_model_dir), "--steps", "2"])
    assert code == 0 and (tmp_path / "out" / "p-restored.png").exists()
    assert runner_submissions == ["GenerationRequest"]


def test_train_lora_on_the_command_line_runs_on_the_runner(tiny_model_dir, tmp_path, runner_submissions):
    import main
    from PIL import Image

    (tmp_path / "photos").mkdir()
    for i in range(2):
        Image.fromarray(np.full((64, 64, 3), 60 * i, np.uint8)).save(tmp_path / "photos" / f"p{i}.png")
    out = tmp_path / "lora.safetensors"
    code = main.main(["train-lora", "--model", str(tiny_model_dir), "--images", str(tmp_path / "photos"),
                      "--out", str(out), "--steps", "2", "--resolution", "64", "--rank", "4"])
    assert code == 0 and out.exists()
    assert runner_submissions == ["TrainingRequest"]


def test_upscale_and_the_recipes_model_steps_run_on_the_runner(compact_upscaler, fill_model, tmp_path,
                                                               runner_submissions):
    import main
    from PIL import Image

    Image.fromarray(np.full((48, 64, 3), 120, np.uint8)).save(tmp_path / "p.png")
    code = main.main(["upscale", str(tmp_path / "p.png"), "--model", str(compact_upscaler), "--out", str(tmp_path / "u")])
    assert code == 0 and (tmp_path / "u" / "p-x2.png").exists()
    assert runner_submissions == ["UpscaleRequest"]
    mask = np.zeros((48, 64), np.uint8)
    mask[10:20, 10:30] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    code = main.main(["restore", str(tmp_path / "p.png"), "--out", str(tmp_path / "r"), "--mask", str(tmp_path / "m.png"),
                      "--fill", str(fill_model), "--upscale", str(compact_upscaler)])
    assert code == 0
    assert runner_submissions == ["UpscaleRequest", "FillRequest", "UpscaleRequest"]
