"""The denoising timeline: the state after every step of the last generation, to branch from.

While a text-to-image or image-to-image job denoises, ``TimelineRecorder`` keeps, after each
step k, the latents, the predicted clean latents (x0) and the scheduler's own state (step index,
multistep history). ``branch_start`` turns step k back into a starting point:

* same seed: the latents and scheduler state exactly as they were, so continuing with the same
  prompt reproduces the original result bit for bit (deterministic schedulers);
* another seed: the step's predicted picture x0 noised again to the same level with the new
  seed's noise, so the composition decided so far stays and everything after step k differs.

diffusers pipelines always start from their first timestep; the engine resumes them by handing
the pipeline the restored scheduler, which answers its ``set_timesteps`` with the remaining
timesteps (see ``_resume_in_pipeline``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import torch

from inference.core.errors import InvalidRequest


@dataclass
class StepState:
    """After one step: latents and x0 (1×4×h×w, CPU float32 copies) and the scheduler's
    attributes (deep-copied; tensors in them stay on their device)."""

    latents: torch.Tensor
    x0: torch.Tensor | None
    scheduler_state: dict


@dataclass
class Timeline:
    """One job's steps, to branch from.

    job_id, seed, scheduler_name, steps: the job's; size: (width, height) in px the pipeline ran
    at; gray: its result was kept grayscale; timesteps: every timestep the pipeline iterated, in
    order (for a branch: its source's first k, then its own); steps_state: the state after each.
    """

    job_id: int
    seed: int
    scheduler_name: str
    steps: int
    size: tuple[int, int]
    gray: bool
    timesteps: list = field(default_factory=list)
    steps_state: list[StepState] = field(default_factory=list)


class TimelineRecorder:
    """Records a job's ``Timeline`` from the pipeline's step-end callback.

    ``record(t, latents, x0, scheduler)`` after every step; ``scheduler.step`` may be wrapped on
    the instance (previews do that): instance attributes that are callables are not state and
    are left out of the copy. A branch starts with its source ``prefix``'s first ``prefix_steps``.
    """

    def __init__(self, job_id: int, seed: int, scheduler_name: str, steps: int, size: tuple[int, int], gray: bool,
                 prefix: Timeline | None = None, prefix_steps: int = 0):
        self.timeline = Timeline(job_id, seed, scheduler_name, steps, size, gray)
        if prefix is not None:
            self.timeline.timesteps = prefix.timesteps[:prefix_steps]
            self.timeline.steps_state = prefix.steps_state[:prefix_steps]

    def record(self, t, latents: torch.Tensor, x0: torch.Tensor | None, scheduler) -> None:
        state = {k: v for k, v in vars(scheduler).items() if not callable(v)}
        self.timeline.timesteps.append(t)
        self.timeline.steps_state.append(StepState(
            latents.detach().to("cpu", torch.float32, copy=True),
            None if x0 is None else x0.detach().to("cpu", torch.float32, copy=True),
            copy.deepcopy(state),
        ))


@dataclass
class BranchStart:
    """Where a branch starts: latents to hand the pipeline as they are, the restored scheduler
    whose ``set_timesteps`` yields ``remaining``, and the pipeline's size."""

    latents: torch.Tensor
    scheduler: object
    remaining: list
    size: tuple[int, int]


def branch_start(timeline: Timeline, step: int, seed: int, fresh_scheduler, device, dtype) -> BranchStart:
    """The starting point of a branch after ``step`` (1 … len(steps) − 1) of ``timeline``.

    fresh_scheduler: a new scheduler of the job's class and config (the state is poured into
    it). Raises ``InvalidRequest`` for a step outside the timeline.
    """
    if not 1 <= step < len(timeline.steps_state):
        raise InvalidRequest(f"can only branch after steps 1 to {len(timeline.steps_state) - 1} of that result, got {step}.")
    state = timeline.steps_state[step - 1]
    scheduler = fresh_scheduler
    scheduler.__dict__.update(copy.deepcopy(state.scheduler_state))
    remaining = timeline.timesteps[step:]  # one recorded step per timestep the pipeline iterates
    latents = state.latents
    if seed != timeline.seed:
        if state.x0 is None:
            raise InvalidRequest("this scheduler does not predict the picture at each step, so a branch needs the original seed.")
        noise = torch.randn(state.x0.shape, generator=torch.Generator("cpu").manual_seed(seed))
        latents = scheduler.add_noise(state.x0, noise, torch.as_tensor([remaining[0]]))
    _resume_in_pipeline(scheduler, remaining)
    latents = latents.to(device, dtype)
    return BranchStart(latents, scheduler, remaining, timeline.size)


def _resume_in_pipeline(scheduler, remaining: list) -> None:
    """Patch this scheduler instance so a pipeline runs only the ``remaining`` timesteps: asked
    for its schedule it answers with them; at its first step it gets its whole schedule back,
    because schedulers index their arrays by step and compare that index with the schedule's
    length (DPM-Solver's last lower-order steps, its look-back at the previous sigma)."""
    full = scheduler.timesteps
    original_step = scheduler.step
    # The pipeline multiplies given latents by init_noise_sigma (σ_max on Euler-type schedulers)
    # as if they were unit noise; these are a mid-schedule state already: a subclass of this one
    # instance says 1, so the latents pass through untouched (x / σ · σ is not exact in floats).
    cls = type(scheduler)
    scheduler.__class__ = type(cls.__name__, (cls,), {"init_noise_sigma": 1.0})

    def set_timesteps(*_args, **_kwargs):
        scheduler.timesteps = torch.as_tensor(remaining)

    def step(*args, **kwargs):
        scheduler.timesteps = full
        return original_step(*args, **kwargs)

    scheduler.set_timesteps, scheduler.step = set_timesteps, step


def branch_source(timeline: Timeline | None, branch_from: tuple[int, int], inpainting: bool) -> tuple[Timeline, int]:
    """The timeline and step a ``branch_from`` (job id, step) request continues. Raises
    InvalidRequest when the source job is not the engine's last text-to-image or image-to-image
    result (``timeline``) of an ordinary (not ``inpainting``) model."""
    from inference.core.errors import InvalidRequest

    job_id, step = branch_from
    if timeline is None or timeline.job_id != job_id or inpainting:
        raise InvalidRequest("that result can no longer be branched: only the last text-to-image or "
                             "image-to-image result of an ordinary (not inpainting) model can.")
    return timeline, step
