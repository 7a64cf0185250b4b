"""Pieces bench/live.py and its two drivers share: the fast live settings, the test photo and
strokes, a bare engine run, and what one stroke measured."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from gui.session.generation_params import GenerationParams  # numpy only, no Qt
from inference.core.api import JobFinished, JobStarted, StepPreview
from inference.engine.engine import Engine
from inference.engine.schedulers import scheduler_names

TARGET_MS = 250  # the issue: stroke → image, 4 steps, 512 px, full-size SD1.5, fp16, CUDA
COLORS = [(220, 40, 40), (40, 160, 60), (40, 80, 220), (230, 200, 30), (120, 40, 160)]
now = time.perf_counter


# --- shared pieces --------------------------------------------------------------------------------


def fast_params(args, model_ref: str) -> GenerationParams:
    """The panel's params after the Fast preset, with --steps, --strength, a fixed seed.

    Uses ``gui.session.live_mode.fast_preset`` where PySide6 is installed; without it (headless on a
    GPU machine) the same three settings, copied from gui/session/live_mode.py."""
    params = GenerationParams(model_ref=model_ref, prompt=args.prompt, strength=args.strength,
                              seed=1, random_seed=False, width_px=args.size, height_px=args.size)
    try:
        from gui.session.live_mode import fast_preset
    except ImportError:  # no PySide6: FAST_STEPS, FAST_GUIDANCE, FAST_SCHEDULER of gui/session/live_mode.py
        params.guidance = 1.0
        if "lcm" in scheduler_names():
            params.scheduler = "lcm"
    else:
        params = fast_preset(params)
    params.steps = args.steps
    return params


def photo(size: int) -> np.ndarray:
    """A smooth size×size RGB 'photo' (a gradient): the live picture starts from it."""
    ramp = np.linspace(0, 255, size)
    yy, xx = np.meshgrid(ramp, ramp, indexing="ij")
    return np.stack([xx, yy, (xx + yy) / 2], axis=-1).round().astype(np.uint8)


def stroke_line(k: int, size: int) -> tuple[float, list[float], float]:
    """Stroke ``k``: a horizontal line (y, x points, brush radius) somewhere in the picture."""
    y = size * (0.15 + 0.7 * ((k * 0.37) % 1.0))
    return y, list(np.linspace(0.1 * size, 0.9 * size, 5)), max(2.0, size / 40)


def bare_run(engine: Engine, request) -> dict:
    """``Engine.run`` of ``request`` in this thread: seconds to JobStarted (first UNet call), to
    the first preview, to the last step's end, to the image; and the real step count."""
    marks: dict = {}

    def on_step(event):
        if isinstance(event, JobStarted):
            marks.setdefault("started", now() - t0)
            marks["steps"] = event.total_steps
        elif isinstance(event, StepPreview):
            if event.rgb is not None:
                marks.setdefault("preview", now() - t0)
            if event.step == event.total:
                marks["last_step"] = now() - t0

    t0 = now()
    result = engine.run(request, on_step, threading.Event())
    marks["image"] = now() - t0
    if not isinstance(result, JobFinished):
        raise RuntimeError(f"bare run did not finish: {result}")
    return marks


@dataclass
class StrokeTimes:
    """One measured stroke; seconds from the stroke's end (mouse release) unless noted."""

    request: object = None  # the live job's request (for the bare run)
    submitted: float = 0.0  # job handed to the worker
    preview: float = 0.0  # first step preview handed to the canvas (GUI) / emitted (headless)
    preview_drawn: float = 0.0  # ... and painted in the canvas viewport (headless: = preview)
    image_drawn: float = 0.0  # final image shown and painted (headless: JobFinished emitted)
    stale_stopped: float | None = None  # stale job's terminal event, from the stroke's *start*
    stale_outcome: str = ""  # "cancelled" / "finished" (the cancel came too late) / "idle"
