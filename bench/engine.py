"""Engine overhead, preview cost and cancel latency, measured in one run (not a pass/fail test).

    python bench/engine.py [--model REF] [--size 256] [--steps 20] [--reps 3]

Without --model a tiny random-weight SD1.5-architecture model is built in a temp folder.
Prints a table: engine (per-step previews) ÷ bare diffusers call with the same seed and settings,
preview cost as a share of one step, and cancel latency between and inside steps.
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

import torch  # noqa: E402

from inference.core.api import GenerationRequest, JobCancelled, Mode, StepPreview  # noqa: E402
from inference.cli.generate import quiet_libraries  # noqa: E402
from inference.engine.engine import Engine  # noqa: E402
from inference.engine.previews import LatentPreviewer  # noqa: E402


def bare_call(pipe, args) -> float:
    started = time.perf_counter()
    pipe(
        prompt=args.prompt,
        num_inference_steps=args.steps,
        guidance_scale=7.5,
        width=args.size,
        height=args.size,
        generator=torch.Generator("cpu").manual_seed(1),
        output_type="pil",
    )
    return time.perf_counter() - started


def engine_call(engine, model_ref, args, cancel_after=None):
    """Run once; with ``cancel_after=(step, delay_s)`` another thread sets cancel ``delay_s``
    after that step's preview arrives. Returns (seconds, result, cancel latency or None)."""
    request = GenerationRequest(
        job_id=1, mode=Mode.TXT2IMG, prompt=args.prompt, model_ref=model_ref,
        width_px=args.size, height_px=args.size, steps=args.steps, seed=1,
    )
    cancel = threading.Event()
    marks = {}

    def fire():
        marks["set"] = time.perf_counter()
        cancel.set()

    def on_step(event):
        if cancel_after and isinstance(event, StepPreview) and event.step == cancel_after[0]:
            threading.Timer(cancel_after[1], fire).start()

    started = time.perf_counter()
    result = engine.run(request, on_step, cancel)
    ended = time.perf_counter()
    return ended - started, result, (ended - marks["set"]) if "set" in marks else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="model reference (default: a tiny test model)")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--prompt", default="an old photograph of a lighthouse")
    parser.add_argument("--device", default=None, help="auto, cuda, mps or cpu")
    args = parser.parse_args()
    quiet_libraries()

    from inference.hardware.devices import choose_device

    plan = choose_device(args.device)
    model_ref = args.model
    if model_ref is None:
        from inference.models.tiny_model import make_test_model

        model_ref = str(make_test_model(Path(tempfile.mkdtemp()) / "tiny"))
    engine = Engine(plan)
    model = engine.model(model_ref)
    from diffusers import AutoPipelineForText2Image

    bare = AutoPipelineForText2Image.from_pipe(model.base)
    bare.set_progress_bar_config(disable=True)

    # 1. Warm up both paths, then alternate them so drift hits both alike
    bare_call(bare, args)
    engine_call(engine, model_ref, args)
    bare_s, engine_s = [], []
    for _ in range(args.reps):
        bare_s.append(bare_call(bare, args))
        engine_s.append(engine_call(engine, model_ref, args)[0])
    bare_med, engine_med = statistics.median(bare_s), statistics.median(engine_s)
    step_s = bare_med / args.steps

    # 2. Preview cost: the latent→RGB map on a latent of this size
    latents = torch.randn(1, 4, args.size // 8, args.size // 8, device=plan.device, dtype=plan.dtype)
    previewer = LatentPreviewer(model.family)
    previewer.to_rgb(latents)
    n = 200
    started = time.perf_counter()
    for _ in range(n):
        previewer.to_rgb(latents)
    preview_s = (time.perf_counter() - started) / n

    # 3. Cancel latency: set from another thread at several points inside a step
    latencies, stopped_steps = [], []
    for step, frac in ((args.steps // 4, 0.2), (args.steps // 2, 0.5), (3 * args.steps // 4, 0.8)):
        _, result, latency = engine_call(engine, model_ref, args, cancel_after=(step, step_s * frac))
        assert isinstance(result, JobCancelled), result
        latencies.append(latency)
        stopped_steps.append(result.step)

    print(f"device: {plan.description}; model: {model_ref}; {args.size}×{args.size}, {args.steps} steps, median of {args.reps}")
    print(f"{'measure':<40}{'value':>14}")
    print(f"{'bare diffusers call (s)':<40}{bare_med:>14.3f}")
    print(f"{'engine with per-step previews (s)':<40}{engine_med:>14.3f}")
    print(f"{'ratio engine / bare (target <= 1.03)':<40}{engine_med / bare_med:>14.3f}")
    print(f"{'one step (ms)':<40}{step_s * 1000:>14.2f}")
    print(f"{'preview per step (ms)':<40}{preview_s * 1000:>14.3f}")
    print(f"{'preview / step (target <= 1%)':<40}{preview_s / step_s * 100:>13.2f}%")
    print(f"{'cancel latency, median (ms)':<40}{statistics.median(latencies) * 1000:>14.1f}")
    print(f"{'cancel latency, max (ms)':<40}{max(latencies) * 1000:>14.1f}")
    print(f"{'cancel latency / step, max':<40}{max(latencies) / step_s:>14.2f}")
    print(f"stopped after steps {stopped_steps}")


if __name__ == "__main__":
    main()
