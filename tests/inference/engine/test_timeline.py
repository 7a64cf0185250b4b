"""The denoising timeline: branching from step k of the last result."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from inference.core.api import GenerationRequest, JobFinished, JobStarted, Mode, StepPreview
from inference.engine.engine import Engine
from inference.core.errors import InvalidRequest

STEPS = 8


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def engine():
    return Engine()


def run(engine, **kw):
    events = []
    args = dict(mode=Mode.TXT2IMG, prompt="a red barn", width_px=64, height_px=64, steps=STEPS, seed=7,
                scheduler="ddim", guidance=5.0)
    args.update(kw)
    final = engine.run(GenerationRequest(**args), events.append, threading.Event())
    assert isinstance(final, JobFinished), final
    return final, events


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++_2m", "pndm", "euler"])
def test_branching_with_the_same_seed_and_prompt_reproduces_the_result(engine, tiny_model_dir, scheduler):
    model = str(tiny_model_dir)
    for k in (1, 3, STEPS - 1):
        original, original_events = run(engine, job_id=10 * k, model_ref=model, scheduler=scheduler)
        branch, events = run(engine, job_id=10 * k + 1, model_ref=model, scheduler=scheduler, branch_from=(10 * k, k))
        assert np.array_equal(branch.image, original.image), k
        started = events[0]
        # only the rest runs (PNDM runs one step more than asked, as in diffusers)
        assert isinstance(started, JobStarted) and started.total_steps == original_events[0].total_steps - k
    # A branch of a branch: the branch is now the last result, with the whole timeline
    again, _ = run(engine, job_id=99, model_ref=model, scheduler=scheduler, branch_from=(10 * k + 1, 2))
    assert np.array_equal(again.image, original.image)


def test_branching_with_another_seed_keeps_the_start_and_differs_after(engine, tiny_model_dir):
    original, original_events = run(engine, job_id=100, model_ref=str(tiny_model_dir))
    k = 4
    branch, events = run(engine, job_id=101, model_ref=str(tiny_model_dir), seed=8, branch_from=(100, k))
    assert not np.array_equal(branch.image, original.image)
    # the first preview after the branch point differs from the original's step k+1
    first = [e for e in events if isinstance(e, StepPreview)][0].rgb
    original_next = [e for e in original_events if isinstance(e, StepPreview)][k].rgb
    assert not np.array_equal(first, original_next)
    # an image made from scratch with seed 8 is something else again: the branch kept steps 1..k
    fresh, _ = run(engine, job_id=102, model_ref=str(tiny_model_dir), seed=8)
    assert not np.array_equal(branch.image, fresh.image)


def test_branching_from_img2img_and_refusals(engine, tiny_model_dir, tiny_inpaint_dir):
    photo = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    original, _ = run(engine, job_id=200, model_ref=str(tiny_model_dir), mode=Mode.IMG2IMG, image=photo, strength=0.75)
    branch, _ = run(engine, job_id=201, model_ref=str(tiny_model_dir), branch_from=(200, 2))
    assert np.array_equal(branch.image, original.image)
    with pytest.raises(InvalidRequest, match="can no longer be branched"):
        run(engine, job_id=202, model_ref=str(tiny_model_dir), branch_from=(200, 2))  # 201 is the last now
    with pytest.raises(InvalidRequest, match="steps 1 to"):
        run(engine, job_id=203, model_ref=str(tiny_model_dir), branch_from=(201, 40))
    with pytest.raises(InvalidRequest, match="not an inpainting one"):
        GenerationRequest(job_id=1, mode=Mode.INPAINT, prompt="p", image=photo, mask=np.full((64, 64), 255, np.uint8),
                          branch_from=(1, 1))
