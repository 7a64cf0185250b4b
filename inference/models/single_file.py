"""Single-file Stable Diffusion checkpoints (.safetensors in the original key layout).

What a file holds is read from its tensor names and shapes, never from its file name:

* SD1.x: CLIP text encoder under ``cond_stage_model.transformer.text_model.``
* SD2.x: OpenCLIP text encoder under ``cond_stage_model.model.``
* SDXL:  text encoders under ``conditioner.embedders.`` (CLIP at 0, OpenCLIP at 1; the SDXL
  refiner, with only OpenCLIP at 0, is refused: it cannot make an image on its own)
* inpainting: the UNet's first convolution takes 9 channels (latents, mask, masked image).

diffusers' ``from_single_file`` asks the Hugging Face hub for the matching diffusers configs,
even with ``local_files_only``. Kiln supplies them instead, for every family: a bundled config
folder with every dimension the tensors reveal overridden (``inference.models.model_configs``), so
full-size models, their finetunes and Kiln's tiny test models load with no network.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError

from inference.models.checkpoint_export import OPEN_CLIP_PREFIX, TEXT_PREFIX, UNET_PREFIX
from inference.models.checkpoint_format import check_checkpoint_file, header_shapes
from inference.core.errors import ModelError
from inference.models.model_configs import FAMILY_NAMES, write_config_folder

CONV_IN = UNET_PREFIX + "input_blocks.0.0.weight"
_SDXL_REFINER_TEXT = "conditioner.embedders.0.model."  # the refiner's only text encoder: OpenCLIP


@dataclass(frozen=True)
class CheckpointInfo:
    """What a single-file checkpoint holds, read from its safetensors header.

    family: "sd1", "sd2" or "sdxl". inpainting: the UNet takes 9 input channels.
    unet_in_channels: 4 for ordinary models, 9 for inpainting (others exist, e.g. depth).
    dtype: the safetensors dtype most of its tensors have ("F16", "F32", "BF16").
    tensor_count: number of tensors in the file.
    """

    family: str
    inpainting: bool
    unet_in_channels: int
    dtype: str
    tensor_count: int

    @property
    def family_name(self) -> str:
        return FAMILY_NAMES[self.family]


def inspect_checkpoint(path) -> CheckpointInfo:
    """Identify the model in ``path`` from its header alone (nothing is loaded).

    Raises ``UnsafeCheckpoint`` for pickles and ``ModelError`` for damaged files and for
    safetensors files that are not a whole SD1.x/SD2.x/SDXL model (a LoRA, a VAE alone, an
    SDXL refiner...).
    """
    return _identify(Path(path).name, check_checkpoint_file(path))


def _identify(name: str, header: dict) -> CheckpointInfo:
    shapes = header_shapes(header)
    if CONV_IN not in shapes:
        raise ModelError(
            f"{name} is not a whole Stable Diffusion model: it has no UNet weights. It may be a LoRA, "
            "a VAE or an embedding, which Kiln does not load as a model."
        )
    if any(key.startswith(_SDXL_REFINER_TEXT) for key in shapes):
        raise ModelError(
            f"{name} is an SDXL refiner, which only finishes images an SDXL base model started. "
            "Load an SDXL base model (or a finetune of it) instead."
        )
    if any(key.startswith("conditioner.embedders.") for key in shapes):
        family = "sdxl"
    elif any(key.startswith(OPEN_CLIP_PREFIX) for key in shapes):
        family = "sd2"
    elif any(key.startswith(TEXT_PREFIX + "text_model.") for key in shapes):
        family = "sd1"
    else:
        raise ModelError(
            f"{name} has a UNet but no text encoder Kiln recognises, so it is not a Stable Diffusion "
            "1.x, 2.x or SDXL checkpoint Kiln can load."
        )
    dtypes = Counter(entry["dtype"] for key, entry in header.items() if key != "__metadata__")
    in_channels = shapes[CONV_IN][1]
    return CheckpointInfo(
        family=family,
        inpainting=in_channels == 9,
        unet_in_channels=in_channels,
        dtype=dtypes.most_common(1)[0][0],
        tensor_count=len(shapes),
    )


def load_single_file(path, dtype: torch.dtype = torch.float32):
    """Load a single-file checkpoint into a diffusers pipeline on the CPU.

    Returns ``(pipeline, CheckpointInfo)``: a ``StableDiffusion[XL][Inpaint]Pipeline`` in
    ``dtype`` with no safety checker. Nothing is read from the network or the Hugging Face
    cache: configs come from Kiln's bundled folders (see ``inference.models.model_configs``).

    Raises ``UnsafeCheckpoint`` for pickles (never opened) and ``ModelError`` for damaged or
    unrecognised files, missing tensors, or shapes that do not fit.
    """
    # 1. Validate and identify from the header, before torch reads a byte of it.
    path = Path(path)
    shapes = header_shapes(header := check_checkpoint_file(path))
    info = _identify(path.name, header)
    pipeline_class = _pipeline_class(info)

    with tempfile.TemporaryDirectory(prefix="kiln-single-file-", ignore_cleanup_errors=True) as tmp:
        # 2. diffusers picks its reader by file extension: make sure it sees ".safetensors".
        weights = _as_safetensors_name(path, Path(tmp))

        # 3. Kiln's own config folder, fitted to the tensors, so nothing is asked of the hub.
        config_dir = write_config_folder(
            shapes, info.family, info.inpainting, Path(tmp) / "config", pipeline_class.__name__
        )
        options = {"config": str(config_dir)}
        if info.family != "sdxl":  # SDXL pipelines have no safety checker
            options.update(safety_checker=None, requires_safety_checker=False, feature_extractor=None)

        # 4. Load with diffusers' own conversion code.
        try:
            pipe = pipeline_class.from_single_file(
                str(weights), torch_dtype=dtype, local_files_only=True, **options
            )
        except Exception as exc:
            if not _is_model_problem(exc):
                raise
            raise ModelError(
                f"{path.name} looks like a {info.family_name} checkpoint but could not be loaded: "
                f"{_first_line(exc)}"
            ) from exc
    return pipe, info


def _pipeline_class(info: CheckpointInfo):
    from diffusers import (
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        StableDiffusionXLInpaintPipeline,
        StableDiffusionXLPipeline,
    )

    if info.family == "sdxl":
        return StableDiffusionXLInpaintPipeline if info.inpainting else StableDiffusionXLPipeline
    return StableDiffusionInpaintPipeline if info.inpainting else StableDiffusionPipeline


def _as_safetensors_name(path: Path, tmp: Path) -> Path:
    """``path`` itself, or a link to it named ``*.safetensors`` inside ``tmp``.

    diffusers reads any other extension with ``torch.load``; the content was already checked
    to be safetensors, so a misleading name must not send it down that path.
    """
    if path.suffix == ".safetensors":
        return path
    link = tmp / "checkpoint.safetensors"
    for make_link in (os.symlink, os.link):  # symlinks can need privileges on Windows
        try:
            make_link(path.resolve(), link)
            return link
        except OSError:
            continue
    raise ModelError(
        f"{path.name} is a safetensors file with a different extension, and Kiln could not link it "
        "under a .safetensors name: rename it to end in .safetensors."
    )


def _is_model_problem(exc: BaseException) -> bool:
    """Whether a failed ``from_single_file`` says the file does not fit (else it is a bug)."""
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    # Shapes that fit no config, missing components, damaged tensor data, unreadable files.
    problems = (ValueError, KeyError, RuntimeError, OSError, SafetensorError, SingleFileComponentError)
    return isinstance(exc, problems)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
