"""Colourising time on a 1 MP and a 24 MP gray scan (not a pass/fail test).

    python bench/colorize.py [--model MODEL]    # default: the tiny test model, built on the fly

Prints, per scan size, the whole job (the model's image-to-image at its pixel budget; a scan more
than twice the budget across is then refined window by window over a working copy twice the
budget, ``inference.engine.colour_windows``; then its colours go on the scan's full-resolution
luminance) and the chroma transfer alone, with the 24 MP ÷ 1 MP ratios measured in this run.
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


def gray_scan(width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 110 + 60 * np.sin(xx / (width / 9)) * np.cos(yy / (height / 7)) + 20 * np.sin(xx / 13.0)
    gray = base.clip(0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a model reference (default: the tiny test model)")
    args = parser.parse_args()

    from inference.core.api import GenerationRequest, JobFinished, Mode
    from inference.engine.engine import Engine, run_job
    from inference.hardware.devices import choose_device
    from inference.models.tiny_model import make_test_model
    from inference.restore.chroma import transfer_chroma
    from inference.restore.tone_match import luminance

    model = args.model or str(make_test_model(Path(tempfile.mkdtemp()) / "tiny"))
    engine = Engine(choose_device(), budget_side_px=None if args.model else 128)
    times = {}
    for label, (w, h) in (("1 MP", (1224, 816)), ("24 MP", (6000, 4000))):
        scan = gray_scan(w, h)
        luma = luminance(scan)
        request = GenerationRequest(job_id=1, mode=Mode.IMG2IMG, prompt="a colour photo", model_ref=model, image=scan,
                                    steps=10, strength=0.55, seed=1, colorize=True, luminance=luma)
        run_job(engine, request, lambda _e: None, threading.Event())  # warm: the model loads once
        started = time.perf_counter()
        final = run_job(engine, request, lambda _e: None, threading.Event())
        job_s = time.perf_counter() - started
        assert isinstance(final, JobFinished), final
        started = time.perf_counter()
        transfer_chroma(luma, np.asarray(final.image[:: max(1, h // 128), :: max(1, w // 128)]))
        chroma_s = time.perf_counter() - started
        times[label] = (job_s, chroma_s)
        print(f"{label:>6} {w}×{h}: colourise job {job_s:6.2f} s, of which the chroma transfer alone "
              f"takes about {chroma_s:5.2f} s", flush=True)
    (j1, c1), (j24, c24) = times["1 MP"], times["24 MP"]
    print(f"24 MP ÷ 1 MP: job {j24 / j1:.1f}×, chroma transfer {c24 / c1:.1f}×")


if __name__ == "__main__":
    main()
