"""Inpainting large photos window by window: the window plan, tone matching, and whole jobs on the
tiny model with the pixel budget shrunk to 128 px so a 1200×900 photo runs in seconds."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from inference.core.api import GenerationRequest, JobCancelled, JobFinished, JobStarted, Mode, StepPreview
from inference.restore.compositing import feather_mask, feather_reach_px
from inference.engine.engine import Engine
from inference.engine.step_count import real_step_count as _real_step_count
from inference.core.errors import InvalidRequest
from inference.restore.regions import MAX_WINDOWS, SPECK_SIDE_PX, Window, generation_size, plan_windows
from inference.engine.schedulers import make_scheduler
from inference.restore.tone_match import is_grayscale, match_tone, to_gray

BUDGET = 128
FEATHER = 8
H, W = 900, 1200
# Three separate defects (x0, y0, x1, y1), far apart: one window each.
DEFECTS = [(150, 120, 190, 150), (900, 200, 930, 250), (500, 700, 560, 720)]


def synthetic_photo(height: int, width: int, seed: int = 0, gray: bool = False) -> np.ndarray:
    """H×W×3 uint8 with photo-like structure: smooth light, some texture, grain."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 90 + 60 * np.sin(xx / 170.0) * np.cos(yy / 130.0) + 40 * (yy / height)
    texture = 12 * np.sin(xx / 9.0 + yy / 15.0)
    rgb = np.stack([base + texture, base * 0.9 + 10, base * 0.75 + texture * 0.5], axis=-1)
    rgb += rng.normal(0, 3, rgb.shape).astype(np.float32)
    if gray:
        rgb = np.repeat(rgb.mean(axis=2, keepdims=True), 3, axis=2)
    return rgb.clip(0, 255).astype(np.uint8)


def defect_mask(defects=DEFECTS, height=H, width=W) -> np.ndarray:
    mask = np.zeros((height, width), np.uint8)
    for x0, y0, x1, y1 in defects:
        mask[y0:y1, x0:x1] = 255
    return mask


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def engine():
    return Engine(budget_side_px=BUDGET)


@pytest.fixture(scope="module")
def photo():
    return synthetic_photo(H, W)


def request_for(model, image, mask, **kw):
    args = dict(job_id=5, mode=Mode.INPAINT, prompt="an old photo", model_ref=str(model), image=image, mask=mask,
                steps=3, strength=1.0, seed=11, mask_feather_px=FEATHER)
    args.update(kw)
    return GenerationRequest(**args)


def run(engine, request, on_step=None, cancel=None):
    events = []

    def record(event):
        events.append(event)
        if on_step:
            on_step(event)

    return engine.run(request, record, cancel or threading.Event()), events


# --- The plan: pure geometry --------------------------------------------------------------


def test_separate_defects_get_one_window_each_holding_defect_and_feather():
    mask = defect_mask()
    windows = plan_windows(mask, BUDGET, FEATHER)
    assert len(windows) == 3
    reach = feather_reach_px(FEATHER)
    for window, (x0, y0, x1, y1) in zip(sorted(windows, key=lambda w: w.owned[0]), sorted(DEFECTS)):
        x, y, w, h = window.box
        assert window.owned == (x0, y0, x1, y1)
        assert x <= x0 - reach and y <= y0 - reach and x + w >= x1 + reach and y + h >= y1 + reach
        assert 0 <= x and 0 <= y and x + w <= W and y + h <= H
        gw, gh = window.gen_size
        assert gw % 8 == 0 and gh % 8 == 0 and 0.8 < gw * gh / BUDGET**2 < 1.25  # at the budget
        assert 1 / 2.2 <= gw / gh <= 2.2
    # Every masked pixel is owned by exactly one window.
    owned = np.zeros_like(mask, np.int32)
    for window in windows:
        x0, y0, x1, y1 = window.owned
        owned[y0:y1, x0:x1] += 1
    assert owned[mask > 0].min() == 1 and owned.max() == 1


def test_nearby_defects_share_a_window_and_thin_scratches_get_context():
    mask = defect_mask([(100, 100, 120, 120), (140, 105, 160, 125)])
    assert [w.owned for w in plan_windows(mask, BUDGET, FEATHER)] == [(100, 100, 160, 125)]
    scratch = defect_mask([(200, 400, 1000, 403)])
    (window,) = plan_windows(scratch, 512, FEATHER)
    _, _, w, h = window.box
    assert w / h <= 2.0 and window.gen_size[0] % 8 == 0


