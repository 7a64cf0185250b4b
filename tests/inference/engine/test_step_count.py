"""One step count: what the panel announces is what the progress, the timeline and the CLI count."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from gui.session.generation_params import build_request, denoising_steps
from inference.core.api import GenerationRequest, JobFinished, JobStarted, Mode, StepPreview
from inference.engine.engine import Engine
from inference.engine.step_count import passes_for

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def engine():
    return Engine()


@pytest.mark.parametrize("scheduler", ["default", "pndm", "ddim", "euler_a", "heun"])
@pytest.mark.parametrize("mode, steps, strength", [(Mode.TXT2IMG, 5, 1.0), (Mode.IMG2IMG, 8, 0.75), (Mode.IMG2IMG, 4, 0.3)])
def test_the_progress_counts_what_the_panel_announces(engine, tiny_model_dir, scheduler, mode, steps, strength):
    """The tiny model's own sampler ("default") is PNDM, as for most SD 1.5 models: its
    provisional first pass is no step, so 5 steps show as 5 (diffusers' loop makes 6 passes)."""
    from gui.session.generation_params import GenerationParams

    params = GenerationParams(model_ref=str(tiny_model_dir), prompt="a barn", steps=steps, strength=strength,
                              scheduler=scheduler, seed=3, random_seed=False, width_px=64, height_px=64)
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    blank = mode is Mode.TXT2IMG
    request = build_request(1, params, photo, np.zeros((64, 64), np.uint8), is_blank=blank)
    assert request.mode is mode
    announced = passes_for(scheduler, denoising_steps(steps, strength, mode))  # the panel's "runs N steps"
    events = []
    final = engine.run(request, events.append, threading.Event())
    assert isinstance(final, JobFinished)
    started, previews = events[0], [e for e in events if isinstance(e, StepPreview)]
    assert isinstance(started, JobStarted) and started.total_steps == announced
    assert [p.step for p in previews] == list(range(1, announced + 1))
    assert all(p.total == announced for p in previews)


def test_the_timeline_has_one_frame_per_step_and_branches_from_it(engine, tiny_model_dir):
    request = GenerationRequest(job_id=40, mode=Mode.TXT2IMG, prompt="a barn", model_ref=str(tiny_model_dir),
                                width_px=64, height_px=64, steps=6, seed=2)
    first = engine.run(request, lambda e: None, threading.Event())
    assert len(engine.timeline.steps_state) == 6
    events = []
    branch = engine.run(GenerationRequest(job_id=41, mode=Mode.TXT2IMG, prompt="a barn", model_ref=str(tiny_model_dir),
                                          width_px=64, height_px=64, steps=6, seed=2, branch_from=(40, 1)),
                        events.append, threading.Event())
    assert np.array_equal(branch.image, first.image) and events[0].total_steps == 5


def _generate(tiny_model_dir, tmp_path, *extra):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    steps_dir = tmp_path / "steps"
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "generate", "--model", str(tiny_model_dir),
                           "--prompt", "x", "--width", "64", "--height", "64", "--seed", "1", "--out",
                           str(tmp_path / "o.png"), "--save-steps", str(steps_dir), *map(str, extra)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stderr.replace("\r", "\n"), len(list(steps_dir.iterdir()))


def test_generate_shows_the_steps_asked_for(tiny_model_dir, tmp_path):
    stderr, saved = _generate(tiny_model_dir, tmp_path, "--steps", 4)  # the model's PNDM
    assert saved == 4 and "4/4" in stderr and "5/5" not in stderr and "model passes" not in stderr


def test_generate_says_why_heun_counts_more(tiny_model_dir, tmp_path):
    stderr, saved = _generate(tiny_model_dir, tmp_path, "--steps", 2, "--scheduler", "heun")
    assert saved == 3 and "3/3" in stderr
    assert "kiln: note: 3 model passes for 2 steps: the Heun sampler evaluates the model twice per step." in stderr


def test_the_panel_names_heuns_passes(qtbot):
    from gui.panels.generation_panel import GenerationPanel
    from gui.session.generation_params import GenerationParams

    panel = GenerationPanel(GenerationParams(steps=20, strength=0.75))
    qtbot.addWidget(panel)
    panel.set_mode(Mode.IMG2IMG)
    assert panel.steps_label.text() == "runs 15 steps"
    panel.scheduler_combo.setCurrentText("heun")
    assert panel.steps_label.text() == "runs 15 steps (29 model passes)"
