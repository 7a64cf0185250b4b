"""The forward-diffusion view: what a strength does to the picture before denoising."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inference.forward import forward_view, noised_latents, start_timestep
from inference.models import load_model
from inference.api import Mode


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