def test_a_photo_within_the_budget_is_one_window_at_its_own_size():
    mask = defect_mask([(10, 10, 20, 20), (100, 90, 110, 100)], height=120, width=125)
    assert plan_windows(mask, 512, FEATHER) == [Window((0, 0, 125, 120), (120, 120), (10, 10, 110, 100))]
    assert plan_windows(np.zeros((50, 50), np.uint8), 512, FEATHER) == []


def test_small_windows_are_scaled_up_to_the_budget_large_ones_down():
    assert generation_size(100, 50, 512) == (728, 360)
    assert generation_size(4000, 3000, 512) == (592, 440)
    assert all(s % 8 == 0 for s in generation_size(333, 77, 1024))


def test_planning_a_24_megapixel_mask_is_fast():
    mask = np.zeros((4000, 6000), np.uint8)
    mask[1000:1100, 2000:2200] = 255
    rng = np.random.default_rng(0)
    for y, x in rng.integers(0, [3990, 5990], size=(300, 2)):  # dust all over the scan
        mask[y : y + 4, x : x + 4] = 255
    started = time.perf_counter()
    windows = plan_windows(mask, 512, FEATHER)
    assert time.perf_counter() - started < 1.5
    assert sum(int(window_owned_pixels(w, mask)) for w in windows) == int((mask > 0).sum())


def test_a_dusty_scan_is_capped_specks_healed_the_rest_merged():
    mask = np.zeros((4000, 6000), np.uint8)
    rng = np.random.default_rng(1)
    for y, x in rng.integers(0, [3990, 5990], size=(300, 2)):  # 300 specks of 4 px
        mask[y : y + 4, x : x + 4] = 255
    scratches = [(300 + 700 * i, 500, 340 + 700 * i, 900) for i in range(8)] + [(500, 2000 + 200 * i, 1100, 2030 + 200 * i) for i in range(10)]
    for x0, y0, x1, y1 in scratches:  # 18 scratches far apart: more than MAX_WINDOWS
        mask[y0:y1, x0:x1] = 255
    windows = plan_windows(mask, 512, FEATHER)
    generated, healed = [w for w in windows if not w.heal], [w for w in windows if w.heal]
    # 1. The model runs at most MAX_WINDOWS times; heal windows come first and hold only specks
    assert 0 < len(generated) <= MAX_WINDOWS and healed and windows[: len(healed)] == healed
    assert all(max(w.owned[2] - w.owned[0], w.owned[3] - w.owned[1]) <= SPECK_SIDE_PX for w in healed)
    # 2. Every scratch belongs whole to one generated window; every masked pixel is covered
    for x0, y0, x1, y1 in scratches:
        assert any(o[0] <= x0 and o[1] <= y0 and x1 <= o[2] and y1 <= o[3] for o in (w.owned for w in generated))
    covered = np.zeros_like(mask)
    for w in windows:
        covered[w.owned[1] : w.owned[3], w.owned[0] : w.owned[2]] = 1
    assert covered[mask > 0].all()
    # 3. Under the cap nothing changes: a few specks are still generated, each in its own window
    few = np.zeros((4000, 6000), np.uint8)
    few[100:104, 100:104] = few[3000:3004, 5000:5004] = 255
    assert [w.heal for w in plan_windows(few, 512, FEATHER)] == [False, False]


def window_owned_pixels(window, mask):
    return (window.owned_mask(mask) > 0).sum()


# --- Tone and grayscale --------------------------------------------------------------------


def test_tone_match_undoes_a_colour_cast_measured_around_the_mask():
    original = synthetic_photo(96, 96, seed=1)
    mask = defect_mask([(30, 30, 60, 60)], 96, 96)
    drifted = (original.astype(np.float32) * [0.75, 1.0, 1.15] + [35, -15, 5]).clip(0, 255).astype(np.uint8)
    fixed = match_tone(drifted, original, mask, ring_px=12)
    inside = mask > 0
    assert np.abs(fixed[inside].astype(int) - original[inside]).mean() < 2.0
    assert np.abs(drifted[inside].astype(int) - original[inside]).mean() > 10.0


def test_grayscale_detection_and_conversion():
    gray = synthetic_photo(40, 30, gray=True)
    assert is_grayscale(gray) and not is_grayscale(synthetic_photo(40, 30))
    assert is_grayscale(to_gray(synthetic_photo(40, 30)))
    assert is_grayscale(match_tone(to_gray(synthetic_photo(40, 30, 2)), gray, defect_mask([(5, 5, 15, 15)], 40, 30), 8))


