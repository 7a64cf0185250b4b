"""The engine: one synchronous generation run with per-step previews and prompt cancel.

``Engine.run(request, on_step, cancel)`` is a plain function of its arguments plus the model it
keeps loaded; it never touches Qt, widgets or settings. ``run_job`` wraps it for a thread
boundary: every outcome, errors included, becomes one terminal event.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from inference.api import (
    Event,
    GenerationRequest,
    JobCancelled,
    JobFailed,
    JobFinished,
    JobStarted,
    Mode,
    StepPreview,
)
from inference.compositing import composite, feather_mask
from inference.devices import DevicePlan
from inference.errors import KilnError
from inference.models import LoadedModel, load_model
from inference.previews import LatentPreviewer, X0Tap
from inference.schedulers import make_scheduler

log = logging.getLogger(__name__)

OnStep = Callable[[JobStarted | StepPreview], None]


class _Cancelled(Exception):
    """Raised inside the pipeline to stop it at once (no further steps, no VAE decode)."""


class Engine:
    """Runs requests on one loaded model; a request for another model replaces it.

    Not thread-safe: one thread (the worker) owns an engine and runs one job at a time.
    """

    def __init__(self, plan: DevicePlan | None = None):
        self._plan = plan
        self._model: LoadedModel | None = None

    def has_model(self, ref: str) -> bool:
        """Whether ``ref`` is the model already loaded (a job on it starts without loading)."""
        return self._model is not None and self._model.ref == (ref or "").strip()

    def model(self, ref: str) -> LoadedModel:
        """The loaded model for ``ref``, loading it (and dropping the previous one) if needed."""
        if not self.has_model(ref):
            self._model = None  # free the old weights before loading new ones
            self._model = load_model(ref, self._plan)
        return self._model

    def run(self, request: GenerationRequest, on_step: OnStep, cancel: threading.Event) -> JobFinished | JobCancelled:
        """Generate ``request``; call ``on_step`` with JobStarted, then a StepPreview per real step.

        Returns JobFinished (image H×W×3 uint8 at the request's size) or JobCancelled when
        ``cancel`` was set: the run stops at the next step boundary — or, inside a long step,
        at the next UNet block — and never decodes. Raises KilnError for user-fixable problems.
        """
        # 1. Model, pipeline and a fresh scheduler with an x0 tap for previews
        model = self.model(request.model_ref)
        pipe = model.pipeline_for(request.mode)
        scheduler = make_scheduler(request.scheduler, model.base.scheduler)
        pipe.scheduler = scheduler
        tap = X0Tap(scheduler)
        previewer = LatentPreviewer(model.family)
        kwargs = _pipeline_inputs(request, model)

        # 2. Hooks: start/progress events, cancel between steps and inside them
        progress = {"step": 0, "t0": 0.0}

        def before_unet(_module, _args):
            if cancel.is_set():
                raise _Cancelled
            if progress["t0"] == 0.0:
                progress["t0"] = time.perf_counter()
                h, w = request.height_px, request.width_px
                on_step(JobStarted(request.job_id, pipe.num_timesteps, w, h))

        def on_step_end(_pipe, i, _t, tensors):
            step, total = i + 1, pipe.num_timesteps
            progress["step"] = step
            rgb = None
            if request.preview_every and (step % request.preview_every == 0 or step == total):
                rgb = previewer.to_rgb(tap.x0 if tap.x0 is not None else tensors["latents"])
            on_step(StepPreview(request.job_id, step, total, rgb, time.perf_counter() - progress["t0"]))
            if cancel.is_set():
                raise _Cancelled
            return tensors

        def inside_step(_module, _args):
            if cancel.is_set():
                raise _Cancelled

        unet = pipe.unet
        blocks = [*unet.down_blocks, unet.mid_block, *unet.up_blocks]
        handles = [unet.register_forward_pre_hook(before_unet)]
        handles += [b.register_forward_pre_hook(inside_step) for b in blocks if b is not None]

        # 3. Denoise and decode
        try:
            if cancel.is_set():
                raise _Cancelled
            with torch.inference_mode():
                result = pipe(**kwargs, callback_on_step_end=on_step_end, output_type="pil").images[0]
        except _Cancelled:
            return JobCancelled(request.job_id, progress["step"])
        finally:
            for handle in handles:
                handle.remove()

        # 4. Back to the request's size; outside the mask the photo stays byte for byte
        image = np.array(result.convert("RGB"))
        if image.shape[:2] != (request.height_px, request.width_px):
            image = np.array(Image.fromarray(image).resize((request.width_px, request.height_px), Image.LANCZOS))
        if request.mode is Mode.INPAINT:
            image = composite(request.image, image, feather_mask(request.mask, request.mask_feather_px))
        elapsed = time.perf_counter() - progress["t0"] if progress["t0"] else 0.0
        return JobFinished(request.job_id, image, request.seed, elapsed)


def _pipeline_inputs(request: GenerationRequest, model: LoadedModel) -> dict:
    """The keyword arguments for the diffusers pipeline call that serves ``request``."""
    w8, h8 = request.width_px // 8 * 8, request.height_px // 8 * 8
    steps = request.steps
    if request.mode is not Mode.TXT2IMG:
        # Image modes run about steps × strength steps; never let that round down to zero.
        steps = max(steps, math.ceil(1.0 / request.strength))
    kwargs = dict(
        prompt=request.prompt,
        negative_prompt=request.negative_prompt or None,
        num_inference_steps=steps,
        guidance_scale=request.guidance,
        generator=torch.Generator("cpu").manual_seed(request.seed),
        width=w8,
        height=h8,
    )
    image = mask = None
    strength = request.strength
    if request.image is not None:
        image = Image.fromarray(np.asarray(request.image))
        if image.size != (w8, h8):
            image = image.resize((w8, h8), Image.LANCZOS)
    if request.mode is Mode.INPAINT:
        mask = Image.fromarray(np.asarray(request.mask)).resize((w8, h8), Image.BILINEAR)
    elif model.inpainting:
        # An inpainting model paints everything: a full mask; from scratch for txt2img.
        mask = Image.new("L", (w8, h8), 255)
        if image is None:
            image, strength = Image.new("RGB", (w8, h8)), 1.0
    if image is not None:
        kwargs.update(image=image, strength=strength)
    if mask is not None:
        kwargs["mask_image"] = mask
    if request.mode is Mode.IMG2IMG and not model.inpainting:
        del kwargs["width"], kwargs["height"]  # img2img takes its size from the image
    return kwargs


def run_job(engine: Engine, request: GenerationRequest, emit: Callable[[Event], None], cancel: threading.Event) -> Event:
    """Run ``request`` and emit every event, ending with exactly one terminal event.

    The thread boundary: no exception escapes. A ``KilnError`` becomes JobFailed with its
    message; anything else is logged with its traceback and reported by type.
    """
    try:
        final = engine.run(request, emit, cancel)
    except KilnError as exc:
        final = JobFailed(request.job_id, str(exc))
    except torch.OutOfMemoryError:
        final = JobFailed(
            request.job_id,
            "the GPU ran out of memory: try a smaller size, fewer images at once, or close other GPU programs.",
        )
    except Exception as exc:  # the worker must survive any bug to run the next job
        log.exception("generation %s failed", request.job_id)
        final = JobFailed(request.job_id, f"generation failed ({type(exc).__name__}: {exc}).")
    emit(final)
    return final
