"""Single-file Stable Diffusion checkpoints (.safetensors in the original key layout).

What a file holds is read from its tensor names and shapes, never from its file name:

* SD1.x: CLIP text encoder under ``cond_stage_model.transformer.text_model.``
* SD2.x: OpenCLIP text encoder under ``cond_stage_model.model.``
* SDXL:  text encoders under ``conditioner.embedders.``
* inpainting: the UNet's first convolution takes 9 channels (latents, mask, masked image).

diffusers' ``from_single_file`` asks the Hugging Face hub for the matching diffusers configs,
even with ``local_files_only``. For SD1.x Kiln supplies them instead: the bundled SD1.5 config
folder (``resources/model-configs/sd15``) with every dimension the tensors reveal overridden,
so full-size SD1.5 finetunes and Kiln's tiny test models load with no network. SD2.x and SDXL
configs are not bundled yet; those load from the Hugging Face cache or the hub.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError

from inference.checkpoint_export import TEXT_PREFIX, UNET_PREFIX, VAE_PREFIX
from inference.checkpoint_format import check_checkpoint_file, header_shapes
from inference.errors import ModelError
from inference.resources import model_config_dir, tokenizer_dir

FAMILY_NAMES = {"sd1": "Stable Diffusion 1.x", "sd2": "Stable Diffusion 2.x", "sdxl": "SDXL"}
UNET, VAE, TEXT = UNET_PREFIX, VAE_PREFIX, TEXT_PREFIX + "text_model."
CONV_IN = UNET + "input_blocks.0.0.weight"
_CONFIG_FILES = {
    "unet": "unet/config.json",
    "vae": "vae/config.json",
    "text_encoder": "text_encoder/config.json",
    "scheduler": "scheduler/scheduler_config.json",
}
_TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")


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
    safetensors files that are not a whole SD1.x/SD2.x/SDXL model (a LoRA, a VAE alone...).
    """
    return _identify(Path(path).name, check_checkpoint_file(path))


def _identify(name: str, header: dict) -> CheckpointInfo:
    shapes = header_shapes(header)
    if CONV_IN not in shapes:
        raise ModelError(
            f"{name} is not a whole Stable Diffusion model: it has no UNet weights. It may be a LoRA, "
            "a VAE or an embedding, which Kiln does not load as a model."
        )
    if any(key.startswith("conditioner.embedders.") for key in shapes):
        family = "sdxl"
    elif any(key.startswith("cond_stage_model.model.") for key in shapes):
        family = "sd2"
    elif any(key.startswith(TEXT) for key in shapes):
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
    ``dtype`` with no safety checker. SD1.x loads with no network; SD2.x and SDXL need their
    configs in the Hugging Face cache or a reachable hub.

    Raises ``UnsafeCheckpoint`` for pickles (never opened) and ``ModelError`` for damaged or
    unrecognised files, shapes that do not fit, or SD2.x/SDXL configs that cannot be fetched.
    """
    # 1. Validate and identify from the header, before torch reads a byte of it.
    path = Path(path)
    shapes = header_shapes(header := check_checkpoint_file(path))
    info = _identify(path.name, header)
    pipeline_class = _pipeline_class(info)

    with tempfile.TemporaryDirectory(prefix="kiln-single-file-", ignore_cleanup_errors=True) as tmp:
        # 2. diffusers picks its reader by file extension: make sure it sees ".safetensors".
        weights = _as_safetensors_name(path, Path(tmp))

        # 3. SD1.x gets Kiln's own config folder, so nothing is asked of the hub.
        options = {}
        if info.family != "sdxl":  # SDXL pipelines have no safety checker
            options.update(safety_checker=None, requires_safety_checker=False)
        if info.family == "sd1":
            config_dir = write_sd1_config_folder(shapes, Path(tmp) / "config", pipeline_class.__name__)
            options.update(config=str(config_dir), feature_extractor=None)

        # 4. Load with diffusers' own conversion code.
        try:
            pipe = pipeline_class.from_single_file(
                str(weights), torch_dtype=dtype, local_files_only=True, **options
            )
        except Exception as exc:
            error = _load_error(path.name, info, exc)
            if error is None:
                raise
            raise error from exc
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


def _load_error(name: str, info: CheckpointInfo, exc: BaseException) -> ModelError | None:
    """The ``ModelError`` to raise for a failed ``from_single_file``, or None for a bug."""
    if info.family != "sd1" and _hub_unreachable(exc):
        return ModelError(
            f"This {info.family_name} checkpoint needs its configuration from the Hugging Face hub the "
            "first time, and the hub could not be reached: connect once, or use a diffusers folder."
        )
    if isinstance(exc, (ValueError, KeyError, RuntimeError, OSError, SafetensorError)):
        # Shapes that fit no config, damaged tensor data, unreadable files.
        return ModelError(
            f"{name} looks like a {info.family_name} checkpoint but could not be loaded: {_first_line(exc)}"
        )
    return None


def _hub_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` (or its causes) says the Hugging Face hub could not be reached."""
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, (LocalEntryNotFoundError, OfflineModeIsEnabled, ConnectionError, TimeoutError)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


# --- SD1.x configs from tensor shapes ---------------------------------------------------------


