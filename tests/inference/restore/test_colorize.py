"""Colourising: the model's colours on the scan's own luminance, at full resolution. The
luminance stays the scan's (±1 level), the chroma is not flat, and gray photos get colour only
when it is asked for."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from inference.core.api import GenerationRequest, JobFinished, Mode
from inference.core.errors import InvalidRequest
from inference.engine.engine import Engine, run_job
from inference.hardware.devices import choose_device
from inference.restore.chroma import transfer_chroma
from inference.restore.tone_match import luminance
from photos import scan

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def chroma_spread(rgb: np.ndarray) -> float:
    ycc = np.asarray(Image.fromarray(rgb).convert("YCbCr")).astype(np.float32)
    return float(ycc[..., 1:].std(axis=(0, 1)).mean())


def test_the_scans_luminance_stays_to_the_level_at_full_resolution():
    gray = scan(5, size=(1500, 1000), gray=True)[..., 0]  # a 1.5 MP gray print
    rng = np.random.default_rng(1)
    colour = np.zeros((48, 72, 3), np.uint8)  # the model's small picture: a red sky over green fields
    colour[:24] = (200, 60, 40)
    colour[24:] = (40, 160, 60)
    colour = np.clip(colour + rng.integers(-20, 20, colour.shape), 0, 255).astype(np.uint8)
    out = transfer_chroma(gray, colour)
    assert out.shape == (1000, 1500, 3)
    assert np.abs(luminance(out).astype(int) - gray).max() <= 1
    assert chroma_spread(out) > 5
    top, bottom = out[:400].reshape(-1, 3).mean(axis=0), out[-400:].reshape(-1, 3).mean(axis=0)
    assert top[0] > top[1] and bottom[1] > bottom[0]  # red above, green below, as the model painted
    assert chroma_spread(transfer_chroma(gray, colour, saturation=0.0)) < 0.5  # saturation 0: gray
    assert np.array_equal(transfer_chroma(gray, np.full((8, 8, 3), 128, np.uint8))[..., 0], gray)


def test_saturated_colour_never_changes_the_luminance_of_near_white_or_black():
    luma = np.tile(np.array([0, 3, 128, 250, 255], np.uint8), (10, 4))
    vivid = np.zeros((4, 4, 3), np.uint8)
    vivid[...] = (255, 0, 0)
    out = transfer_chroma(luma, vivid, saturation=2.0)
    assert np.abs(luminance(out).astype(int) - luma).max() <= 1


def test_the_engine_colourises_a_gray_scan_only_when_asked(tiny_model_dir):
    gray = scan(2, size=(160, 120), gray=True)
    engine = Engine(choose_device(precision="fp32"), budget_side_px=64)
    common = dict(job_id=1, mode=Mode.IMG2IMG, prompt="a colour photo", model_ref=str(tiny_model_dir), image=gray,
                  steps=4, strength=0.6, seed=3)
    plain = run_job(engine, GenerationRequest(**common), lambda _e: None, threading.Event())
    assert isinstance(plain, JobFinished) and chroma_spread(plain.image) == 0.0  # gray stays gray
    coloured = run_job(engine, GenerationRequest(**common, colorize=True, luminance=gray[..., 0]),
                       lambda _e: None, threading.Event())
    assert isinstance(coloured, JobFinished) and coloured.image.shape == gray.shape
    assert np.abs(luminance(coloured.image).astype(int) - gray[..., 0]).max() <= 1
    assert chroma_spread(coloured.image) > 1.0
    with pytest.raises(InvalidRequest, match="colour on"):
        GenerationRequest(**common, luminance=gray[..., 0])


def test_a_big_scan_is_coloured_window_by_window_with_previews_in_place(tiny_model_dir):
    from inference.core.api import JobStarted, StepPreview
    from inference.engine.colour_windows import colour_work_size, plan_colour_windows

    gray = scan(6, size=(400, 260), gray=True)  # over twice the 64-px budget: windows
    engine = Engine(choose_device(precision="fp32"), budget_side_px=64)
    request = GenerationRequest(job_id=4, mode=Mode.IMG2IMG, prompt="a colour photo", model_ref=str(tiny_model_dir),
                                image=gray, width_px=400, height_px=260, steps=4, strength=0.6, seed=5,
                                colorize=True, luminance=gray[..., 0])
    work = colour_work_size(request, 64)
    assert work == (128, 83) and len(plan_colour_windows(work, 64)) == 6
    events = []
    done = run_job(engine, request, events.append, threading.Event())
    assert isinstance(done, JobFinished) and done.image.shape == gray.shape
    assert np.abs(luminance(done.image).astype(int) - gray[..., 0]).max() <= 1  # the scan's own luminance
    assert chroma_spread(done.image) > 1.0
    started = [e for e in events if isinstance(e, JobStarted)]
    previews = [e for e in events if isinstance(e, StepPreview)]
    assert len(started) == 1 and [p.step for p in previews] == list(range(1, started[0].total_steps + 1))
    boxes = [p.box for p in previews if p.box is not None]  # the windows' previews, in scan pixels
    assert boxes and len(boxes) < len(previews)  # the whole pass first (no box), then the windows
    covered = np.zeros(gray.shape[:2], bool)
    for x, y, w, h in boxes:
        assert 0 <= x and 0 <= y and x + w <= 401 and y + h <= 261
        covered[y:y + h, x:x + w] = True
    assert covered.all()
