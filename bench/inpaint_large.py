"""Inpainting time on a 6000×4000 scan versus a 1000×1000 photo with the same 200×100 px mask.

    python bench/inpaint_large.py [--model REF] [--steps 10] [--reps 3] [--budget PX] [--threads N]

Without --model a tiny random-weight SD1.5-architecture model is built in a temp folder. The
small photo is the top-left 1000×1000 px of the large one and the mask sits at the same place in
both, so both jobs generate the same window: the regenerated pixels must be identical, and the
time should be too (target: large / small <= 1.2). Also checks that every pixel outside the
feathered mask is the input byte for byte. Prints a table; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from inference.core.api import GenerationRequest, JobFinished, Mode  # noqa: E402
from inference.restore.compositing import feather_mask  # noqa: E402
from inference.engine.engine import Engine  # noqa: E402

MASK_BOX = (400, 450, 600, 550)  # x0, y0, x1, y1: 200×100 px, well inside the 1000×1000 photo
FEATHER_PX = 8


def synthetic_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """H×W×3 uint8 with photo-like structure: smooth light, fine texture, film grain. Built in
    row bands so 24 MP needs no multi-GB float temporaries."""
    rng = np.random.default_rng(seed)
    out = np.empty((height, width, 3), np.uint8)
    xx = np.arange(width, dtype=np.float32)[None, :]
    for top in range(0, height, 500):
        yy = np.arange(top, min(height, top + 500), dtype=np.float32)[:, None]
        base = 90 + 60 * np.sin(xx / 170.0) * np.cos(yy / 130.0) + 40 * (yy / height)
        texture = 12 * np.sin(xx / 9.0 + yy / 15.0)
        rgb = np.stack([base + texture, base * 0.9 + 10, base * 0.75 + texture * 0.5], axis=-1)
        rgb += rng.normal(0, 3, rgb.shape).astype(np.float32)
        out[top : top + yy.shape[0]] = rgb.clip(0, 255).astype(np.uint8)
    return out


def make_request(photo: np.ndarray, model_ref: str, steps: int) -> GenerationRequest:
    mask = np.zeros(photo.shape[:2], np.uint8)
    x0, y0, x1, y1 = MASK_BOX
    mask[y0:y1, x0:x1] = 255
    return GenerationRequest(job_id=1, mode=Mode.INPAINT, prompt="an old photograph, restored", model_ref=model_ref,
                             image=photo, mask=mask, steps=steps, strength=1.0, seed=7, mask_feather_px=FEATHER_PX)


def timed_run(engine: Engine, request: GenerationRequest) -> tuple[float, JobFinished]:
    started = time.perf_counter()
    result = engine.run(request, lambda _event: None, threading.Event())
    elapsed = time.perf_counter() - started
    assert isinstance(result, JobFinished), result
    return elapsed, result


def outside_is_untouched(request: GenerationRequest, result: JobFinished) -> bool:
    """Every pixel with feathered weight 0 equals the input (full-image feather: a check, not timed)."""
    outside = feather_mask(np.asarray(request.mask), FEATHER_PX) == 0
    return bool(np.array_equal(result.image[outside], np.asarray(request.image)[outside]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model reference (default: a tiny test model)")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--budget", type=int, default=None, help="pixel budget side in px (default: the model's)")
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--device", default=None, help="auto, cuda, mps or cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    # 1. Model and the two photos (the small one is a crop of the large one)
    from inference.hardware.devices import choose_device

    plan = choose_device(args.device)
    model_ref = args.model
    if model_ref is None:
        from inference.models.tiny_model import make_test_model

        model_ref = str(make_test_model(Path(tempfile.mkdtemp()) / "tiny"))
    engine = Engine(plan, budget_side_px=args.budget)
    engine.model(model_ref)
    large = synthetic_photo(4000, 6000)
    small = np.ascontiguousarray(large[:1000, :1000])
    requests = {"6000×4000": make_request(large, model_ref, args.steps), "1000×1000": make_request(small, model_ref, args.steps)}

    # 2. Warm up, then alternate the sizes so machine drift hits both alike
    timed_run(engine, requests["1000×1000"])
    times: dict[str, list[float]] = {name: [] for name in requests}
    results: dict[str, JobFinished] = {}
    for _ in range(args.reps):
        for name, request in requests.items():
            elapsed, results[name] = timed_run(engine, request)
            times[name].append(elapsed)

    # 3. Checks: untouched outside the feather, and the same window gives the same pixels
    untouched = {name: outside_is_untouched(requests[name], results[name]) for name in requests}
    same_patch = np.array_equal(results["6000×4000"].image[:1000, :1000], results["1000×1000"].image)
    large_med, small_med = statistics.median(times["6000×4000"]), statistics.median(times["1000×1000"])
    ratio = large_med / small_med

    print(f"device: {plan.description}; model: {model_ref}; budget: {engine.budget_side(engine.model(model_ref))} px; "
          f"{args.steps} steps, median of {args.reps}; torch threads: {torch.get_num_threads()}")
    print(f"{'photo':<12}{'median (s)':>12}{'runs (s)':>30}{'outside untouched':>20}")
    for name in requests:
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"{name:<12}{statistics.median(times[name]):>12.3f}{runs:>30}{str(untouched[name]):>20}")
    print(f"ratio large / small: {ratio:.3f} (target <= 1.2)")
    print(f"same regenerated pixels in both: {same_patch}")
    ok = all(untouched.values()) and same_patch
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
