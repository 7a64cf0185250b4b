"""Model references → loaded pipelines, one set of weights shared by every mode.

A reference is one of:
  * a single ``.safetensors`` checkpoint (original key layout, as model sites distribute them),
  * a local diffusers folder (with ``model_index.json``),
  * a Hugging Face hub repo id such as ``stable-diffusion-v1-5/stable-diffusion-v1-5`` (read from
    the standard Hugging Face cache, downloaded there when the hub is reachable).
Weights are only ever read from safetensors: pickle files can run code when opened.
"""

from __future__ import annotations

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
from inference.errors import ModelError
from inference.model_ref import resolve_model_ref

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
    resolved = resolve_model_ref(ref)
    if resolved.kind == "file":
        from inference.single_file import load_single_file

        pipe, info = load_single_file(Path(resolved.value), plan.dtype)
        family, inpainting = info.family, info.inpainting
    else:
        load = _load_folder if resolved.kind == "folder" else _load_hub
        pipe = load(resolved.value, plan)
        family, inpainting = detect_family(pipe), pipe.unet.config.in_channels == 9

    # 2. Place on the device; keep SDXL's VAE out of fp16 overflow
    if vae_needs_fp32(family, plan.dtype):
        pipe.vae.register_to_config(force_upcast=True)
    pipe.to(plan.device)
    pipe.set_progress_bar_config(disable=True)
    return LoadedModel(ref=ref.strip(), base=pipe, family=family, inpainting=inpainting, plan=plan)


def _load_folder(path: str, plan: DevicePlan) -> DiffusionPipeline:
    try:
        return DiffusionPipeline.from_pretrained(path, dtype=plan.dtype, use_safetensors=True)
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
