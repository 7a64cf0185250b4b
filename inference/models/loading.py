"""Model references → loaded pipelines, one set of weights shared by every mode.

A reference is one of:
  * a single ``.safetensors`` checkpoint (original key layout, as model sites distribute them),
  * a local diffusers folder (with ``model_index.json``),
  * a Hugging Face hub repo id such as ``stable-diffusion-v1-5/stable-diffusion-v1-5`` (read from
    the standard Hugging Face cache, downloaded there when the hub is reachable).
Weights are only ever read from safetensors: pickle files can run code when opened.

A model loads into system memory and is then placed on its device by a memory plan
(``inference.hardware.memory``): weights on the device, or offload hooks that move them there on demand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from diffusers import (
    AutoPipelineForImage2Image,
    AutoPipelineForInpainting,
    AutoPipelineForText2Image,
    DiffusionPipeline,
)

from inference.core.api import Mode
from inference.hardware.devices import DevicePlan, choose_device, vae_needs_fp32
from inference.core.errors import ModelError
from inference.models.hub_cache import snapshot_path, weights_variant
from inference.models.lora import AdapterSet
from inference.hardware.memory import NO_SAVINGS, MemoryPlan, use_memory_plan
from inference.models.model_ref import resolve_model_ref
from inference.models.quiet import quiet_loading_bars

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
    memory: the memory plan the weights are placed by (``inference.hardware.memory.use_memory_plan``
    keeps it); ``None`` while they are in system memory, not placed yet.
    weights_bytes: the size of every component's parameters, measured at load.
    loras: the LoRA adapters loaded into the shared modules (``inference.models.lora.apply_loras``).
    """

    ref: str
    base: DiffusionPipeline
    family: str
    inpainting: bool
    plan: DevicePlan
    memory: MemoryPlan | None = None
    weights_bytes: int = 0
    loras: AdapterSet = field(default_factory=AdapterSet, repr=False)
    _by_mode: dict = field(default_factory=dict, repr=False)

    def pipeline_for(self, mode: Mode) -> DiffusionPipeline:
        """The pipeline for ``mode``, derived with ``from_pipe`` (shares weights, ~1 ms, no reload)."""
        key = Mode.INPAINT if self.inpainting else mode
        if key not in self._by_mode:
            pipe = _AUTO_PIPELINES[key].from_pipe(self.base)
            pipe.set_progress_bar_config(disable=True)
            self._by_mode[key] = pipe
        return self._by_mode[key]

    def pipelines(self) -> list[DiffusionPipeline]:
        """The base pipeline and every pipeline derived from it so far (they share modules)."""
        return [self.base, *self._by_mode.values()]


def detect_family(pipe: DiffusionPipeline) -> str:
    """"sdxl", "sd2" or "sd1", from the loaded components (not from names a user chose)."""
    if "XL" in type(pipe).__name__ or getattr(pipe, "text_encoder_2", None) is not None:
        return "sdxl"
    if pipe.unet.config.cross_attention_dim == 1024:
        return "sd2"
    return "sd1"


def load_model(ref: str, plan: DevicePlan | None = None, memory: MemoryPlan | None = NO_SAVINGS) -> LoadedModel:
    """Load ``ref`` for ``plan``'s device (the best one available when ``None``) and place it
    there by ``memory``; ``memory=None`` leaves it in system memory for the caller to place
    with ``inference.hardware.memory.use_memory_plan`` (offloading must start from there).

    Raises ``ModelError`` (or ``UnsafeCheckpoint``) with a message saying what to do when the
    reference is empty, missing, not a model, a pickle, or not in the cache while offline.
    """
    # 1. Resolve the reference and load on the CPU, with no library progress bars on the terminal
    quiet_loading_bars()
    plan = plan or choose_device()
    resolved = resolve_model_ref(ref)
    if resolved.kind == "file":
        from inference.models.single_file import load_single_file

        pipe, info = load_single_file(Path(resolved.value), plan.dtype)
        family, inpainting = info.family, info.inpainting
    else:
        load = _load_folder if resolved.kind == "folder" else _load_hub
        pipe = load(resolved.value, plan)
        family, inpainting = detect_family(pipe), pipe.unet.config.in_channels == 9

    # 2. Keep SDXL's VAE out of fp16 overflow; place on the device unless the caller will
    if vae_needs_fp32(family, plan.dtype):
        pipe.vae.register_to_config(force_upcast=True)
    pipe.set_progress_bar_config(disable=True)
    model = LoadedModel(ref=ref.strip(), base=pipe, family=family, inpainting=inpainting, plan=plan,
                        weights_bytes=_weights_bytes(pipe))
    if memory is not None:
        use_memory_plan(model, memory, pipe)
    return model


