"""Model references → loaded pipelines, one set of weights shared by every mode.

A reference is one of:
  * a single ``.safetensors`` checkpoint (original key layout, as model sites distribute them),
  * a local diffusers folder (with ``model_index.json``),
  * a Hugging Face hub repo id such as ``stable-diffusion-v1-5/stable-diffusion-v1-5`` (read from
    the standard Hugging Face cache, downloaded there when the hub is reachable).
Weights are only ever read from safetensors: pickle files can run code when opened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DiffusionPipeline,
)

from inference.api import Mode
from inference.devices import DevicePlan, choose_device, vae_needs_fp32
from inference.errors import ModelError, UnsafeCheckpoint

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
_PICKLE_WEIGHTS = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
_AUTO_PIPELINES = {
    Mode.TXT2IMG: AutoPipelineForText2Image,
    Mode.IMG2IMG: AutoPipelineForImage2Image,
    Mode.INPAINT: AutoPipelineForInpainting,
}


@dataclass
class LoadedModel:
    """One model's components on one device, and the pipelines derived from them.

    family: "sd1", "sd2" or "sdxl". inpainting: the UNet takes 9 input channels (image and
    mask as extra conditioning); such a model serves every mode through its inpainting
    pipeline (text-to-image and image-to-image as inpainting with a full mask).
    """

    ref: str
    base: DiffusionPipeline
    family: str
    inpainting: bool
    plan: DevicePlan
    _by_mode: dict = field(default_factory=dict, repr=False)

    def pipeline_for(self, mode: Mode) -> DiffusionPipeline:
        """The pipeline for ``mode``, derived with ``from_pipe`` (shares weights, ~1 ms, no reload)."""
        key = Mode.INPAINT if self.inpainting else mode
        if key not in self._by_mode:
            pipe = _AUTO_PIPELINES[key].from_pipe(self.base)
            pipe.set_progress_bar_config(disable=True)
            self._by_mode[key] = pipe
        return self._by_mode[key]


def detect_family(pipe: DiffusionPipeline) -> str:
    """"sdxl", "sd2" or "sd1", from the loaded components (not from names a user chose)."""
    if "XL" in type(pipe).__name__ or getattr(pipe, "text_encoder_2", None) is not None:
        return "sdxl"
    if pipe.unet.config.cross_attention_dim == 1024:
        return "sd2"
    return "sd1"


def load_model(ref: str, plan: DevicePlan | None = None) -> LoadedModel:
    """Load ``ref`` onto ``plan``'s device (the best one available when ``None``).

    Raises ``ModelError`` (or ``UnsafeCheckpoint``) with a message saying what to do when the
    reference is empty, missing, not a model, a pickle, or not in the cache while offline.
    """
    # 1. Resolve the reference and load on the CPU
    plan = plan or choose_device()
    ref = (ref or "").strip()
    if not ref:
        raise ModelError(
            "no model selected: pass --model with a hub id, a diffusers folder or a .safetensors file "
            "(or build a tiny test model with 'main.py make-test-model OUT')."
        )
    path = Path(ref).expanduser()
    if path.is_file():
        from inference.single_file import load_single_file

        pipe, info = load_single_file(path, plan.dtype)
        family, inpainting = info.family, info.inpainting
    elif path.is_dir():
        pipe = _load_folder(path, plan)
        family, inpainting = detect_family(pipe), pipe.unet.config.in_channels == 9
    elif _REPO_ID.match(ref) and not ref.lower().endswith((".safetensors", *_PICKLE_WEIGHTS)):
        pipe = _load_hub(ref, plan)
        family, inpainting = detect_family(pipe), pipe.unet.config.in_channels == 9
    else:
        raise ModelError(f"model '{ref}' not found: no such file or folder, and it is not a hub id like 'owner/name'.")

    # 2. Place on the device; keep SDXL's VAE out of fp16 overflow
    if vae_needs_fp32(family, plan.dtype):
        pipe.vae.register_to_config(force_upcast=True)
    pipe.to(plan.device)
    pipe.set_progress_bar_config(disable=True)
    return LoadedModel(ref=ref, base=pipe, family=family, inpainting=inpainting, plan=plan)


def _load_folder(path: Path, plan: DevicePlan) -> DiffusionPipeline:
    if not (path / "model_index.json").is_file():
        raise ModelError(f"'{path}' is a folder but not a diffusers model: it has no model_index.json.")
    weights = [p for p in path.rglob("*") if p.is_file()]
    if not any(p.suffix == ".safetensors" for p in weights) and any(p.suffix in _PICKLE_WEIGHTS for p in weights):
        raise UnsafeCheckpoint(
            f"'{path}' holds only pickle weights (.bin/.ckpt), which can run code when opened, so Kiln "
            "will not open them. Download the model's .safetensors version instead."
        )
    try:
        return DiffusionPipeline.from_pretrained(str(path), dtype=plan.dtype, use_safetensors=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"could not load the diffusers folder '{path}': {_first_line(exc)}") from exc


def _load_hub(repo_id: str, plan: DevicePlan) -> DiffusionPipeline:
    try:
        return DiffusionPipeline.from_pretrained(repo_id, dtype=plan.dtype, use_safetensors=True)
    except OSError as exc:
        raise ModelError(
            f"model '{repo_id}' is not in the local Hugging Face cache and could not be downloaded "
            f"({_first_line(exc)}). Check the name and your connection, or use a local folder or .safetensors file."
        ) from exc
    except ValueError as exc:
        raise ModelError(f"could not load '{repo_id}': {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