def _indices(shapes, prefix: str) -> list[int]:
    """Sorted distinct integers N of keys ``prefix + "N." ...``."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m[1]) for key in shapes if (m := pattern.match(key))})


def sd1_config_overrides(shapes) -> dict[str, dict]:
    """Component config values that an SD1.x checkpoint's tensor shapes determine.

    ``shapes`` maps original-layout tensor names to shapes. Returns ``{"unet": {...}, "vae":
    {...}, "text_encoder": {...}}``. Values the shapes cannot tell (attention heads of the
    UNet, group-norm groups, sample sizes) are left to the bundled SD1.5 config. Raises
    ``ModelError`` when a tensor every SD1.x checkpoint has is missing or the layout is odd.
    """
    try:
        return {
            "unet": _unet_overrides(shapes),
            "vae": _vae_overrides(shapes),
            "text_encoder": _text_overrides(shapes),
        }
    except KeyError as exc:
        raise ModelError(
            f"This SD1.x checkpoint is incomplete or laid out in a way Kiln does not know: it has no "
            f"tensor {exc}. Download it again, or use a diffusers folder of the model."
        ) from None


def _unet_overrides(shapes) -> dict:
    # 1. Levels: one input block is a downsampler ("op") between consecutive levels.
    inputs = _indices(shapes, UNET + "input_blocks.")
    levels = 1 + sum(UNET + f"input_blocks.{i}.0.op.weight" in shapes for i in inputs)
    # 2. input_blocks = conv_in + levels × layers + (levels - 1) downsamplers.
    layers, remainder = divmod(len(inputs) - 1 - (levels - 1), levels)
    if remainder or layers < 1:
        raise ModelError(
            f"This SD1.x checkpoint's UNet has {len(inputs)} input blocks, a layout Kiln does not know. "
            "Use a diffusers folder of the model."
        )
    # 3. Per level: width from its first resnet, attention if it has a transformer.
    widths, attention = [], []
    for level in range(levels):
        first = 1 + level * (layers + 1)
        widths.append(shapes[UNET + f"input_blocks.{first}.0.in_layers.2.weight"][0])
        attention.append(UNET + f"input_blocks.{first}.1.proj_in.weight" in shapes)
    cross_keys = [key for key in shapes if key.startswith(UNET) and key.endswith("attn2.to_k.weight")]
    if not cross_keys:
        raise KeyError(UNET + "…attn2.to_k.weight")  # no cross-attention: not a text-to-image UNet
    return {
        "in_channels": shapes[CONV_IN][1],
        "out_channels": shapes[UNET + "out.2.weight"][0],
        "block_out_channels": widths,
        "layers_per_block": layers,
        "cross_attention_dim": shapes[cross_keys[0]][1],
        "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention],
        "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)],
    }


def _vae_overrides(shapes) -> dict:
    levels = _indices(shapes, VAE + "encoder.down.")
    return {
        "in_channels": shapes[VAE + "encoder.conv_in.weight"][1],
        "out_channels": shapes[VAE + "decoder.conv_out.weight"][0],
        "latent_channels": shapes[VAE + "decoder.conv_in.weight"][1],
        "block_out_channels": [shapes[VAE + f"encoder.down.{i}.block.0.conv1.weight"][0] for i in levels],
        "layers_per_block": len(_indices(shapes, VAE + "encoder.down.0.block.")),
        "down_block_types": ["DownEncoderBlock2D"] * len(levels),
        "up_block_types": ["UpDecoderBlock2D"] * len(levels),
    }


def _text_overrides(shapes) -> dict:
    vocab, hidden = shapes[TEXT + "embeddings.token_embedding.weight"]
    return {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": shapes[TEXT + "encoder.layers.0.mlp.fc1.weight"][0],
        "num_hidden_layers": len(_indices(shapes, TEXT + "encoder.layers.")),
        # Every CLIP text model SD uses has 64-wide heads; the tiny test model has one head.
        "num_attention_heads": max(1, hidden // 64),
        "max_position_embeddings": shapes[TEXT + "embeddings.position_embedding.weight"][0],
    }


def sd1_configs(shapes) -> dict[str, dict]:
    """The bundled SD1.5 component configs with ``sd1_config_overrides(shapes)`` applied.

    Keys: "model_index", "unet", "vae", "text_encoder", "scheduler" → config dicts as JSON.
    For the shapes of real SD1.5 the result equals the bundled configs exactly.
    """
    bundled = model_config_dir("sd15")
    configs = {"model_index": json.loads((bundled / "model_index.json").read_text(encoding="utf-8"))}
    for name, relative in _CONFIG_FILES.items():
        configs[name] = json.loads((bundled / relative).read_text(encoding="utf-8"))
    for name, values in sd1_config_overrides(shapes).items():
        configs[name].update(values)
    return configs


def write_sd1_config_folder(shapes, dest, pipeline_class_name: str = "StableDiffusionPipeline") -> Path:
    """Write a weights-free diffusers config folder for an SD1.x checkpoint to ``dest``.

    ``shapes``: original-layout tensor name → shape. The folder holds model_index.json (for
    ``pipeline_class_name``), the component configs from ``sd1_configs`` and a copy of the
    bundled CLIP tokenizer (copied, not linked: links need privileges on Windows, and the
    tokenizer is 1.5 MB). Returns ``dest``.
    """
    dest = Path(dest)
    configs = sd1_configs(shapes)
    configs["model_index"]["_class_name"] = pipeline_class_name
    files = {"model_index": "model_index.json", **_CONFIG_FILES}
    for name, relative in files.items():
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(configs[name], indent=2), encoding="utf-8")
    (dest / "tokenizer").mkdir(parents=True, exist_ok=True)
    for filename in _TOKENIZER_FILES:
        shutil.copyfile(tokenizer_dir() / filename, dest / "tokenizer" / filename)
    return dest
