"""The forward-diffusion view: what a strength does to the picture before denoising."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.engine.forward import forward_view, noised_latents, start_timestep
from inference.models.loading import load_model
from inference.core.api import Mode


@pytest.fixture(scope="module")
def model(tiny_model_dir):
    return load_model(str(tiny_model_dir))


@pytest.fixture(scope="module")
def picture():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:96]
    base = (100 + 80 * np.sin(xx / 9) * np.cos(yy / 7))[..., None] + rng.normal(0, 4, (64, 96, 3))
    return base.clip(0, 255).astype(np.uint8)


def test_strength_zero_shows_the_picture_itself(model, picture):
    view = forward_view(model.base, picture, strength=0.0, steps=20, seed=1, budget_side=512)
    assert view.timestep is None and view.noise_fraction == 0.0
    assert np.array_equal(view.rgb, picture)


@pytest.mark.parametrize("strength", [0.3, 0.75, 1.0])
def test_the_level_is_the_timestep_img2img_starts_from(model, strength):
    img2img = model.pipeline_for(Mode.IMG2IMG)
    img2img.scheduler.set_timesteps(20)
    timesteps, _count = img2img.get_timesteps(20, strength, "cpu")
    scheduler = type(model.base.scheduler).from_config(model.base.scheduler.config)
    assert start_timestep(scheduler, 20, strength) == int(timesteps[0])


def test_more_strength_means_more_noise_and_the_last_level_is_pure_noise(model, picture):
    fractions = [forward_view(model.base, picture, s, 20, seed=1, budget_side=512).noise_fraction for s in (0.2, 0.5, 0.9, 1.0)]
    assert fractions == sorted(fractions) and fractions[0] > 0
    # At the scheduler's last timestep the state has the statistics of N(0, 1) noise
    scheduler = type(model.base.scheduler).from_config(model.base.scheduler.config)
    last = start_timestep(scheduler, 20, 1.0)
    clean = torch.full((1, 4, 64, 64), 2.0)  # far from noise: mean 2, std 0
    noised = noised_latents(clean, scheduler.alphas_cumprod, last, torch.Generator("cpu").manual_seed(0))
    assert abs(float(noised.mean())) < 0.2 and abs(float(noised.std()) - 1.0) < 0.05
    # …while an early level keeps the picture: close to the clean state
    early = noised_latents(clean, scheduler.alphas_cumprod, 1, torch.Generator("cpu").manual_seed(0))
    assert abs(float(early.mean()) - 2.0) < 0.1


def test_the_view_is_the_pictures_size_within_the_budget_and_seeded(model, picture):
    a = forward_view(model.base, picture, 0.6, 20, seed=3, budget_side=512)
    b = forward_view(model.base, picture, 0.6, 20, seed=3, budget_side=512)
    c = forward_view(model.base, picture, 0.6, 20, seed=4, budget_side=512)
    assert a.rgb.shape == picture.shape and np.array_equal(a.rgb, b.rgb) and not np.array_equal(a.rgb, c.rgb)
    big = np.zeros((600, 800, 3), np.uint8)
    assert forward_view(model.base, big, 0.6, 20, seed=3, budget_side=64).rgb.shape == (56, 72, 3)


# The engine and the worker boundary: a ForwardViewRequest is one job with one terminal event.


def test_the_engine_answers_a_forward_view_and_run_job_dispatches_it(tiny_model_dir, picture, tmp_path):
    import dataclasses
    import threading

    from inference.core.api import ForwardViewReady, ForwardViewRequest, GenerationRequest, JobFailed, JobFinished
    from inference.engine.engine import Engine, run_job
    from inference.core.errors import InvalidRequest

    engine = Engine()
    model_ref = str(tiny_model_dir)
    made = engine.run(GenerationRequest(job_id=1, mode=Mode.TXT2IMG, prompt="a barn", model_ref=model_ref,
                                        width_px=64, height_px=64, steps=4, seed=3), lambda _e: None, threading.Event())
    request = ForwardViewRequest(job_id=-1, model_ref=model_ref, image=picture, strength=0.0, steps=20, seed=1)
    ready = engine.forward_view(request)
    assert isinstance(ready, ForwardViewReady) and ready.job_id == -1
    assert ready.timestep is None and ready.noise_fraction == 0.0 and np.array_equal(ready.rgb, picture)

    events = []
    final = run_job(engine, dataclasses.replace(request, job_id=-2, strength=0.6), events.append, threading.Event())
    assert events == [final] and isinstance(final, ForwardViewReady) and final.job_id == -2
    loaded = engine.model(model_ref)
    direct = forward_view(loaded.base, picture, 0.6, 20, seed=1, budget_side=engine.budget_side(loaded))
    assert final.timestep == direct.timestep and np.array_equal(final.rgb, direct.rgb)
    assert 0 < final.noise_fraction < 1 and not np.array_equal(final.rgb, picture)

    # Viewing leaves the last result branchable: the same seed still gives the same picture.
    branch = engine.run(GenerationRequest(job_id=2, mode=Mode.TXT2IMG, prompt="a barn", model_ref=model_ref,
                                          width_px=64, height_px=64, steps=4, seed=3, branch_from=(1, 2)),
                        lambda _e: None, threading.Event())
    assert isinstance(branch, JobFinished) and np.array_equal(branch.image, made.image)

    failed = run_job(engine, dataclasses.replace(request, job_id=-3, model_ref=str(tmp_path / "missing")),
                     events.append, threading.Event())
    assert isinstance(failed, JobFailed) and failed.job_id == -3 and "not found" in failed.message
    with pytest.raises(InvalidRequest, match="strength must be between 0 and 1"):
        ForwardViewRequest(job_id=-4, model_ref=model_ref, image=picture, strength=1.5)
    with pytest.raises(InvalidRequest, match="H×W×3 uint8"):
        ForwardViewRequest(job_id=-4, model_ref=model_ref, image=picture[..., 0])