def test_image_modes_accept_large_photos_txt2img_keeps_its_limit():
    big = np.zeros((8, 20000, 3), np.uint8)
    assert GenerationRequest(job_id=1, mode=Mode.IMG2IMG, prompt="p", image=big).width_px == 20000
    with pytest.raises(InvalidRequest, match="between 8 and 30000 px"):
        GenerationRequest(job_id=1, mode=Mode.IMG2IMG, prompt="p", image=np.zeros((8, 30001, 3), np.uint8))
    with pytest.raises(InvalidRequest, match="between 8 and 4096 px"):
        GenerationRequest(job_id=1, mode=Mode.TXT2IMG, prompt="p", width_px=4104, height_px=64)
    with pytest.raises(InvalidRequest, match="prefill must be one of none, heal"):
        GenerationRequest(job_id=1, mode=Mode.TXT2IMG, prompt="p", prefill="magic")


# --- Whole jobs on the tiny model ----------------------------------------------------------


@pytest.mark.parametrize("model_fixture", ["tiny_model_dir", "tiny_inpaint_dir"])
def test_one_job_regenerates_each_defect_in_place_and_nothing_else(engine, request, photo, model_fixture):
    mask = defect_mask()
    request = request_for(request.getfixturevalue(model_fixture), photo, mask)
    result, events = run(engine, request)
    windows = plan_windows(mask, BUDGET, FEATHER)
    # 1. One job: one start, steps 1..total across the windows, each window's box on its previews
    assert isinstance(result, JobFinished) and result.image.shape == (H, W, 3)
    started, previews = events[0], events[1:]
    assert isinstance(started, JobStarted) and (started.width_px, started.height_px) == (W, H)
    per_window = len(previews) // len(windows)
    assert started.total_steps == per_window * len(windows) == len(previews) and per_window >= 3
    assert [p.step for p in previews] == list(range(1, started.total_steps + 1))
    assert [p.box for p in previews] == [w.box for w in windows for _ in range(per_window)]
    for p, window in zip(previews, [w for w in windows for _ in range(per_window)]):
        assert p.rgb.shape == (window.gen_size[1] // 8, window.gen_size[0] // 8, 3)
    # 2. Outside the feathered mask every pixel is the input byte for byte
    outside = feather_mask(mask, FEATHER) == 0
    assert np.array_equal(result.image[outside], photo[outside])
    # 3. Changes sit at each defect and every defect changed
    changed = np.any(result.image != photo, axis=2)
    reach = feather_reach_px(FEATHER)
    near = np.zeros_like(changed)
    for x0, y0, x1, y1 in DEFECTS:
        near[y0 - reach : y1 + reach, x0 - reach : x1 + reach] = True
        assert changed[y0:y1, x0:x1].mean() > 0.5
    assert not changed[~near].any()


def test_same_seed_same_pixels_and_gray_stays_gray_unless_colorize(engine, tiny_model_dir):
    gray = synthetic_photo(H, W, seed=3, gray=True)
    mask = defect_mask(DEFECTS[:2])
    a, _ = run(engine, request_for(tiny_model_dir, gray, mask, steps=2))
    b, _ = run(engine, request_for(tiny_model_dir, gray, mask, steps=2))
    assert np.array_equal(a.image, b.image)
    assert is_grayscale(a.image) and not np.array_equal(a.image, gray)
    colour, _ = run(engine, request_for(tiny_model_dir, gray, mask, steps=2, colorize=True))
    assert not is_grayscale(colour.image)
    outside = feather_mask(mask, FEATHER) == 0
    assert np.array_equal(colour.image[outside], gray[outside])


def test_cancel_in_the_second_window_stops_without_decoding(engine, tiny_model_dir, photo):
    mask = defect_mask()
    request = request_for(tiny_model_dir, photo, mask, steps=3)
    before = np.array(request.image)
    decodes = []
    handle = engine.model(str(tiny_model_dir)).base.vae.decoder.register_forward_pre_hook(lambda *_: decodes.append(1))
    cancel = threading.Event()
    per_window = {}

    def on_step(event):
        if isinstance(event, JobStarted):
            per_window["n"] = event.total_steps // 3
        if isinstance(event, StepPreview) and event.step == per_window["n"] + 2:
            cancel.set()

    try:
        final, events = run(engine, request, on_step, cancel)
    finally:
        handle.remove()
    assert isinstance(final, JobCancelled) and final.job_id == 5
    assert per_window["n"] + 2 <= final.step <= per_window["n"] + 3
    assert decodes == [1]  # the first window decoded; the second never did
    assert np.array_equal(request.image, before) and np.array_equal(photo, before)


def test_img2img_on_a_large_photo_generates_at_the_budget_and_scales_back(engine, tiny_model_dir, photo):
    request = GenerationRequest(job_id=6, mode=Mode.IMG2IMG, prompt="p", model_ref=str(tiny_model_dir), image=photo,
                                steps=2, strength=0.5)
    result, events = run(engine, request)
    assert isinstance(result, JobFinished) and result.image.shape == (H, W, 3)
    gen_w, gen_h = generation_size(W, H, BUDGET)
    assert events[-1].rgb.shape == (gen_h // 8, gen_w // 8, 3) and events[-1].box is None


def test_heal_prefill_runs_on_each_window_crop(engine, tiny_model_dir, photo, monkeypatch):
    try:
        import inference.restore.heal as heal_module
    except ImportError:
        pytest.skip("inference.restore.heal is not there yet")
    calls = []
    real_heal = heal_module.heal
    monkeypatch.setattr(heal_module, "heal", lambda image, mask, **kw: calls.append(image.shape) or real_heal(image, mask, **kw))
    mask = defect_mask()
    result, _ = run(engine, request_for(tiny_model_dir, photo, mask, steps=1, prefill="heal"))
    windows = plan_windows(mask, BUDGET, FEATHER)
    assert calls == [(w.box[3], w.box[2], 3) for w in windows]
    outside = feather_mask(mask, FEATHER) == 0
    assert np.array_equal(result.image[outside], photo[outside])


@pytest.mark.parametrize("scheduler", ["default", "ddim", "euler_a", "heun", "dpm++_2m_karras", "unipc", "lcm"])
def test_planned_step_count_is_what_the_pipeline_runs(engine, tiny_model_dir, scheduler):
    small = synthetic_photo(64, 64)
    mask = defect_mask([(20, 20, 40, 40)], 64, 64)
    request = request_for(tiny_model_dir, small, mask, steps=5, strength=0.6, scheduler=scheduler)
    result, events = run(engine, request)
    model = engine.model(str(tiny_model_dir))
    planned = _real_step_count(make_scheduler(scheduler, model.base.scheduler), request)
    assert isinstance(result, JobFinished)
    assert events[0].total_steps == planned == len(events) - 1


def test_a_dusty_photo_heals_the_specks_and_generates_the_rest_in_one_job(engine, photo, tiny_model_dir):
    rng = np.random.default_rng(3)
    specks = [(int(x), int(y), int(x) + 3, int(y) + 3) for y, x in rng.integers(20, [880, 1180], size=(30, 2))]
    # An L-shaped tear whose box holds a speck in its empty corner: the speck is healed, not regenerated
    tear = [(600, 300, 620, 420), (600, 400, 720, 420)]
    specks.append((680, 320, 683, 323))
    mask = defect_mask(DEFECTS[:2] + tear + specks)
    result, events = run(engine, request_for(tiny_model_dir, photo, mask))
    windows = plan_windows(mask, BUDGET, FEATHER)
    generated = [w for w in windows if not w.heal]
    assert isinstance(result, JobFinished) and 0 < len(generated) < len(windows)
    # One progress bar over the generated windows only; previews only from them
    started, previews = events[0], events[1:]
    assert started.total_steps == len(previews) and len(previews) % len(generated) == 0
    assert {p.box for p in previews} == {w.box for w in generated}
    # Every masked pixel filled, nothing outside the feathered mask touched
    changed = np.any(result.image != photo, axis=2)
    outside = feather_mask(mask, FEATHER) == 0
    assert not changed[outside].any()
    for x0, y0, x1, y1 in specks:
        assert changed[y0:y1, x0:x1].any()
    # Around each speck only the speck changed, unless the feather of a generated region reaches it
    generated_only = defect_mask(DEFECTS[:2] + tear)
    reach = feather_mask(generated_only, FEATHER) > 0
    for x0, y0, x1, y1 in specks:
        ring = np.zeros_like(changed)
        ring[y0 - 3 : y1 + 3, x0 - 3 : x1 + 3] = True
        ring[y0:y1, x0:x1] = False
        assert not changed[ring & ~reach & (mask == 0)].any()
