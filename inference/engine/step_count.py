"""One step count for a job, the same in the panel, the progress bar, the timeline and the CLI.

A *step* is what the person asked for: ``--steps 20`` is 20 steps for text-to-image; the image
modes run the last ⌊steps × strength⌋ of them. diffusers counts something else, the model
passes of its loop (``pipe.num_timesteps``), and two samplers make more passes than steps:

* PNDM (the default sampler of most SD 1.5 models) makes its first step twice: a provisional
  pass, then the same step again with the average of both predictions. The provisional pass is
  not a step: no progress, no preview and no timeline frame for it, so 20 steps show as 20.
* Heun makes two passes per step (one for the last step): 20 steps are 39 passes. Each pass is
  a point of the timeline one can branch from, so Heun's progress counts passes, and where the
  count is shown it says so (``passes_note``).

Light module (no torch, no diffusers import): the GUI uses the rule before a model is loaded.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from inference.core.api import GenerationRequest, JobStarted, Mode, StepPreview

# Samplers that make two model passes per step, by the name a person picks.
TWO_PASS_SCHEDULERS = {"heun"}


def passes_for(scheduler_name: str, steps: int) -> int:
    """The progress count of ``steps`` steps with the sampler ``scheduler_name`` (a name of
    ``inference.engine.schedulers``): 2 × steps − 1 for two-pass samplers, else ``steps``. The model's
    own sampler ("default") counts as one pass per step here: its progress note says otherwise."""
    return 2 * steps - 1 if scheduler_name in TWO_PASS_SCHEDULERS and steps > 0 else steps


def passes_note(scheduler: str, steps: int, passes: int) -> str | None:
    """Why a progress count of ``passes`` is not ``steps`` (None when they agree); ``scheduler``:
    the sampler's name or class name ("heun", "HeunDiscreteScheduler"; "default": the model's)."""
    if passes == steps:
        return None
    if scheduler.lower().startswith("heun"):
        return f"{passes} model passes for {steps} steps: the Heun sampler evaluates the model twice per step."
    who = "the model's sampler" if scheduler == "default" else f"the {scheduler} sampler"
    return f"{passes} model passes for {steps} steps: {who} makes more than one pass per step."


def image_mode_steps(request: GenerationRequest) -> int:
    """The step count an image-mode pipeline call is asked for: image modes run about steps ×
    strength steps; never let that round down to zero."""
    return max(request.steps, math.ceil(1.0 / request.strength))


def planned_steps(request: GenerationRequest) -> int:
    """The steps one pipeline call of ``request`` runs: all of them for text-to-image (and a
    branch), the last ⌊steps × strength⌋ for the image modes (per window for inpainting)."""
    if request.mode is Mode.TXT2IMG or request.branch_from is not None:
        return request.steps
    steps = image_mode_steps(request)
    return min(int(steps * request.strength), steps)


def provisional_passes(scheduler) -> int:
    """Model passes of a pipeline call with this (fresh or resumed) ``scheduler`` that are not
    steps: 1 for a PNDM scheduler in its usual PLMS mode that has not yet made its first pass."""
    return int(_is_plms(scheduler) and scheduler.counter == 0)


def was_provisional(scheduler) -> bool:
    """After ``scheduler.step``: whether that pass was PNDM's provisional first one (the next
    pass makes the same step again)."""
    return _is_plms(scheduler) and scheduler.counter == 1


def _is_plms(scheduler) -> bool:
    return type(scheduler).__name__.startswith("PNDM") and bool(scheduler.config.get("skip_prk_steps", False))


def real_step_count(scheduler, request: GenerationRequest) -> int:
    """The steps an image-mode pipeline call of ``request`` reports, known before running it
    (diffusers' rule: ``get_timesteps`` keeps the last ⌊steps × strength⌋ steps of the
    schedule, times the scheduler's order; less PNDM's provisional pass); ``scheduler`` is a
    scratch instance."""
    steps = image_mode_steps(request)
    scheduler.set_timesteps(steps, device="cpu")
    init_steps = min(int(steps * request.strength), steps)
    t_start = max(steps - init_steps, 0)
    return len(scheduler.timesteps[t_start * scheduler.order :]) - provisional_passes(scheduler)


class StepProgress:
    """Job-wide progress across one or more pipeline calls: JobStarted once, then one StepPreview
    per step with ``step`` counting 1..total over every call of the job.

    total_steps: known in advance for multi-call jobs (inpaint windows); ``None`` → taken from
    the first pipeline's ``num_timesteps`` (less a provisional pass) when its first step starts.
    previewer: turns latents into a preview (``inference.engine.previews.LatentPreviewer``).
    """

    def __init__(self, request: GenerationRequest, on_step: Callable, previewer, total_steps: int | None):
        self.request, self.on_step, self.previewer = request, on_step, previewer
        self.total = total_steps
        self.step = 0  # steps completed in this job
        self.t0 = 0.0

    def first_unet_call(self, pipe) -> None:
        if self.t0 == 0.0:
            self.t0 = time.perf_counter()
            if self.total is None:
                self.total = pipe.num_timesteps - provisional_passes(pipe.scheduler)
            self.on_step(JobStarted(self.request.job_id, self.total, self.request.width_px, self.request.height_px))

    def step_done(self, latents, last_of_call: bool, box) -> None:
        """After a step; ``latents``: 1×4×h×w, the predicted clean latents where known."""
        self.step += 1
        every, step = self.request.preview_every, self.step
        rgb = None
        # A window's last step always shows, so each window's final look is drawn in place.
        if every and (step % every == 0 or step == self.total or last_of_call):
            rgb = self.previewer.to_rgb(latents)
        self.on_step(StepPreview(self.request.job_id, step, self.total, rgb, self.elapsed_s(), box))

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.t0 if self.t0 else 0.0
