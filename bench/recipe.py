"""The old-photo recipe on one big scan, step by step: seconds per step (not a pass/fail test).

    python bench/recipe.py [--mp 24] [--device cpu|cuda] [--full]

Detect damage → Heal → Fill (LaMa, full size) → Restore faces (GFPGAN, full size, two faces) →
Upscale ×2 → Colourise (the tiny diffusion test model), as ``main.py restore`` runs them, on a
synthetic damaged scan of --mp megapixels. The upscaler is a tiny Compact (SRVGG) network unless
--full asks for the full-size Real-ESRGAN RRDBNet (hours on a CPU, seconds on a GPU). All models have
random weights: the times are real, the pictures are not.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def damaged_scan(megapixels: float) -> np.ndarray:
    width = int((megapixels * 1e6 * 1.5) ** 0.5)
    height = int(width / 1.5)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    gray = (110 + 60 * np.sin(xx / (width / 9)) * np.cos(yy / (height / 7)) + 15 * np.sin(xx / 11.0)).clip(0, 255)
    scan = np.repeat(gray.astype(np.uint8)[..., None], 3, axis=2)
    rng = np.random.default_rng(0)
    for _ in range(12):  # scratches
        y, x = int(rng.integers(0, height - 40)), int(rng.integers(0, width - 2000))
        scan[y:y + 2, x:x + 1500] = 245
    scan[: height // 6, : width // 8] = 250  # a torn-off corner
    return scan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mp", type=float, default=24.0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--full", action="store_true", help="the full-size RRDBNet ×4 upscaler (slow on a CPU)")
    args = parser.parse_args()

    import inference  # noqa: F401 - torchvision compatibility before spandrel
    from inference.core.api import GenerationRequest, JobFinished, Mode
    from inference.engine.engine import Engine, run_job
    from inference.models.tiny_model import make_test_model
    from inference.restoration_models.faces import restore_faces
    from inference.restoration_models.fill import fill_holes
    from inference.restoration_models.jobs import _device
    from inference.restoration_models.model_file import load_restoration_model
    from inference.restoration_models.random_models import make_restoration_test_model as make
    from inference.restoration_models.upscale import upscale_image
    from inference.restore.damage import detect_damage
    from inference.restore.heal import heal
    from inference.restore.tone_match import luminance

    device = args.device or _device()
    folder = Path(tempfile.mkdtemp(prefix="kiln-recipe-"))
    up_kind, up_size = ("upscale", "full") if args.full else ("compact", "tiny")
    upscaler = load_restoration_model(make(folder / "up.safetensors", up_kind, up_size, scale=2 if not args.full else 4),
                                      device=device)
    lama = load_restoration_model(make(folder / "lama.safetensors", "fill"), device=device)
    gfpgan = load_restoration_model(make(folder / "gfpgan.safetensors", "face"), device=device)
    tiny = str(make_test_model(folder / "tiny"))
    engine = Engine()

    scan = damaged_scan(args.mp)
    height, width = scan.shape[:2]
    print(f"{width}×{height} ({width * height / 1e6:.1f} MP) on {device}; upscaler {upscaler.describe()}")
    times = {}

    def step(name, fn):
        started = time.perf_counter()
        result = fn()
        times[name] = time.perf_counter() - started
        print(f"  {name:18s} {times[name]:8.2f} s", flush=True)
        return result

    mask = step("detect damage", lambda: detect_damage(scan))
    specks = mask.copy()
    specks[: height // 6 + 20, : width // 8 + 20] = 0
    healed = step("heal", lambda: heal(scan, specks))
    corner = np.zeros_like(mask)
    corner[: height // 6, : width // 8] = 255
    filled = step("fill (LaMa)", lambda: fill_holes(lama, healed, corner, device=device))
    boxes = [(width // 3, height // 3, width // 12, width // 10), (width // 2, height // 3, width // 12, width // 10)]
    faced = step("faces (GFPGAN ×2)", lambda: restore_faces(gfpgan, filled, boxes, 0.5, device=device))
    enlarged = step("upscale ×2", lambda: upscale_image(upscaler, faced, 2, device=device))

    def colourise():
        request = GenerationRequest(job_id=1, mode=Mode.IMG2IMG, prompt="a colour photo", model_ref=tiny,
                                    image=enlarged, steps=10, strength=0.55, colorize=True,
                                    luminance=luminance(enlarged))
        final = run_job(engine, request, lambda _event: None, threading.Event())
        assert isinstance(final, JobFinished), final
        return final.image

    run_job(engine, GenerationRequest(job_id=0, mode=Mode.TXT2IMG, prompt="warm-up", model_ref=tiny, steps=1,
                                      width_px=64, height_px=64), lambda _e: None, threading.Event())
    step("colourise", colourise)
    print(f"  {'total':18s} {sum(times.values()):8.2f} s")


if __name__ == "__main__":
    main()
