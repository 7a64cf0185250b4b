"""The engine on a tiny real-architecture model: sizes, determinism, parity with diffusers,
inpaint compositing, per-step previews and cancellation."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionInpaintPipeline, StableDiffusionPipeline
from PIL import Image

from inference.core.api import GenerationRequest, JobCancelled, JobFailed, JobFinished, JobStarted, Mode, StepPreview
from inference.restore.compositing import feather_mask
from inference.engine.engine import Engine, run_job
from inference.restore.inpaint_windows import tone_ring_px
from inference.restore.tone_match import match_tone

SIZE = 128


@pytest.fixture(scope="module")
def engine():
    return Engine()


@pytest.fixture(scope="module")
def photo():
    """A smooth 128×128 RGB test picture."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    return np.stack([xx * 2, yy * 2, (xx + yy)], axis=-1).clip(0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def mask():
    m = np.zeros((SIZE, SIZE), np.uint8)
    m[40:80, 30:90] = 255
    return m


def make_request(model, mode, photo=None, mask=None, **kw):
    base = dict(job_id=7, mode=mode, prompt="an old photo of a house", model_ref=str(model), steps=5, guidance=7.5, seed=3)
    base.update(kw)
    if mode is not Mode.TXT2IMG:
        base["image"] = photo
    else:
        base.setdefault("width_px", SIZE)
        base.setdefault("height_px", SIZE)
    if mode is Mode.INPAINT:
        base["mask"] = mask
    return GenerationRequest(**base)


def run(engine, req, cancel=None):
    events = []
    result = engine.run(req, events.append, cancel or threading.Event())
    return result, events


@pytest.mark.parametrize("mode", list(Mode))
def test_each_mode_gives_requested_size_and_is_seeded(engine, tiny_model_dir, photo, mask, mode):
    a, _ = run(engine, make_request(tiny_model_dir, mode, photo, mask))
    b, _ = run(engine, make_request(tiny_model_dir, mode, photo, mask))
    c, _ = run(engine, make_request(tiny_model_dir, mode, photo, mask, seed=4))
    assert isinstance(a, JobFinished) and a.job_id == 7
    assert a.image.shape == (SIZE, SIZE, 3) and a.image.dtype == np.uint8
    assert np.array_equal(a.image, b.image)
    assert not np.array_equal(a.image, c.image)


def test_txt2img_of_any_multiple_of_8(engine, tiny_model_dir):
    result, _ = run(engine, make_request(tiny_model_dir, Mode.TXT2IMG, width_px=96, height_px=64, steps=2))
    assert result.image.shape == (64, 96, 3)


def test_image_not_a_multiple_of_8_comes_back_at_its_own_size(engine, tiny_model_dir, photo, mask):
    odd, odd_mask = photo[:, :125], mask[:, :125]
    result, _ = run(engine, make_request(tiny_model_dir, Mode.INPAINT, odd, odd_mask, steps=2))
    assert result.image.shape == (SIZE, 125, 3)
    weights = feather_mask(odd_mask, 8)
    assert np.array_equal(result.image[weights == 0], odd[weights == 0])


def _bare_kwargs(seed=3, steps=5):
    return dict(
        prompt="an old photo of a house",
        num_inference_steps=steps,
        guidance_scale=7.5,
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="pil",
    )


def test_txt2img_equals_bare_diffusers_call(engine, tiny_model_dir):
    result, _ = run(engine, make_request(tiny_model_dir, Mode.TXT2IMG))
    bare = StableDiffusionPipeline.from_pretrained(str(tiny_model_dir), use_safetensors=True)
    bare.set_progress_bar_config(disable=True)
    expected = bare(**_bare_kwargs(), width=SIZE, height=SIZE).images[0]
    assert np.array_equal(result.image, np.array(expected))


def test_img2img_equals_bare_diffusers_call(engine, tiny_model_dir, photo):
    result, _ = run(engine, make_request(tiny_model_dir, Mode.IMG2IMG, photo, strength=0.6))
    bare = StableDiffusionImg2ImgPipeline.from_pretrained(str(tiny_model_dir), use_safetensors=True)
    bare.set_progress_bar_config(disable=True)
    expected = bare(**_bare_kwargs(), image=Image.fromarray(photo), strength=0.6).images[0]
    assert np.array_equal(result.image, np.array(expected))


