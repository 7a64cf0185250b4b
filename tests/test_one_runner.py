"""Every path that runs jobs drives the one job runner (inference.core.jobs.JobRunner)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from inference.core import jobs

pytestmark = pytest.mark.usefixtures("one_torch_thread")
BENCH = Path(__file__).resolve().parent.parent / "bench"


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
    assert runner_submissions == ["GenerationRequest"]
    assert isinstance(ed.worker.runner, jobs.JobRunner)


def test_the_headless_live_bench_runs_on_the_runner(tiny_model_dir, runner_submissions, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    from gui.session.generation_params import GenerationParams
    from inference.engine.devices import choose_device
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
