"""The request one job needs and the events a job emits. numpy only: no torch, no Qt.

A ``GenerationRequest`` is frozen and owns private, read-only copies of its arrays, so it can
cross from the GUI thread to the worker without anyone mutating it underneath. Every event
carries the ``job_id`` of the request it belongs to, so a listener drops events of stale jobs.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from inference.core.errors import InvalidRequest

DEFAULT_SCHEDULER = "default"
MAX_SIDE_PX = 4096  # txt2img: the generated size itself
MAX_IMAGE_SIDE_PX = 30000  # img2img/inpaint: the photo's size (the engine generates at the model's budget)
PREFILL_METHODS = ("none", "heal", "fill")
DEFAULT_SENSITIVITY = 0.5  # damage detection (inference.restore.damage); here so the editor need not import it
LORA_WEIGHT_RANGE = (-2.0, 2.0)  # beyond this a LoRA overwhelms the model (noise, burnt colours)


class Mode(enum.Enum):
    TXT2IMG = "txt2img"
    IMG2IMG = "img2img"
    INPAINT = "inpaint"


def _frozen_copy(array: np.ndarray | None) -> np.ndarray | None:
    if array is None:
        return None
    copy = np.array(array, copy=True, order="C")
    copy.flags.writeable = False
    return copy


@dataclass(frozen=True)
class GenerationRequest:
    """Everything one generation job needs.

    Arrays:
      image: H×W×3 uint8 RGB, required for img2img and inpaint.
      mask:  H×W uint8, 0 = keep, 255 = regenerate (values in between are partial), required
             for inpaint; same H×W as ``image``.
    Sizes:
      width_px, height_px: output size. For txt2img they must be multiples of 8 and at most
      ``MAX_SIDE_PX``; for the image modes they are the image's size, any size up to
      ``MAX_IMAGE_SIDE_PX`` per side. img2img generates at the image's size rounded down to a
      multiple of 8, or — for an image larger than the model's pixel budget (about 512×512 px
      for SD1.x/SD2, 1024×1024 for SDXL) — at the budget with the image's aspect, then scales
      back to the image's size. Inpaint regenerates only windows around the masked regions,
      each at the budget, and leaves the rest of the photo byte for byte
      (see ``inference.restore.inpaint_windows``).
    Other fields:
      model_ref: the model to run (hub id, diffusers folder or .safetensors file).
      steps: denoising steps asked for (the pipeline may run a different real count, e.g.
             img2img runs about steps × strength; progress events carry the real total).
      guidance: classifier-free guidance scale (1 or less turns guidance off).
      strength: 0–1, how much of the input image is re-noised (image modes only).
      seed: 0 ≤ seed < 2**32; the same seed and parameters give the same pixels.
      scheduler: a name from ``inference.engine.schedulers.SCHEDULERS`` or "default" (the model's own).
      preview_every: a preview image every N steps (1 = every step, 0 = none); progress events
             arrive every step regardless.
      mask_feather_px: how far the inpainted result blends outward past the mask edge.
      colorize: image modes only. False (default): a grayscale input (R == G == B everywhere)
             gives grayscale output — the generated pixels are turned to luminance before they
             are composited. True: the model's colours are kept (colourising an old photo).
      luminance: image-to-image with ``colorize`` only: H×W uint8, the scan's own luminance. The
             result is then the model's colours (chroma) on this luminance at full resolution
             (``inference.restore.chroma``): colourising keeps every detail and tone of the scan.
      prefill: inpaint only. "none", "heal": a classical fill (``inference.restore.heal.heal``) of
             the masked pixels of each window before generation, so a normal (4-channel) model
             starts from plausible surroundings instead of the defect, or "fill": the learned fill
             model ``fill_model`` (a LaMa file) does that first fill.
      detail: image-to-image only. True: "add detail" — the picture is worked on in overlapping tiles
             at the model's budget side, at full resolution, instead of being shrunk to the budget
             (``inference.restoration_models.detail``); for enlarged pictures at low strength.
      loras: LoRA adapters to run with, as (path, weight) pairs: a .safetensors LoRA file that
             exists, each at most once, weight within ``LORA_WEIGHT_RANGE`` (1 = as trained,
             0 = no effect, negative = the opposite). The engine judges the file's content
             (a pickle is refused) when it loads it; see ``inference.models.lora``.
      branch_from: (job id, step k) of an earlier text-to-image or image-to-image job of the
             same engine (its last one): continue from that job's state after step k instead of
             from noise (``inference.engine.timeline``). The same seed and prompt reproduce that job's
             result; another seed keeps the picture formed so far and varies the rest.
             ``steps``/``scheduler``/size come from that job; ``prompt``, ``guidance`` and
             ``seed`` are this request's.
    Raises ``InvalidRequest`` with a message a person can act on when a field is out of range.
    """

    job_id: int
    mode: Mode
    prompt: str
    model_ref: str = ""
    negative_prompt: str = ""
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    mask: np.ndarray | None = field(default=None, repr=False, compare=False)
    width_px: int = 512
    height_px: int = 512
    steps: int = 20
    guidance: float = 7.5
    strength: float = 0.75
    seed: int = 0
    scheduler: str = DEFAULT_SCHEDULER
    preview_every: int = 1
    mask_feather_px: int = 8
    colorize: bool = False
    prefill: str = "none"
    fill_model: str = ""
    detail: bool = False
    loras: tuple[tuple[str, float], ...] = ()
    branch_from: tuple[int, int] | None = None
    luminance: np.ndarray | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", Mode(self.mode))
        object.__setattr__(self, "loras", _lora_pairs(self.loras))
        object.__setattr__(self, "image", _frozen_copy(self.image))
        object.__setattr__(self, "mask", _frozen_copy(self.mask))
        object.__setattr__(self, "luminance", _frozen_copy(self.luminance))
        if self.image is not None:
            object.__setattr__(self, "height_px", int(self.image.shape[0]))
            object.__setattr__(self, "width_px", int(self.image.shape[1]))
        self._validate()

    def _validate(self) -> None:
        # 1. Inputs the mode needs
        if self.mode in (Mode.IMG2IMG, Mode.INPAINT) and self.image is None:
            raise InvalidRequest(f"{self.mode.value} needs an input image.")
        if self.mode is Mode.INPAINT and self.mask is None:
            raise InvalidRequest("inpaint needs a mask: paint over the area to regenerate.")
        # 2. Array shapes and types
        if self.image is not None:
            if self.image.dtype != np.uint8 or self.image.ndim != 3 or self.image.shape[2] != 3:
                raise InvalidRequest(
                    f"the image must be H×W×3 uint8 RGB, got shape {self.image.shape} {self.image.dtype}."
                )
            if min(self.image.shape[:2]) < 8:
                raise InvalidRequest(f"the image is too small: {self.width_px}×{self.height_px}, at least 8×8 needed.")
        if self.detail and (self.mode is not Mode.IMG2IMG or self.luminance is not None or self.branch_from):
            raise InvalidRequest("adding detail is image-to-image over the whole picture, without colourising.")
        if self.luminance is not None:
            if self.mode is not Mode.IMG2IMG or not self.colorize:
                raise InvalidRequest("colourising onto the scan's luminance is image-to-image with colour on.")
            if self.luminance.dtype != np.uint8 or self.luminance.shape != self.image.shape[:2]:
                raise InvalidRequest(f"the luminance must be H×W uint8 like the image, got {self.luminance.shape} "
                                     f"{self.luminance.dtype}.")
        if self.mask is not None:
            if self.mask.dtype != np.uint8 or self.mask.ndim != 2:
                raise InvalidRequest(f"the mask must be H×W uint8, got shape {self.mask.shape} {self.mask.dtype}.")
            if self.image is not None and self.mask.shape != self.image.shape[:2]:
                mh, mw = self.mask.shape
                raise InvalidRequest(
                    f"the mask is {mw}×{mh} but the image is {self.width_px}×{self.height_px}: they must match."
                )
            if self.mode is Mode.INPAINT and not self.mask.any():
                raise InvalidRequest("the mask is empty: paint over the area to regenerate.")
        # 3. Sizes and ranges
        if self.mode is Mode.TXT2IMG and (self.width_px % 8 or self.height_px % 8):
            raise InvalidRequest(
                f"width and height must be multiples of 8, got {self.width_px}×{self.height_px}."
            )
        max_side_px = MAX_SIDE_PX if self.mode is Mode.TXT2IMG else MAX_IMAGE_SIDE_PX
        if not (8 <= self.width_px <= max_side_px and 8 <= self.height_px <= max_side_px):
            raise InvalidRequest(
                f"width and height must be between 8 and {max_side_px} px, got {self.width_px}×{self.height_px}."
            )
        if not 1 <= self.steps <= 500:
            raise InvalidRequest(f"steps must be between 1 and 500, got {self.steps}.")
        if not 0.0 <= self.guidance <= 30.0:
            raise InvalidRequest(f"guidance must be between 0 and 30, got {self.guidance}.")
        if not 0.0 < self.strength <= 1.0:
            raise InvalidRequest(f"strength must be above 0 and at most 1, got {self.strength}.")
        if not 0 <= self.seed < 2**32:
            raise InvalidRequest(f"seed must be between 0 and {2**32 - 1}, got {self.seed}.")
        if self.preview_every < 0:
            raise InvalidRequest(f"preview_every must be 0 (no previews) or more, got {self.preview_every}.")
        if self.mask_feather_px < 0:
            raise InvalidRequest(f"mask feather must be 0 px or more, got {self.mask_feather_px}.")
        if self.prefill not in PREFILL_METHODS:
            raise InvalidRequest(f"prefill must be one of {', '.join(PREFILL_METHODS)}, got '{self.prefill}'.")
        if self.prefill == "fill" and not self.fill_model:
            raise InvalidRequest("the 'fill' pre-fill needs a fill model: choose one in Models → Restoration.")
        if self.branch_from is not None:
            if self.mode is Mode.INPAINT:
                raise InvalidRequest("branching continues a text-to-image or image-to-image result, not an inpainting one.")
            if len(self.branch_from) != 2 or self.branch_from[1] < 1:
                raise InvalidRequest(f"branch_from must be (job id, step ≥ 1), got {self.branch_from!r}.")
        # 4. LoRAs
        low, high = LORA_WEIGHT_RANGE
        seen = set()
        for path, weight in self.loras:
            if not (math.isfinite(weight) and low <= weight <= high):
                raise InvalidRequest(f"the LoRA weight must be between {low:g} and {high:g}, got {weight:g} for '{path}'.")
            if not Path(path).is_file():
                raise InvalidRequest(f"the LoRA file '{path}' does not exist: check the path.")
            key = Path(path).resolve()
            if key in seen:
                raise InvalidRequest(f"the LoRA '{path}' is listed twice: give it once, with one weight.")
            seen.add(key)


def _lora_pairs(loras) -> tuple[tuple[str, float], ...]:
    """``loras`` as a tuple of (str path, float weight); InvalidRequest when it is not pairs."""
    try:
        return tuple((str(path), float(weight)) for path, weight in loras)
    except (TypeError, ValueError):
        raise InvalidRequest(f"loras must be (path, weight) pairs, got {loras!r}.") from None


@dataclass(frozen=True)
class ForwardViewRequest:
    """Show ``image`` noised to the level image-to-image at ``strength`` starts from
    (``inference.engine.forward``); answered by one ``ForwardViewReady`` (or ``JobFailed``).

    job_id: given by the job runner (``inference.core.jobs``), which numbers every kind of job
    from one counter and records its kind. model_ref: the model whose VAE and
    noise schedule are used. image: H×W×3 uint8 RGB (copied, read-only). strength: 0–1
    (0: the picture itself). steps: the img2img step count the level is chosen for, 1–500.
    seed: of the noise, 0 ≤ seed < 2**32. scheduler: as in ``GenerationRequest`` (its timesteps
    decide the level). Raises ``InvalidRequest`` when a field is out of range.
    """

    job_id: int
    model_ref: str
    image: np.ndarray = field(repr=False, compare=False)
    strength: float = 0.75
    steps: int = 20
    seed: int = 0
    scheduler: str = DEFAULT_SCHEDULER

    def __post_init__(self) -> None:
        object.__setattr__(self, "image", _frozen_copy(self.image))
        image = self.image
        if image is None or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            shape = None if image is None else f"{image.shape} {image.dtype}"
            raise InvalidRequest(f"the forward view needs an H×W×3 uint8 RGB picture, got {shape}.")
        if min(image.shape[:2]) < 8:
            raise InvalidRequest(f"the picture is too small: {image.shape[1]}×{image.shape[0]}, at least 8×8 needed.")
        if not 0.0 <= self.strength <= 1.0:
            raise InvalidRequest(f"strength must be between 0 and 1, got {self.strength}.")
        if not 1 <= self.steps <= 500:
            raise InvalidRequest(f"steps must be between 1 and 500, got {self.steps}.")
        if not 0 <= self.seed < 2**32:
            raise InvalidRequest(f"seed must be between 0 and {2**32 - 1}, got {self.seed}.")


# Events: every one carries the job id of its request.


@dataclass(frozen=True)
class JobStarted:
    job_id: int
    total_steps: int
    width_px: int
    height_px: int


@dataclass(frozen=True)
class StepPreview:
    """Progress after denoising step ``step`` (1-based) of ``total``.

    ``step`` and ``total`` count across the whole job: an inpaint job that runs several windows
    reports steps 1..total over all of them, ``total`` being the sum of the windows' real steps.
    rgb: h×w×3 uint8 at latent resolution (generation size / 8), a cheap approximation of the
    image this step would end in; ``None`` on steps skipped by the request's ``preview_every``.
    box: (x, y, width, height) in full-image pixels of the region ``rgb`` covers — stretch
    ``rgb`` over that rectangle to draw it in place (its aspect may differ by a few percent);
    ``None`` means the whole image. Inpaint jobs set it per window.
    elapsed_s: seconds since the job started denoising.
    """

    job_id: int
    step: int
    total: int
    rgb: np.ndarray | None = field(repr=False, compare=False)
    elapsed_s: float = 0.0
    box: tuple[int, int, int, int] | None = None


@dataclass(frozen=True)
class JobNotice:
    """Something a person should know about a running job that does not stop it, e.g. that
    it ran out of memory and is being retried in a lighter memory mode. Informational: the
    job's terminal event still follows. message: one or two sentences for the user."""

    job_id: int
    message: str


@dataclass(frozen=True)
class JobFinished:
    """image: H×W×3 uint8 at the request's size; ``seed`` is the seed that made it.

    notice: ``None``, or the JobNotice message of something that happened on the way (e.g. an
    out-of-memory retry in a lighter memory mode), for whoever missed the notice itself.
    """

    job_id: int
    image: np.ndarray = field(repr=False, compare=False)
    seed: int = 0
    elapsed_s: float = 0.0
    notice: str | None = None


@dataclass(frozen=True)
class JobCancelled:
    """The job stopped before its final decode; ``step`` is the last step that completed."""

    job_id: int
    step: int


@dataclass(frozen=True)
class JobFailed:
    """message: one or two sentences for the user."""

    job_id: int
    message: str


@dataclass(frozen=True)
class ForwardViewReady:
    """The answer to a ``ForwardViewRequest`` (terminal). rgb: h×w×3 uint8, the picture at
    most the model's pixel budget with its aspect, noised and decoded. timestep: the scheduler
    timestep shown (None at strength 0: the picture itself). noise_fraction: √(1 − ᾱ_t), 0–1."""

    job_id: int
    rgb: np.ndarray = field(repr=False, compare=False)
    timestep: int | None = None
    noise_fraction: float = 0.0


Event = JobStarted | StepPreview | JobNotice | JobFinished | JobCancelled | JobFailed | ForwardViewReady