@pytest.mark.parametrize("model_fixture", ["tiny_model_dir", "tiny_inpaint_dir"])
def test_inpaint_equals_diffusers_inside_mask_and_input_outside(engine, request, photo, mask, model_fixture):
    model = request.getfixturevalue(model_fixture)
    result, _ = run(engine, make_request(model, Mode.INPAINT, photo, mask, strength=1.0))
    bare = StableDiffusionInpaintPipeline.from_pretrained(str(model), use_safetensors=True)
    bare.set_progress_bar_config(disable=True)
    expected = np.array(
        bare(**_bare_kwargs(), image=Image.fromarray(photo), mask_image=Image.fromarray(mask), strength=1.0,
             width=SIZE, height=SIZE).images[0]
    )
    # The one window is the whole photo, generated exactly as diffusers does; the engine then
    # undoes the model's colour drift measured just outside the mask (inference.restore.tone_match).
    expected = match_tone(expected, photo, mask, tone_ring_px(8))
    inside = mask == 255
    assert np.array_equal(result.image[inside], expected[inside])
    outside = feather_mask(mask, 8) == 0
    assert outside.sum() > SIZE * SIZE // 2  # the check covers most of the picture
    assert np.array_equal(result.image[outside], photo[outside])
    assert not np.array_equal(result.image[inside], photo[inside])


@pytest.mark.parametrize("mode", list(Mode))
def test_inpainting_model_serves_every_mode(engine, tiny_inpaint_dir, photo, mask, mode):
    result, events = run(engine, make_request(tiny_inpaint_dir, mode, photo, mask, steps=3))
    assert isinstance(result, JobFinished)
    assert result.image.shape == (SIZE, SIZE, 3)
    assert isinstance(events[0], JobStarted)