def _weights_bytes(pipe: DiffusionPipeline) -> int:
    return sum(p.numel() * p.element_size() for module in pipe.components.values()
               if isinstance(module, torch.nn.Module) for p in module.parameters())


def _load_folder(path: str, plan: DevicePlan) -> DiffusionPipeline:
    check_folder_configs(Path(path))
    try:
        return DiffusionPipeline.from_pretrained(path, dtype=plan.dtype, use_safetensors=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"could not load the diffusers folder '{path}': {_first_line(exc)}") from exc


def _load_hub(repo_id: str, plan: DevicePlan) -> DiffusionPipeline:
    # A download that holds only the fp16 weights must be loaded as that variant, or diffusers
    # looks for the plain file names and fails.
    snapshot = snapshot_path(repo_id)
    if snapshot is not None:
        check_folder_configs(Path(snapshot))
    variant = weights_variant(snapshot) if snapshot is not None else None
    try:
        return DiffusionPipeline.from_pretrained(repo_id, dtype=plan.dtype, use_safetensors=True, variant=variant)
    except OSError as exc:
        raise ModelError(
            f"model '{repo_id}' is not in the local Hugging Face cache and could not be downloaded "
            f"({_first_line(exc)}). Check the name and your connection, or use a local folder or .safetensors file."
        ) from exc
    except ValueError as exc:
        raise ModelError(f"could not load '{repo_id}': {_first_line(exc)}") from exc


def check_folder_configs(folder: Path) -> None:
    """Check the JSON files a diffusers folder is loaded by, before diffusers reads them:
    ``model_index.json`` must be an object naming components as ``[library, class]``, and
    every ``.json`` file in the component folders must be a JSON object. Raises ``ModelError``
    naming the file (diffusers would fail on such a file with a TypeError or RecursionError
    from deep inside, which says nothing to a person)."""
    index = _read_json_object(folder, folder / "model_index.json")
    for name, value in index.items():
        if name.startswith("_") or not isinstance(value, list):
            continue  # private keys and the pipeline's own settings (requires_safety_checker: false)
        if not (len(value) == 2 and all(v is None or isinstance(v, str) for v in value)):
            raise ModelError(f"'{folder}' is damaged: model_index.json names component '{name}' as {str(value)[:60]}, "
                             "not as [library, class] (e.g. [\"diffusers\", \"UNet2DConditionModel\"]). "
                             "Download the model again.")
        if value[0] is not None and (folder / name).is_dir():
            for config in sorted((folder / name).glob("*.json")):
                _read_json_object(folder, config)


def _read_json_object(folder: Path, path: Path) -> dict:
    """``path`` parsed; it must be a JSON object. Raises ``ModelError`` naming it otherwise."""
    where = path.relative_to(folder).as_posix()
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"'{folder}' is not a complete diffusers model: it has no {where}.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else _first_line(exc)
        raise ModelError(f"'{folder}' is damaged: {where} cannot be read ({reason}). Download the model again.") from None
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "true or false", type(None): "null"}.get(type(value), "a number")
        raise ModelError(f"'{folder}' is damaged: {where} holds {kind}, not an object of settings. "
                         "Download the model again.")
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
