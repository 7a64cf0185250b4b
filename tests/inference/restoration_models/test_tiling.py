"""Tiled enlarging: seamless, bounded in memory, gray stays gray, sizes checked before work."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from inference.core.errors import InvalidRequest
from inference.restoration_models.model_file import load_restoration_model
from inference.restoration_models.tiling import run_tiled, tile_grid
from inference.restoration_models.upscale import check_upscale_size, upscale_image

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _untiled(model, image):
    batch = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
    with torch.inference_mode():
        out = model.descriptor(batch)
    return (out.clamp(0, 1) * 255).round().byte()[0].permute(1, 2, 0).numpy()


@pytest.mark.parametrize("fixture", ["tiny_upscaler", "compact_upscaler"])
def test_tiled_equals_untiled_along_every_border(fixture, request):
    model = load_restoration_model(request.getfixturevalue(fixture))
    image = (np.random.default_rng(3).random((150, 230, 3)) * 255).astype(np.uint8)
    tiles = []
    tiled = upscale_image(model, image, model.scale, tile=64, on_tile=lambda *a: tiles.append((a[2], a[3])))
    assert len(tiles) == len(tile_grid(230, 150, 64)) == 12
    whole = _untiled(model, image)
    s = model.scale
    for (x, y, w, h), rgb in tiles:  # each preview is exactly the result at its box: drawn in place
        assert rgb.shape[:2] == (h * s, w * s)
        assert np.abs(rgb.astype(int) - whole[y * s:(y + h) * s, x * s:(x + w) * s].astype(int)).max() <= 1
    borders = np.zeros(image.shape[:2], bool)
    borders[:, 60:68] = borders[:, 124:132] = borders[:, 188:196] = True
    borders[60:68] = borders[124:132] = True
    diff = np.abs(tiled.astype(int) - whole.astype(int))
    assert diff[np.repeat(np.repeat(borders, s, 0), s, 1)].max() <= 1
    assert diff.max() <= 1


def test_other_factor_and_gray_stays_gray(compact_upscaler):
    model = load_restoration_model(compact_upscaler)  # native ×2
    gray = (np.random.default_rng(4).random((40, 50)) * 255).astype(np.uint8)
    image = np.repeat(gray[..., None], 3, axis=2)
    out = upscale_image(model, image, 4)
    assert out.shape == (160, 200, 3)
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()


def test_too_large_is_said_before_any_work():
    with pytest.raises(InvalidRequest, match="×4 of 6000×4000 is 384 megapixels"):
        check_upscale_size(6000, 4000, 4)
    with pytest.raises(InvalidRequest, match="×5"):
        check_upscale_size(100, 100, 5)
    check_upscale_size(6000, 4000, 2)


def test_cancel_stops_between_tiles(compact_upscaler):
    model = load_restoration_model(compact_upscaler)
    image = np.zeros((100, 100, 3), np.uint8)
    calls = []

    def check():
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_tiled(model.descriptor, image, 2, tile=32, check_cancel=check)
    assert len(calls) == 3


_PEAK_SCRIPT = r"""
import sys, numpy as np, torch
import inference
from inference.restoration_models.model_file import load_restoration_model
from inference.restoration_models.upscale import upscale_image
torch.set_num_threads(1)
model = load_restoration_model(sys.argv[1])
image = np.full((4000, 6000, 3), 128, np.uint8)
image[::7, ::5] = 30
def status(key):
    line = next(l for l in open("/proc/self/status") if l.startswith(key))
    return int(line.split()[1]) * 1024
open("/proc/self/clear_refs", "w").write("5")  # the peak (VmHWM) starts again from here
before = status("VmRSS:")
out = upscale_image(model, image, 2)
after = status("VmHWM:")
print(before, after, out.shape[0], out.shape[1], int(out[::97, ::89].sum()))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the peak from /proc (Linux)")
def test_a_24_megapixel_scan_doubles_in_bounded_memory(compact_upscaler):
    done = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(compact_upscaler)], capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after, height, width, _ = map(int, done.stdout.split())
    assert (height, width) == (8000, 12000)
    float_copy = 12000 * 8000 * 3 * 4  # the enlarged picture as float32: 1.15 GB
    grew = after - before
    print(f"\n6000×4000 ×2: peak memory grew {grew / 2**20:.0f} MiB (output alone {12000 * 8000 * 3 / 2**20:.0f} MiB; "
          f"a float copy would be {float_copy / 2**20:.0f} MiB)")
    assert grew < 0.6 * float_copy  # the enlarged picture itself is a quarter of a float copy


def test_cancel_stops_a_model_inside_its_first_tile(tiny_upscaler):
    """Esc during a tile: the next layer does not run, the job ends cancelled with no tile drawn."""
    import threading

    from inference.core.api import JobCancelled, StepPreview
    from inference.restoration_models.jobs import ModelCache, UpscaleRequest, run_restoration_job

    cache, cancel, events, ran = ModelCache(), threading.Event(), [], []
    network = cache.get(str(tiny_upscaler), "cpu").descriptor.model

    def count(_layer, _inputs, _output):
        ran.append(cancel.is_set())
        if len(ran) == 5:
            cancel.set()  # the user presses Esc while the first tile is half done

    hooks = [layer.register_forward_hook(count) for layer in network.modules()]
    try:
        run_restoration_job(UpscaleRequest(1, str(tiny_upscaler), np.zeros((300, 300, 3), np.uint8), 4),
                            events.append, cancel, cache, "cpu")
    finally:
        for hook in hooks:
            hook.remove()
    assert isinstance(events[-1], JobCancelled)
    assert not any(isinstance(e, StepPreview) for e in events)
    assert ran.count(True) == 0  # not one layer ran after the cancel
    run_restoration_job(UpscaleRequest(2, str(tiny_upscaler), np.zeros((40, 40, 3), np.uint8), 4),
                        events.append, threading.Event(), cache, "cpu")
    assert events[-1].image.shape == (160, 160, 3)  # the hooks were removed: the next job runs whole