def test_one_preview_per_real_step_with_total_and_job_id(engine, tiny_model_dir, photo):
    # img2img at strength 0.6 of 10 steps runs fewer real steps than asked: the total says how many.
    result, events = run(engine, make_request(tiny_model_dir, Mode.IMG2IMG, photo, steps=10, strength=0.6))
    started, previews = events[0], events[1:]
    assert isinstance(started, JobStarted) and started.job_id == 7
    assert all(isinstance(e, StepPreview) for e in previews)
    total = started.total_steps
    assert 5 <= total < 10
    assert [p.step for p in previews] == list(range(1, total + 1))
    assert all(p.total == total and p.job_id == 7 for p in previews)
    assert all(p.rgb.shape == (SIZE // 8, SIZE // 8, 3) and p.rgb.dtype == np.uint8 for p in previews)
    assert not np.array_equal(previews[0].rgb, previews[-1].rgb)  # the picture forms over the steps
    assert isinstance(result, JobFinished)


def test_preview_cadence_keeps_progress_every_step(engine, tiny_model_dir):
    _, events = run(engine, make_request(tiny_model_dir, Mode.TXT2IMG, steps=6, preview_every=3))
    previews = [e for e in events if isinstance(e, StepPreview)]
    assert len(previews) == events[0].total_steps
    with_image = [p.step for p in previews if p.rgb is not None]
    assert with_image == [s for s in range(1, len(previews) + 1) if s % 3 == 0 or s == len(previews)]


def _count_decodes(pipe_vae):
    calls = []
    handle = pipe_vae.decoder.register_forward_pre_hook(lambda *_: calls.append(1))
    return calls, handle


@pytest.mark.parametrize("k", [1, 3])
def test_cancel_at_step_k_stops_by_next_step_without_decoding(engine, tiny_model_dir, k):
    cancel = threading.Event()
    model = engine.model(str(tiny_model_dir))
    calls, handle = _count_decodes(model.base.vae)
    events = []

    def on_step(event):
        events.append(event)
        if isinstance(event, StepPreview) and event.step == k:
            cancel.set()

    try:
        final = run_job(engine, make_request(tiny_model_dir, Mode.TXT2IMG, steps=10), on_step, cancel)
    finally:
        handle.remove()
    steps = [e.step for e in events if isinstance(e, StepPreview)]
    assert max(steps) <= k + 1
    assert isinstance(final, JobCancelled) and final.job_id == 7 and final.step <= k + 1
    assert isinstance(events[-1], JobCancelled)
    assert calls == []  # the VAE decode never ran
    # The engine is still usable afterwards.
    result, _ = run(engine, make_request(tiny_model_dir, Mode.TXT2IMG, steps=2))
    assert isinstance(result, JobFinished)


def test_cancel_inside_a_long_step_stops_before_the_step_ends(engine, tiny_model_dir):
    cancel = threading.Event()
    model = engine.model(str(tiny_model_dir))
    unet = model.base.unet
    up_calls = []
    # Cancel arrives while the UNet is halfway through its first step (after the down blocks).
    h1 = unet.mid_block.register_forward_hook(lambda *_: cancel.set())
    h2 = unet.up_blocks[0].register_forward_hook(lambda *_: up_calls.append(1))
    events = []
    try:
        final = run_job(engine, make_request(tiny_model_dir, Mode.TXT2IMG, steps=10), events.append, cancel)
    finally:
        h1.remove()
        h2.remove()
    assert isinstance(final, JobCancelled) and final.step == 0
    assert up_calls == []
    assert not any(isinstance(e, StepPreview) for e in events)


def test_cancel_set_before_start_runs_nothing(engine, tiny_model_dir):
    cancel = threading.Event()
    cancel.set()
    final, events = run(engine, make_request(tiny_model_dir, Mode.TXT2IMG), cancel)
    assert isinstance(final, JobCancelled) and final.step == 0 and events == []


def test_failures_become_one_event_and_the_engine_survives(engine, tiny_model_dir, tmp_path):
    events = []
    bad = GenerationRequest(job_id=9, mode=Mode.TXT2IMG, prompt="x", model_ref=str(tmp_path / "nope"), width_px=64, height_px=64)
    final = run_job(engine, bad, events.append, threading.Event())
    assert isinstance(final, JobFailed) and final.job_id == 9 and "not found" in final.message
    assert events == [final]
    bad_scheduler = make_request(tiny_model_dir, Mode.TXT2IMG, scheduler="fastest")
    final = run_job(engine, bad_scheduler, events.append, threading.Event())
    assert isinstance(final, JobFailed) and "unknown scheduler 'fastest'" in final.message
    result, _ = run(engine, make_request(tiny_model_dir, Mode.TXT2IMG, steps=2))
    assert isinstance(result, JobFinished)


@pytest.mark.parametrize("name", ["ddim", "euler_a", "dpm++_2m_karras", "unipc", "lcm"])
def test_schedulers_run_and_preview(engine, tiny_model_dir, name):
    result, events = run(engine, make_request(tiny_model_dir, Mode.TXT2IMG, steps=3, scheduler=name, width_px=64, height_px=64))
    assert isinstance(result, JobFinished)
    previews = [e for e in events if isinstance(e, StepPreview)]
    assert len(previews) == events[0].total_steps and previews[-1].rgb.shape == (8, 8, 3)


def test_strength_times_steps_never_rounds_to_zero(engine, tiny_model_dir, photo):
    result, events = run(engine, make_request(tiny_model_dir, Mode.IMG2IMG, photo, steps=1, strength=0.3))
    assert isinstance(result, JobFinished)
    assert events[0].total_steps >= 1


def test_switching_modes_never_reloads_the_model(tiny_model_dir, photo, mask, monkeypatch):
    import inference.engine.engine as engine_module

    loads = []
    real_load = engine_module.load_model
    monkeypatch.setattr(engine_module, "load_model", lambda *a, **k: loads.append(1) or real_load(*a, **k))
    fresh = Engine()
    for mode in (Mode.TXT2IMG, Mode.IMG2IMG, Mode.INPAINT, Mode.TXT2IMG):
        run(fresh, make_request(tiny_model_dir, mode, photo, mask, steps=1))
    assert loads == [1]
    model = fresh.model(str(tiny_model_dir))
    unets = {id(model.pipeline_for(mode).unet) for mode in Mode}
    assert unets == {id(model.base.unet)}  # one set of weights serves every mode


def test_family_is_detected_from_the_components():
    from types import SimpleNamespace

    from inference.models.loading import detect_family

    def pipe(cross_attention_dim, xl=False):
        fake = SimpleNamespace(unet=SimpleNamespace(config=SimpleNamespace(cross_attention_dim=cross_attention_dim)))
        if xl:
            fake.text_encoder_2 = object()
        return fake

    assert detect_family(pipe(768)) == "sd1"
    assert detect_family(pipe(1024)) == "sd2"
    assert detect_family(pipe(2048, xl=True)) == "sdxl"


@pytest.mark.parametrize("mode", [Mode.TXT2IMG, Mode.IMG2IMG])
def test_turbo_style_settings_run_one_real_step_without_guidance(tiny_model_dir, mode):
    """Turbo-style models run 1–4 steps at guidance 0–1; image modes never round
    strength × steps down to zero steps."""
    engine = Engine()
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    request = GenerationRequest(job_id=1, mode=mode, prompt="a barn", model_ref=str(tiny_model_dir), steps=1,
                                guidance=0.0, strength=0.3, width_px=64, height_px=64,
                                image=image if mode is Mode.IMG2IMG else None, scheduler="euler")
    events = []
    final = engine.run(request, events.append, threading.Event())
    assert isinstance(final, JobFinished) and final.image.shape == (64, 64, 3)
    assert [e.total_steps for e in events if isinstance(e, JobStarted)] == [1]
    assert [e.step for e in events if isinstance(e, StepPreview)] == [1]
