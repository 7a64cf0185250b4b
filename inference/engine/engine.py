"""The engine: one synchronous generation run with per-step previews and prompt cancel.

``Engine.run(request, on_step, cancel)`` is a plain function of its arguments plus the model it
keeps loaded; it never touches Qt, widgets or settings. ``run_job`` wraps it for a thread
boundary: every outcome, errors included, becomes one terminal event. This module owns the
single pipeline call (hooks, previews, cancel); inpainting's window loop lives in
``inference.restore.inpaint_windows`` and its geometry in ``inference.restore.regions``; memory plans and the
out-of-memory retry in ``inference.hardware.memory``; LoRA adapters in ``inference.models.lora``; what counts as a
step (and the progress over a job) in ``inference.engine.step_count``.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from inference.engine import forward as forward_diffusion
from inference.core.api import (
    Event, ForwardViewReady, ForwardViewRequest, GenerationRequest, JobCancelled, JobFailed, JobFinished, JobNotice,
    JobStarted, Mode, StepPreview,
)
from inference.hardware.devices import DevicePlan, choose_device, memory_budget
from inference.core.errors import KilnError
from inference.restore.inpaint_windows import inpaint_in_windows
from inference.restoration_models.detail import add_detail_in_tiles, plan_detail_tiles
from inference.models.lora import apply_loras
from inference.hardware.memory import (
    MemoryPlan, auto_memory_plan, memory_plan_for_mode, run_with_memory_fallback, use_memory_plan,
)
from inference.engine.colour_windows import (
    colorize_in_windows, colour_work_size, plan_colour_windows, to_picture_box, window_request,
)
from inference.models.loading import LoadedModel, load_model
from inference.engine.previews import LatentPreviewer, X0Tap
from inference.restore.regions import budget_side_px, generation_size, image_size, plan_windows
from inference.engine.schedulers import make_scheduler
from inference.engine.step_count import StepProgress, image_mode_steps, real_step_count, was_provisional
from inference.engine.timeline import Timeline, TimelineRecorder, branch_source, branch_start
from inference.restore.chroma import transfer_chroma
from inference.restore.tone_match import is_grayscale, to_gray

log = logging.getLogger(__name__)

OnStep = Callable[[JobStarted | StepPreview | JobNotice], None]


class _Cancelled(Exception):
    """Raised inside the pipeline to stop it at once (no further steps, no VAE decode)."""


class Engine:
    """Runs requests on one loaded model; a request for another model replaces it.

    Not thread-safe: one thread (the worker) owns an engine and runs one job at a time.
    plan: device and precision (``inference.hardware.devices.choose_device``; ``None``: the best here).
    budget_side_px: the side of the square pixel budget image modes generate at (``None``: the
    model family's own, see ``inference.restore.regions.budget_side_px``); tests set it small.
    memory_mode: one of ``inference.hardware.memory.MEMORY_MODE_NAMES``; "auto" plans each job from free
    memory and its size. Raises ``InvalidRequest`` for an unknown mode, or for one ``plan``'s
    device cannot use (without a plan that is known at the first job, which then fails).
    """

    def __init__(self, plan: DevicePlan | None = None, budget_side_px: int | None = None, memory_mode: str = "auto"):
        self._plan = plan
        self._model: LoadedModel | None = None
        self._budget_side_px = budget_side_px
        self.timeline: Timeline | None = None  # the last txt2img/img2img job's steps (a server keeps one per client)
        self.set_memory_mode(memory_mode)

    @property
    def device_plan(self) -> DevicePlan:
        """Device and precision; chosen at first use when the engine was made without one."""
        if self._plan is None:
            self._plan = choose_device()
        return self._plan

    def set_memory_mode(self, name: str) -> None:
        """Use memory mode ``name`` from the next job on (it is applied when that job starts).

        Raises ``InvalidRequest`` for an unknown mode or one the device cannot use."""
        memory_plan_for_mode(name, self._plan.device if self._plan else None)
        self._memory_mode = name

    def has_model(self, ref: str) -> bool:
        """Whether ``ref`` is the model already loaded (a job on it starts without loading)."""
        return self._model is not None and self._model.ref == (ref or "").strip()

    def model(self, ref: str) -> LoadedModel:
        """The loaded model for ``ref``, loading it (and dropping the previous one) if needed,
        placed on the device by the memory plan of a job at the pixel budget if it was not yet
        (each job re-plans for its own size, see ``memory_plan``)."""
        model = self._load(ref)
        if model.memory is None:
            side = self.budget_side(model)
            use_memory_plan(model, self.memory_plan(model, side, side), model.base)
        return model

    def release_model(self) -> None:
        """Drop the loaded model and its timeline (a training job needs the memory)."""
        self._model, self.timeline = None, None

    def _load(self, ref: str) -> LoadedModel:
        """The model for ``ref`` as loaded, placed or not (a new one waits in system memory:
        offloading starts from there, and the job's attempt places it, out-of-memory retry included)."""
        if not self.has_model(ref):
            self._model = None  # free the old weights before loading new ones
            self._model = load_model(ref, self.device_plan, memory=None)
        return self._model

    def budget_side(self, model: LoadedModel) -> int:
        """Side in px of the square pixel budget image modes generate at on ``model``."""
        return self._budget_side_px or budget_side_px(model.family)

    def memory_plan(self, model: LoadedModel, width_px: int, height_px: int) -> MemoryPlan:
        """The memory plan a width_px × height_px generation on ``model`` runs in normally: the
        fixed mode, or for "auto" ``auto_memory_plan`` with the device's memory now."""
        fixed = memory_plan_for_mode(self._memory_mode, model.plan.device)
        if fixed is not None:
            return fixed
        free_bytes, total_bytes = memory_budget(model.plan.device)
        return auto_memory_plan(free_bytes, total_bytes, model.family, width_px, height_px, model.plan.dtype,
                                device=model.plan.device, weights_bytes=model.weights_bytes)

    def run(self, request: GenerationRequest, on_step: OnStep, cancel: threading.Event) -> JobFinished | JobCancelled:
        """Generate ``request``; call ``on_step`` with JobStarted, then a StepPreview per real step.

        Inpaint runs one pipeline call per window of ``inference.restore.regions.plan_windows`` (one
        window, the whole image, for an image within the pixel budget); steps and previews count
        across windows. Returns JobFinished (image H×W×3 uint8 at the request's size) or
        JobCancelled when ``cancel`` was set: the run stops at the next step boundary — or,
        inside a long step, at the next UNet block — and never decodes.
        Out of memory: the job runs once more in a lighter memory plan, for this job only,
        after a JobNotice (progress then starts over with a new JobStarted) and JobFinished
        carries the notice. Raises KilnError for user-fixable problems, ``OutOfMemory`` among
        them when the retry runs out of memory too.
        """
        # 1. The model, its LoRAs, and the memory plan for this size
        model = self._load(request.model_ref)
        apply_loras(model, request.loras)
        budget = self.budget_side(model)
        width_px, height_px = request.width_px, request.height_px
        if request.mode is not Mode.TXT2IMG and width_px * height_px > budget * budget:
            width_px, height_px = generation_size(width_px, height_px, budget)  # what a window or image runs at
        normal = self.memory_plan(model, width_px, height_px)

        # 2. Generate; on out-of-memory once more, lighter
        def attempt(memory: MemoryPlan) -> JobFinished | JobCancelled:
            return self._run_once(request, model, memory, on_step, cancel)

        def notify(message: str) -> None:
            on_step(JobNotice(request.job_id, message))

        final, notice = run_with_memory_fallback(attempt, normal, model.plan.device, notify)
        if notice is not None and isinstance(final, JobFinished):
            final = dataclasses.replace(final, notice=notice)
        return final

    def _run_once(self, request: GenerationRequest, model: LoadedModel, memory: MemoryPlan, on_step: OnStep,
                  cancel: threading.Event) -> JobFinished | JobCancelled:
        """One attempt at ``request`` with ``model`` placed by ``memory``."""
        # 1. Pipeline, memory plan, and the plan of windows and their real step count for inpaint
        # A branch continues any image mode in the text-to-image loop (the same after the first step)
        pipe = model.pipeline_for(Mode.TXT2IMG if request.branch_from else request.mode)
        use_memory_plan(model, memory, pipe)
        budget = self.budget_side(model)
        windows, total_steps = None, None  # txt2img/img2img: the total comes from the pipeline
        work = colour_work_size(request, budget)  # a big scan to colourise: its working size
        if request.mode is Mode.INPAINT:
            windows = plan_windows(np.asarray(request.mask), budget, request.mask_feather_px)
            scratch = make_scheduler(request.scheduler, model.base.scheduler)
            total_steps = sum(not w.heal for w in windows) * real_step_count(scratch, request)
        elif request.detail:
            tiles = plan_detail_tiles(request.image.shape[1], request.image.shape[0], budget)
            total_steps = len(tiles) * real_step_count(make_scheduler(request.scheduler, model.base.scheduler), request)
        elif work is not None:
            tiles, scratch = plan_colour_windows(work, budget), make_scheduler(request.scheduler, model.base.scheduler)
            total_steps = (real_step_count(scratch, request)
                           + len(tiles) * real_step_count(scratch, window_request(request)))
        progress = StepProgress(request, on_step, LatentPreviewer(model.family), total_steps)

        def check_cancel() -> None:
            if cancel.is_set():
                raise _Cancelled

        # 2. Denoise and decode: one call, or one per window composited into the photo
        try:
            check_cancel()
            if windows is not None:

                def generate(image, mask, seed, box):
                    kwargs = _pipeline_inputs(request, model, image.size, image, mask, seed)
                    return _denoise(pipe, kwargs, request.scheduler, model, progress, cancel, box)

                image = inpaint_in_windows(request, windows, generate, check_cancel, _learned_fill(request))
            elif request.detail or work is not None:
                tile_request = request if request.detail else window_request(request)
                full = (np.asarray(request.image).shape[1], np.asarray(request.image).shape[0])

                def generate_tile(image, seed, box):
                    size = (max(8, image.width // 8 * 8), max(8, image.height // 8 * 8))
                    kwargs = _pipeline_inputs(tile_request, model, size, image.resize(size, Image.LANCZOS), None, seed)
                    shown = box if work is None else to_picture_box(box, work, full)
                    return _denoise(pipe, kwargs, request.scheduler, model, progress, cancel, shown)

                def colour_whole(work_image):
                    whole = dataclasses.replace(request, image=work_image, luminance=None, width_px=work[0],
                                                height_px=work[1])
                    return self._run_whole(whole, model, pipe, budget, progress, cancel)[0]

                if request.detail:
                    image = add_detail_in_tiles(request.image, tiles, generate_tile, check_cancel, request.seed)
                else:
                    image = colorize_in_windows(request, work, tiles, colour_whole, generate_tile, check_cancel)
                    self.timeline = None  # windows cannot be branched from one step
            else:
                image, timeline = self._run_whole(request, model, pipe, budget, progress, cancel)
                self.timeline = timeline
        except _Cancelled:
            return JobCancelled(request.job_id, progress.step)
        return JobFinished(request.job_id, image, request.seed, progress.elapsed_s())

    def _run_whole(self, request, model, pipe, budget: int, progress: StepProgress, cancel) -> tuple[np.ndarray, Timeline | None]:
        """txt2img / img2img: one call at the request's size (image modes: at most the pixel
        budget), scaled back to the request's size; H×W×3 uint8, and the call's timeline (None
        for inpainting models, whose pipeline cannot resume mid-schedule)."""
        # 1. Where to start: noise or the image (scaled to the budget), or a branch's step
        size = (request.width_px // 8 * 8, request.height_px // 8 * 8)
        gray = request.image is not None and not request.colorize and is_grayscale(request.image)
        scheduler, recorder = None, None
        if request.branch_from is not None:
            source, step = branch_source(self.timeline, request.branch_from, model.inpainting)
            fresh = make_scheduler(source.scheduler_name, model.base.scheduler)
            start = branch_start(source, step, request.seed, fresh, model.plan.device, model.plan.dtype)
            scheduler, size, gray = start.scheduler, start.size, source.gray
            as_txt2img = dataclasses.replace(request, mode=Mode.TXT2IMG, image=None, branch_from=None,
                                             width_px=size[0], height_px=size[1], steps=source.steps)
            kwargs = _pipeline_inputs(as_txt2img, model, size, None, None, request.seed)
            kwargs["latents"] = start.latents
            recorder = TimelineRecorder(request.job_id, request.seed, source.scheduler_name, source.steps, size, gray,
                                        source, step)
        else:
            image = None
            if request.image is not None:
                size = image_size(request.width_px, request.height_px, budget)
                image = Image.fromarray(np.asarray(request.image))
                if image.size != size:
                    image = image.resize(size, Image.LANCZOS)
            kwargs = _pipeline_inputs(request, model, size, image, None, request.seed)
            if not model.inpainting:
                recorder = TimelineRecorder(request.job_id, request.seed, request.scheduler, request.steps, size, gray)
        # 2. Denoise, keeping every step's state for branching
        result = _denoise(pipe, kwargs, request.scheduler, model, progress, cancel, None, scheduler, recorder)
        if request.luminance is not None:  # colourising: the model's colours, the scan's own luminance
            return transfer_chroma(request.luminance, result), None if recorder is None else recorder.timeline
        if result.shape[:2] != (request.height_px, request.width_px):
            result = np.array(Image.fromarray(result).resize((request.width_px, request.height_px), Image.LANCZOS))
        if gray:
            result = to_gray(result)
        return result, None if recorder is None else recorder.timeline

    def forward_view(self, request: ForwardViewRequest) -> ForwardViewReady:
        """The picture noised to the level image-to-image at ``request.strength`` starts from,
        on the request's model (loaded if needed) with its scheduler, at most the pixel budget
        (``inference.engine.forward.forward_view``). Raises KilnError for a model that cannot load or
        an unknown scheduler. Leaves the branching timeline alone."""
        model = self.model(request.model_ref)
        scheduler = make_scheduler(request.scheduler, model.base.scheduler)
        view = forward_diffusion.forward_view(model.base, np.asarray(request.image), request.strength, request.steps,
                                              request.seed, self.budget_side(model), scheduler)
        return ForwardViewReady(request.job_id, view.rgb, view.timestep, view.noise_fraction)


def _denoise(pipe, kwargs: dict, scheduler_name: str, model: LoadedModel, progress: StepProgress,
             cancel: threading.Event, box, scheduler=None, recorder: TimelineRecorder | None = None) -> np.ndarray:
    """One pipeline call with a fresh scheduler (or ``scheduler``, a branch's restored one),
    progress hooks and cancel hooks → h×w×3 uint8 at the generation size; ``recorder`` keeps
    each step's state. Raises _Cancelled (before any decode) when ``cancel`` is set."""
    # 1. A fresh scheduler per call (multistep schedulers keep state) with an x0 tap for previews
    scheduler = scheduler or make_scheduler(scheduler_name, model.base.scheduler)
    pipe.scheduler = scheduler
    tap = X0Tap(scheduler)

    # 2. Hooks: start/progress events, cancel between steps and inside them
    def before_unet(_module, _args):
        if cancel.is_set():
            raise _Cancelled
        progress.first_unet_call(pipe)

    def on_step_end(_pipe, i, t, tensors):
        last = i + 1 == pipe.num_timesteps
        if not was_provisional(scheduler):  # PNDM's first pass is redone by the next: not a step
            if recorder is not None:
                recorder.record(t, tensors["latents"], tap.x0, scheduler)
            progress.step_done(tap.x0 if tap.x0 is not None else tensors["latents"], last, box)
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
        with torch.inference_mode():
            result = pipe(**kwargs, callback_on_step_end=on_step_end, output_type="pil").images[0]
    finally:
        for handle in handles:
            handle.remove()
    return np.array(result.convert("RGB"))


def _pipeline_inputs(request: GenerationRequest, model: LoadedModel, size: tuple[int, int],
                     image: Image.Image | None, mask: Image.Image | None, seed: int) -> dict:
    """The keyword arguments for the diffusers pipeline call that serves ``request``.

    size: (width, height) generated, multiples of 8; image (RGB) and mask ("L") are already at
    ``size`` (mask only for inpaint, image only for the image modes); seed: the generator's.
    """
    w8, h8 = size
    steps = request.steps if request.mode is Mode.TXT2IMG else image_mode_steps(request)
    kwargs = dict(
        prompt=request.prompt,
        negative_prompt=request.negative_prompt or None,
        num_inference_steps=steps,
        guidance_scale=request.guidance,
        generator=torch.Generator("cpu").manual_seed(seed),
        width=w8,
        height=h8,
    )
    strength = request.strength
    if request.mode is not Mode.INPAINT and model.inpainting:
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


def run_job(engine: Engine, request: GenerationRequest | ForwardViewRequest, emit: Callable[[Event], None],
            cancel: threading.Event) -> Event:
    """Run ``request`` and emit every event, ending with exactly one terminal event.

    A ``ForwardViewRequest`` runs ``Engine.forward_view`` (terminal: ForwardViewReady; it ignores
    ``cancel``: it takes one VAE encode and decode). The thread boundary: no exception escapes.
    A ``KilnError`` becomes JobFailed with its message; anything else is logged with its
    traceback and reported by type.
    """
    try:
        if isinstance(request, ForwardViewRequest):
            final = engine.forward_view(request)
        else:
            final = engine.run(request, emit, cancel)
    except KilnError as exc:
        final = JobFailed(request.job_id, str(exc))
    except torch.OutOfMemoryError:  # outside the retry (e.g. while loading): no lighter plan to try
        final = JobFailed(
            request.job_id,
            "the GPU ran out of memory: try a smaller size, a lighter memory mode, or close other GPU programs.",
        )
    except Exception as exc:  # the worker must survive any bug to run the next job
        log.exception("generation %s failed", request.job_id)
        final = JobFailed(request.job_id, f"generation failed ({type(exc).__name__}: {exc}).")
    emit(final)
    return final


def _learned_fill(request: GenerationRequest):
    """The learned pre-fill of ``prefill="fill"`` (crop, mask → crop), or None."""
    if request.prefill != "fill":
        return None
    from inference.restoration_models.fill import fill_window
    from inference.restoration_models.jobs import model_for
    from inference.restoration_models.model_file import require_kind

    model = model_for(request.fill_model)
    require_kind(model, "fill", "The fill pre-fill")
    return lambda crop, mask: fill_window(model, crop, mask, str(model.device))
