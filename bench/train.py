"""Teaching speed: LoRA training steps per second and peak memory (not a pass/fail test).

    python bench/train.py                     # the tiny model on this machine's device
    python bench/train.py --full-size         # also SD1.5's full-size architecture (random weights), 256 px
    python bench/train.py --full-size --resolution 512 --precision fp16   # on a GPU

Prints steps/s for the tiny model (64 and 128 px) and, with ``--full-size``, for one or more steps
of the full-size UNet, with the process's peak memory (and the GPU's on CUDA). Ratios between
lines come from one run on one machine: compare within a run, not across machines.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _photos(folder: Path, count: int = 4, size: int = 256) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        rgb = (rng.random((size, size, 3)) * 64 + np.array([150, 90, 60])).astype(np.uint8)
        Image.fromarray(rgb).save(folder / f"p{i}.png")
    return folder


def _peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def measure(model_dir: Path, photos: Path, resolution: int, steps: int, precision: str, label: str) -> float:
    import torch

    from inference.core.training_requests import TrainingRequest
    from inference.hardware.devices import choose_device
    from inference.models.loading import load_model
    from inference.training.dataset import load_examples
    from inference.training.lora_training import LoraTrainer

    plan = choose_device(precision=precision)
    request = TrainingRequest(0, str(model_dir), (str(photos),), "/tmp/bench.safetensors", "/tmp/bench.run",
                              steps=steps, rank=8, resolution=resolution)
    examples, _ = load_examples(list(request.images), resolution, request.trigger, request.caption_template)
    model = load_model(request.model_ref, plan, memory=None)
    if plan.device == "cuda":
        model.base.unet.enable_gradient_checkpointing()
        torch.cuda.reset_peak_memory_stats()
    trainer = LoraTrainer(model, request, examples)
    trainer.train_step()  # the first step pays for allocations
    if plan.device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    if plan.device == "cuda":
        torch.cuda.synchronize()
    rate = steps / (time.perf_counter() - started)
    gpu = (f", GPU peak {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB" if plan.device == "cuda" else "")
    print(f"{label:<44} {resolution:>4} px  {rate:8.3f} steps/s  peak RSS {_peak_rss_gib():.2f} GiB{gpu}",
          flush=True)
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-size", action="store_true", help="also the full-size SD1.5 architecture")
    parser.add_argument("--resolution", type=int, default=256, help="full-size training resolution (default 256)")
    parser.add_argument("--steps", type=int, default=1, help="full-size steps to time (default 1)")
    parser.add_argument("--precision", default="auto", help="auto, fp16, bf16 or fp32")
    args = parser.parse_args()

    from inference.models.tiny_model import make_test_model

    work = Path(tempfile.mkdtemp(prefix="kiln-bench-train-"))
    photos = _photos(work / "photos")
    tiny = make_test_model(work / "tiny")
    small = measure(tiny, photos, 64, 40, args.precision, "tiny SD1.5 architecture, rank 8")
    large = measure(tiny, photos, 128, 20, args.precision, "tiny SD1.5 architecture, rank 8")
    print(f"ratio 128 px / 64 px time per step: {small / large:.2f}")
    if args.full_size:
        from full_size_model import build_full_size_random

        full = build_full_size_random(work / "sd15-random")
        measure(full, photos, args.resolution, args.steps, args.precision, "full-size SD1.5 architecture, rank 8")


if __name__ == "__main__":
    main()
