"""The generation settings the panel edits, and turning them plus a document into a request.

``GenerationParams`` is the panel's model: each widget writes one field when it changes, and
the controller reads a copy when the user presses Generate — no slot reads several widgets.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, replace

import numpy as np

from inference.api import DEFAULT_SCHEDULER, GenerationRequest, Mode

SEED_MAX = 2**31 - 1  # what a QSpinBox can show


@dataclass
class GenerationParams:
    model_ref: str = ""
    prompt: str = ""
    negative_prompt: str = ""
    steps: int = 20
    guidance: float = 7.5
    strength: float = 0.75
    seed: int = 0
    random_seed: bool = True
    scheduler: str = DEFAULT_SCHEDULER
    width_px: int = 512
    height_px: int = 512
    colorize: bool = False  # False: grayscale photos stay grayscale
    prefill_heal: bool = False  # heal under the mask first (helps non-inpainting models)

    def copy(self) -> GenerationParams:
        return replace(self)


def mode_for(is_blank: bool, has_mask: bool) -> Mode:
    """The mode the document implies: a painted mask → inpaint; a photo → image-to-image;
    a blank canvas → text-to-image."""
    if has_mask and not is_blank:
        return Mode.INPAINT
    return Mode.TXT2IMG if is_blank else Mode.IMG2IMG


MODE_LABELS = {
    Mode.INPAINT: "Inpaint — regenerates the masked area",
    Mode.IMG2IMG: "Image to image — reworks the whole picture",
    Mode.TXT2IMG: "Text to image — a new picture from the prompt",
}


def build_request(job_id: int, params: GenerationParams, image: np.ndarray, mask: np.ndarray,
                  is_blank: bool) -> GenerationRequest:
    """A frozen request from a snapshot of the document and the panel's params.

    image: H×W×3 uint8, mask: H×W uint8 (copied by the request). A random seed is drawn here
    when ``params.random_seed`` is set, so the request (and the result) records the seed used.
    Raises ``InvalidRequest`` with a message for the user.
    """
    mode = mode_for(is_blank, bool(mask.any()))
    seed = secrets.randbelow(SEED_MAX + 1) if params.random_seed else params.seed
    common = dict(
        job_id=job_id, mode=mode, prompt=params.prompt, model_ref=params.model_ref,
        negative_prompt=params.negative_prompt, steps=params.steps, guidance=params.guidance,
        strength=params.strength, seed=seed, scheduler=params.scheduler,
    )
    if mode is not Mode.TXT2IMG:
        common["colorize"] = params.colorize
    if mode is Mode.INPAINT and params.prefill_heal:
        common["prefill"] = "heal"
    if mode is Mode.TXT2IMG:
        return GenerationRequest(**common, width_px=params.width_px, height_px=params.height_px)
    return GenerationRequest(**common, image=image, mask=mask if mode is Mode.INPAINT else None)
