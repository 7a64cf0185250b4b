"""The generation settings the panel edits, and turning them plus a document into a request.

``GenerationParams`` is the panel's model: each widget writes one field when it changes, and
the controller reads a copy when the user presses Generate — no slot reads several widgets. It
is observable per field (``watch``): whoever changes a field (a reopened project, parameters
read from a PNG, the fast preset, New blank canvas), the widgets bound to it show the new value.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass, field, fields, replace

import numpy as np

from inference.core.api import DEFAULT_SCHEDULER, GenerationRequest, Mode
from inference.core.errors import InvalidRequest

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
    prefill_fill: bool = False  # fill under the mask with the learned fill model first (instead of Heal)
    fill_model: str = ""  # that model's file: File → Models… → Restoration's choice for Fill
    loras: list = field(default_factory=list)  # [[path, weight], …]: .safetensors LoRAs to apply

    def copy(self) -> GenerationParams:
        """The values only: a copy has no watchers."""
        return replace(self, loras=[list(pair) for pair in self.loras])

    def watch(self, name: str, callback) -> None:
        """Call ``callback(value)`` whenever field ``name`` is set to a different value (assign a
        new list to ``loras``; changing the list in place is not seen). Raises ValueError for a
        name that is not a field."""
        if name not in _FIELD_NAMES:
            raise ValueError(f"GenerationParams has no field '{name}'.")
        self.__dict__.setdefault("_watchers", {}).setdefault(name, []).append(callback)

    def __setattr__(self, name: str, value) -> None:
        old = self.__dict__.get(name, _UNSET)
        object.__setattr__(self, name, value)
        if old is not _UNSET and old != value:
            for callback in list(self.__dict__.get("_watchers", {}).get(name, ())):
                callback(value)


_UNSET = object()
_FIELD_NAMES = frozenset(f.name for f in fields(GenerationParams))


def params_from_values(values: dict) -> GenerationParams:
    """Parameters from stored values (QSettings strings, or a project's JSON): each field is
    converted to its type; a missing or damaged one keeps its default."""
    params = GenerationParams()
    for f in fields(GenerationParams):
        value = values.get(f.name)
        if value is None:
            continue
        try:
            if f.name == "loras":
                value = [[str(p), float(w)] for p, w in (json.loads(value) if isinstance(value, str) else value)]
            elif f.type in ("bool", bool):
                value = value if isinstance(value, bool) else str(value).lower() == "true"
            elif f.type in ("int", int):
                value = int(value)
            elif f.type in ("float", float):
                value = float(value)
            else:
                value = str(value)
            setattr(params, f.name, value)
        except (TypeError, ValueError):  # json.JSONDecodeError is a ValueError
            continue
    return params


def mode_for(is_blank: bool, has_mask: bool, has_paint: bool = False) -> Mode:
    """The mode the document implies. A picture — a photo, or a blank canvas with visible paint —
    with a painted mask → inpaint; a picture → image-to-image (from a sketch when the paint is
    what makes it one); a blank canvas → text-to-image."""
    has_picture = not is_blank or has_paint
    if has_mask and has_picture:
        return Mode.INPAINT
    return Mode.IMG2IMG if has_picture else Mode.TXT2IMG


MODE_LABELS = {
    Mode.INPAINT: "Inpaint — regenerates the masked area",
    Mode.IMG2IMG: "Image to image — reworks the whole picture",
    Mode.TXT2IMG: "Text to image — a new picture from the prompt",
}
SKETCH_LABEL = "Sketch to image — turns the picture with your paint into an image"


def mode_label(mode: Mode, sketch: bool) -> str:
    """The mode line's text; ``sketch``: visible paint is part of the request's image."""
    if sketch and mode is Mode.IMG2IMG:
        return SKETCH_LABEL
    if sketch and mode is Mode.INPAINT:
        return "Inpaint — regenerates the masked area, guided by your paint"
    return MODE_LABELS[mode]


def effective_steps(steps: int, strength: float) -> int:
    """The step count an image-mode request asks for: ``steps`` raised where needed so that
    int(steps × strength) ≥ 1, since img2img runs only the last ⌊steps × strength⌋ steps and
    a low strength would otherwise round that down to none. A strength ≤ 0 returns ``steps``
    unchanged (the request refuses it with a message)."""
    if strength <= 0:
        return steps
    raised = max(steps, math.ceil(1.0 / strength))
    while int(raised * strength) < 1:  # float rounding at the boundary
        raised += 1
    return raised


def denoising_steps(steps: int, strength: float, mode: Mode) -> int:
    """About how many denoising steps a request of ``mode`` runs (the pipeline may add a few
    for higher-order schedulers): all of them for text-to-image, ⌊effective × strength⌋ otherwise."""
    if mode is Mode.TXT2IMG:
        return steps
    return int(effective_steps(steps, strength) * strength)


def build_request(job_id: int, params: GenerationParams, image: np.ndarray, mask: np.ndarray,
                  is_blank: bool, has_paint: bool = False) -> GenerationRequest:
    """A frozen request from a snapshot of the document and the panel's params.

    image: H×W×3 uint8 — the picture as shown, visible paint included (``Document.composite``);
    mask: H×W uint8 (both copied by the request); has_paint: whether visible paint is in
    ``image`` (it makes a blank canvas a picture to work from). Image modes ask for
    ``effective_steps`` steps. A random seed is drawn here when ``params.random_seed`` is set,
    so the request (and the result) records the seed used. Raises ``InvalidRequest`` with a
    message for the user.
    """
    mode = mode_for(is_blank, bool(mask.any()), has_paint)
    seed = secrets.randbelow(SEED_MAX + 1) if params.random_seed else params.seed
    steps = params.steps if mode is Mode.TXT2IMG else effective_steps(params.steps, params.strength)
    common = dict(
        job_id=job_id, mode=mode, prompt=params.prompt, model_ref=params.model_ref,
        negative_prompt=params.negative_prompt, steps=steps, guidance=params.guidance,
        strength=params.strength, seed=seed, scheduler=params.scheduler,
        loras=tuple((path, weight) for path, weight in params.loras),
    )
    if mode is not Mode.TXT2IMG:
        common["colorize"] = params.colorize
    if mode is Mode.INPAINT and params.prefill_fill:
        if not params.fill_model:
            raise InvalidRequest("Pre-fill with Fill hole needs a fill model: choose one in File → Models… → "
                                 "Restoration (Use for Fill), or untick the pre-fill.")
        common["prefill"], common["fill_model"] = "fill", params.fill_model
    elif mode is Mode.INPAINT and params.prefill_heal:
        common["prefill"] = "heal"
    if mode is Mode.TXT2IMG:
        return GenerationRequest(**common, width_px=params.width_px, height_px=params.height_px)
    return GenerationRequest(**common, image=image, mask=mask if mode is Mode.INPAINT else None)
