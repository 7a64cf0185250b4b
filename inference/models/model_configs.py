"""Weights-free diffusers config folders for single-file checkpoints, fitted to their tensors.

diffusers' ``from_single_file`` builds each component from a diffusers config folder, and by
default asks the Hugging Face hub for one (even with ``local_files_only``). Kiln bundles those
folders in ``resources/model-configs``: the configs of the repos diffusers itself picks for a
checkpoint (``DIFFUSERS_DEFAULT_PIPELINE_PATHS`` in ``diffusers.loaders.single_file_utils``),
without weights and without tokenizer vocabularies (every family uses the CLIP BPE in
``resources/tokenizer``; a folder holds only the tokenizer settings that differ, such as
SD2's pad token "!"). Every dimension the checkpoint's tensor shapes reveal overrides the
bundled value, so finetunes of other widths and Kiln's tiny test models load too.

Folders, each copied from the repo diffusers picks for the model type it infers:

* ``sd15``: stable-diffusion-v1-5/stable-diffusion-v1-5 ("v1"); SD1.x and SD1.x inpainting.
* ``sd21``: stabilityai/stable-diffusion-2-1 ("v2"); SD2.x, 768 px, v-prediction.
* ``sd2-inpainting``: stabilityai/stable-diffusion-2-inpainting ("inpainting_v2"); 512 px, epsilon.
* ``sdxl-base``: stabilityai/stable-diffusion-xl-base-1.0 ("xl_base"); SDXL and SDXL inpainting.

SD1.x and SDXL inpainting checkpoints reuse the base folder with the inpainting pipeline class
(diffusers fetches separate inpainting repos): the UNet's 9 input channels come from the
tensors like every other dimension, and the base scheduler is kept. SD2 inpainting has its own
folder, as in diffusers, because it differs from SD 2.1 in prediction type (epsilon) and size
(512 px). Like diffusers, Kiln cannot tell SD2 "base" (epsilon, 512 px) checkpoints from
768-v ones: their tensors have the same shapes. One deliberate difference from the source
repos: SDXL's text encoder configs say float32, not float16, because transformers 5 loads a
saved folder in the dtype its config names; the loader's ``dtype`` decides the precision.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from inference.models.checkpoint_export import (
    OPEN_CLIP_PREFIX,
    SDXL_TEXT_2_PREFIX,
    SDXL_TEXT_PREFIX,
    TEXT_PREFIX,
    UNET_PREFIX,
    VAE_PREFIX,
)
from inference.core.errors import ModelError
from inference.files.resources import model_config_dir, tokenizer_dir

FAMILY_NAMES = {"sd1": "Stable Diffusion 1.x", "sd2": "Stable Diffusion 2.x", "sdxl": "SDXL"}

# (family, inpainting) → folder under resources/model-configs; see the module docstring.
BUNDLED_FOLDERS = {
    ("sd1", False): "sd15",
    ("sd1", True): "sd15",
    ("sd2", False): "sd21",
    ("sd2", True): "sd2-inpainting",
    ("sdxl", False): "sdxl-base",
    ("sdxl", True): "sdxl-base",
}

# Each tokenizer folder gets these from resources/tokenizer unless the bundled folder has its own.
_SHARED_TOKENIZER_FILES = ("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json")
# SD2 conditions on OpenCLIP's penultimate layer: diffusers drops the last of its 24 layers.
_SD2_UNUSED_TEXT_LAYER = 23
# SDXL's micro-conditioning embeds 6 numbers: original size, crop corner and target size (h, w).
_SDXL_TIME_IDS = 6


def config_overrides(shapes, family: str) -> dict[str, dict]:
    """Component config values that a checkpoint's tensor shapes determine.

    ``shapes`` maps original-layout tensor names to shapes; ``family`` is "sd1", "sd2" or
    "sdxl". Returns component name ("unet", "vae", "text_encoder", and "text_encoder_2" for
    SDXL) → config values. Values the shapes cannot tell (activations, group-norm groups,
    sample sizes, SD1's 8 attention heads) are left to the bundled config. Raises
    ``ModelError`` when a tensor every such checkpoint has is missing or the layout is odd.
    """
    try:
        overrides = {"unet": _unet_overrides(shapes, family), "vae": _vae_overrides(shapes)}
        if family == "sd1":
            overrides["text_encoder"] = _clip_overrides(shapes, TEXT_PREFIX)
        elif family == "sd2":
            overrides["text_encoder"] = _open_clip_overrides(shapes, OPEN_CLIP_PREFIX, _SD2_UNUSED_TEXT_LAYER)
        else:
            overrides["text_encoder"] = _clip_overrides(shapes, SDXL_TEXT_PREFIX)
            overrides["text_encoder_2"] = {
                **_open_clip_overrides(shapes, SDXL_TEXT_2_PREFIX),
                "projection_dim": shapes[SDXL_TEXT_2_PREFIX + "text_projection"][1],
            }
        return overrides
    except KeyError as exc:
        raise ModelError(
            f"This {FAMILY_NAMES[family]} checkpoint is incomplete or laid out in a way Kiln does not know: "
            f"it has no tensor {exc}. Download it again, or use a diffusers folder of the model."
        ) from None


def fitted_configs(shapes, family: str, inpainting: bool) -> dict[str, dict]:
    """The bundled config folder for (family, inpainting) with ``config_overrides`` applied.

    Returns relative file path ("model_index.json", "unet/config.json",
    "tokenizer/tokenizer_config.json", ...) → parsed JSON. For the shapes of the model the
    folder was copied from, the component configs equal the bundled files exactly.
    """
    bundled = model_config_dir(BUNDLED_FOLDERS[family, inpainting])
    configs = {
        path.relative_to(bundled).as_posix(): json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(bundled.rglob("*.json"))
    }
    for component, values in config_overrides(shapes, family).items():
        configs[f"{component}/config.json"].update(values)
    return configs


def write_config_folder(shapes, family: str, inpainting: bool, dest, pipeline_class_name: str) -> Path:
    """Write a weights-free diffusers config folder for a single-file checkpoint to ``dest``.

    The folder holds model_index.json (naming ``pipeline_class_name``), the component configs
    from ``fitted_configs`` and, per tokenizer, the shared CLIP vocabulary plus the bundled
    folder's own tokenizer settings. Files are copied, not linked: links need privileges on
    Windows, and the vocabulary is 1.5 MB. Returns ``dest``. Raises ``ModelError`` as
    ``config_overrides``.
    """
    dest = Path(dest)
    configs = fitted_configs(shapes, family, inpainting)
    configs["model_index.json"]["_class_name"] = pipeline_class_name
    for relative, config in configs.items():
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(config, indent=2), encoding="utf-8")
    for component in configs["model_index.json"]:
        if component.startswith("tokenizer"):
            (dest / component).mkdir(exist_ok=True)
            for filename in _SHARED_TOKENIZER_FILES:
                if not (dest / component / filename).exists():
                    shutil.copyfile(tokenizer_dir() / filename, dest / component / filename)
    return dest


def meta_models(family: str, inpainting: bool) -> dict:
    """The bundled full-size architecture of (family, inpainting) on the meta device.

    Returns component name ("unet", "vae", "text_encoder", "text_encoder_2" for SDXL) → model
    whose parameters have shapes but no storage: for sizes and layouts without memory (the
    SDXL UNet alone is 2.6 billion parameters). Imports diffusers, transformers and accelerate.
    """
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    folder = model_config_dir(BUNDLED_FOLDERS[family, inpainting])
    unet_config = UNet2DConditionModel.load_config(folder / "unet")
    with init_empty_weights():
        models = {
            "unet": UNet2DConditionModel.from_config(unet_config, in_channels=9 if inpainting else 4),
            "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae")),
            "text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder")),
        }
        if family == "sdxl":
            text_2 = CLIPTextConfig.from_pretrained(folder / "text_encoder_2")
            models["text_encoder_2"] = CLIPTextModelWithProjection(text_2)
    return models


# --- dimensions from tensor shapes ------------------------------------------------------------


def _indices(shapes, prefix: str) -> list[int]:
    """Sorted distinct integers N of keys ``prefix + "N." ...``."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    return sorted({int(m[1]) for key in shapes if (m := pattern.match(key))})


def _unet_overrides(shapes, family: str) -> dict:
    unet = UNET_PREFIX
    # 1. Levels: one input block is a downsampler ("op") between consecutive levels.
    inputs = _indices(shapes, unet + "input_blocks.")
    levels = 1 + sum(unet + f"input_blocks.{i}.0.op.weight" in shapes for i in inputs)
    # 2. input_blocks = conv_in + levels × layers + (levels - 1) downsamplers.
    layers, remainder = divmod(len(inputs) - 1 - (levels - 1), levels)
    if remainder or layers < 1:
        raise ModelError(
            f"This {FAMILY_NAMES[family]} checkpoint's UNet has {len(inputs)} input blocks, a layout Kiln "
            "does not know. Use a diffusers folder of the model."
        )
    # 3. Per level: width from its first resnet, transformer depth of its attention (0: none).
    widths, depths = [], []
    for level in range(levels):
        first = 1 + level * (layers + 1)
        widths.append(shapes[unet + f"input_blocks.{first}.0.in_layers.2.weight"][0])
        depths.append(len(_indices(shapes, unet + f"input_blocks.{first}.1.transformer_blocks.")))
    cross_keys = [key for key in shapes if key.startswith(unet) and key.endswith("attn2.to_k.weight")]
    if not cross_keys:
        raise KeyError(unet + "…attn2.to_k.weight")  # no cross-attention: not a text-to-image UNet
    values = {
        "in_channels": shapes[unet + "input_blocks.0.0.weight"][1],
        "out_channels": shapes[unet + "out.2.weight"][0],
        "block_out_channels": widths,
        "layers_per_block": layers,
        "cross_attention_dim": shapes[cross_keys[0]][1],
        "down_block_types": ["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in depths],
        "up_block_types": ["CrossAttnUpBlock2D" if d else "UpBlock2D" for d in reversed(depths)],
    }
    if family != "sd1":
        # SD2 and SDXL give every head 64 channels (SD1 has 8 heads at every level); diffusers
        # calls the head count "attention_head_dim". The tiny test models have one head.
        values["attention_head_dim"] = [max(1, width // 64) for width in widths]
    if family == "sdxl":
        # Per-level depth ([1, 2, 10] in SDXL); diffusers wants 1 where a level has no attention.
        values["transformer_layers_per_block"] = [max(1, depth) for depth in depths]
        # The add-embedding MLP takes the pooled text embedding and the size/crop embeddings.
        embed_in = shapes[unet + "label_emb.0.0.weight"][1]
        pooled = shapes[SDXL_TEXT_2_PREFIX + "text_projection"][1]
        time_dim, remainder = divmod(embed_in - pooled, _SDXL_TIME_IDS)
        if remainder or time_dim < 1:
            raise ModelError(
                f"This SDXL checkpoint's UNet takes {embed_in} conditioning values, which does not fit its "
                f"{pooled}-wide pooled text embedding. Use a diffusers folder of the model."
            )
        values["projection_class_embeddings_input_dim"] = embed_in
        values["addition_time_embed_dim"] = time_dim
    return values


def _vae_overrides(shapes) -> dict:
    vae = VAE_PREFIX
    levels = _indices(shapes, vae + "encoder.down.")
    return {
        "in_channels": shapes[vae + "encoder.conv_in.weight"][1],
        "out_channels": shapes[vae + "decoder.conv_out.weight"][0],
        "latent_channels": shapes[vae + "decoder.conv_in.weight"][1],
        "block_out_channels": [shapes[vae + f"encoder.down.{i}.block.0.conv1.weight"][0] for i in levels],
        "layers_per_block": len(_indices(shapes, vae + "encoder.down.0.block.")),
        "down_block_types": ["DownEncoderBlock2D"] * len(levels),
        "up_block_types": ["UpDecoderBlock2D"] * len(levels),
    }


def _clip_overrides(shapes, prefix: str) -> dict:
    """A Hugging Face-layout CLIP text encoder under ``prefix + "text_model."``."""
    text = prefix + "text_model."
    vocab, hidden = shapes[text + "embeddings.token_embedding.weight"]
    return {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": shapes[text + "encoder.layers.0.mlp.fc1.weight"][0],
        "num_hidden_layers": len(_indices(shapes, text + "encoder.layers.")),
        # Every CLIP text model SD uses has 64-wide heads; the tiny test models have one head.
        "num_attention_heads": max(1, hidden // 64),
        "max_position_embeddings": shapes[text + "embeddings.position_embedding.weight"][0],
    }


def _open_clip_overrides(shapes, prefix: str, unused_layer: int | None = None) -> dict:
    """An OpenCLIP text encoder under ``prefix``; ``unused_layer`` is one diffusers drops."""
    vocab, hidden = shapes[prefix + "token_embedding.weight"]
    layers = [i for i in _indices(shapes, prefix + "transformer.resblocks.") if i != unused_layer]
    return {
        "vocab_size": vocab,
        "hidden_size": hidden,
        "intermediate_size": shapes[prefix + "transformer.resblocks.0.mlp.c_fc.weight"][0],
        "num_hidden_layers": len(layers),
        "num_attention_heads": max(1, hidden // 64),
        "max_position_embeddings": shapes[prefix + "positional_embedding"][0],
    }
