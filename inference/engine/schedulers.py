"""Scheduler names a person picks, mapped to diffusers scheduler classes and options.

The names import nothing heavy (the GUI lists them before torch loads); diffusers is imported
when a scheduler is made.
"""

from __future__ import annotations

from inference.core.api import DEFAULT_SCHEDULER
from inference.core.errors import InvalidRequest

# name → (diffusers class name, extra config). Names follow what people know from other tools.
SCHEDULERS: dict[str, tuple[str, dict]] = {
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "heun": ("HeunDiscreteScheduler", {}),
    "dpm++_2m": ("DPMSolverMultistepScheduler", {}),
    "dpm++_2m_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "dpm++_sde_karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True, "algorithm_type": "sde-dpmsolver++"}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}


def scheduler_names() -> list[str]:
    return [DEFAULT_SCHEDULER, *SCHEDULERS]


def make_scheduler(name: str, base):
    """A fresh scheduler ``name`` configured from the model's own scheduler ``base``.

    "default" keeps the model's scheduler class. Raises ``InvalidRequest`` for unknown names.
    A fresh object per job: schedulers hold per-run state (step index, model-output history).
    """
    import diffusers

    if name == DEFAULT_SCHEDULER:
        return type(base).from_config(base.config)
    try:
        cls_name, extra = SCHEDULERS[name]
    except KeyError:
        known = ", ".join(scheduler_names())
        raise InvalidRequest(f"unknown scheduler '{name}'. Choose one of: {known}.") from None
    return getattr(diffusers, cls_name).from_config(base.config, **extra)
