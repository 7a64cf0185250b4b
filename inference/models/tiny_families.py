"""Tiny SD2.x- and SDXL-architecture pipelines with random weights, built with no download.

Each is its family's bundled config folder (``resources/model-configs``, see
``inference.models.model_configs``) with narrow widths and few layers: the same component classes,
block layout (without attention at the finest level, which cost most of a step), attention
options, scheduler, tokenizer settings and latent scale (image / 8) as the real model, a few
tens of MB. Their images are meaningless, but they run through
exactly the code a real model of the family runs through. SD1.x: ``inference.models.tiny_model``.

Two constraints come from diffusers' single-file loader, which the tiny models must satisfy to
round-trip through the original layout: the SDXL text encoders must differ in width (diffusers
tells them apart by the width of their position embeddings), and attention heads follow the
real models' rule of one head per 64 channels (at least one), which is what the loader
assumes when it reads dimensions from tensor shapes.
"""

from __future__ import annotations

import json
from pathlib import Path

import diffusers
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

from inference.models.model_configs import BUNDLED_FOLDERS
from inference.files.resources import model_config_dir, tokenizer_dir

_TINY_VAE = dict(block_out_channels=(32, 32, 64, 64), layers_per_block=1, sample_size=256)
_TINY_TEXT = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=1)
_TINY_UNET = {
    "sd2": dict(
        block_out_channels=(32, 32, 64, 64),
        attention_head_dim=(1, 1, 1, 1),
        # No attention at the finest level, as the tiny SD1.x model: it cost ~90% of a step.
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * 2 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 2 + ("UpBlock2D",),
        cross_attention_dim=64,  # the text encoder's width
        sample_size=32,
    ),
    # Three levels as SDXL, the deepest with two transformer blocks (SDXL: 1, 2, 10). The
    # add-embedding takes the 32-wide pooled text embedding and 6 size/crop values × 8.
    "sdxl": dict(
        block_out_channels=(32, 64, 64),
        transformer_layers_per_block=(1, 1, 2),
        attention_head_dim=(1, 1, 1),
        cross_attention_dim=32 + 64,  # both text encoders' hidden states, concatenated
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=32 + 6 * 8,
        sample_size=32,
    ),
}


def build_tiny_family_pipeline(family: str, inpainting: bool = False, seed: int = 0):
    """A tiny pipeline of ``family`` ("sd1", "sd2" or "sdxl"), fp32 on the CPU, weights from ``seed``.

    ``inpainting`` gives the 9-channel-UNet variant with the family's inpainting pipeline class.
    """
    if family == "sd1":
        from inference.models.tiny_model import build_tiny_pipeline

        return build_tiny_pipeline(inpainting=inpainting, seed=seed)
    folder = model_config_dir(BUNDLED_FOLDERS[family, inpainting])
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_config(
        UNet2DConditionModel.load_config(folder / "unet"), in_channels=9 if inpainting else 4, **_TINY_UNET[family]
    )
    vae = AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae"), **_TINY_VAE)
    scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8"))
    scheduler = getattr(diffusers, scheduler_config["_class_name"]).from_config(scheduler_config)
    components = dict(unet=unet, vae=vae, scheduler=scheduler, tokenizer=_tokenizer(folder / "tokenizer"))
    if family == "sd2":
        text = CLIPTextConfig.from_pretrained(folder / "text_encoder", **_TINY_TEXT)
        components.update(text_encoder=CLIPTextModel(text), safety_checker=None, feature_extractor=None)
        cls = diffusers.StableDiffusionInpaintPipeline if inpainting else diffusers.StableDiffusionPipeline
        return cls(**components, requires_safety_checker=False)
    text = CLIPTextConfig.from_pretrained(folder / "text_encoder", **{**_TINY_TEXT, "hidden_size": 32})
    text_2 = CLIPTextConfig.from_pretrained(folder / "text_encoder_2", **_TINY_TEXT, projection_dim=32)
    components.update(
        text_encoder=CLIPTextModel(text),
        text_encoder_2=CLIPTextModelWithProjection(text_2),
        tokenizer_2=_tokenizer(folder / "tokenizer_2"),
    )
    cls = diffusers.StableDiffusionXLInpaintPipeline if inpainting else diffusers.StableDiffusionXLPipeline
    return cls(**components)


def _tokenizer(settings_dir: Path) -> CLIPTokenizer:
    """The shared CLIP tokenizer with the pad token of ``settings_dir``'s tokenizer_config.json, if any."""
    settings = settings_dir / "tokenizer_config.json"
    pad = json.loads(settings.read_text(encoding="utf-8"))["pad_token"] if settings.exists() else None
    return CLIPTokenizer.from_pretrained(str(tokenizer_dir()), **({"pad_token": pad} if pad else {}))


def make_tiny_family_model(out, family: str, inpainting: bool = False, single_file: bool = False) -> Path:
    """Write a tiny model of ``family`` to ``out``: a diffusers folder, or one original-layout file.

    Returns the path written (for ``single_file`` a ``.safetensors`` suffix is added if missing).
    """
    pipe = build_tiny_family_pipeline(family, inpainting=inpainting)
    out = Path(out)
    if single_file:
        from inference.models.checkpoint_export import save_original_layout

        out = out if out.suffix == ".safetensors" else out.with_suffix(".safetensors")
        out.parent.mkdir(parents=True, exist_ok=True)
        return save_original_layout(pipe, out, family)
    out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(out), safe_serialization=True)
    return out
