"""The full-size SD1.5 architecture with random weights, built offline from the bundled configs
(for benchmarks on a GPU machine: nothing to download)."""

from __future__ import annotations

from pathlib import Path

import torch


# --- the full-size random model ------------------------------------------------------------------


def build_full_size_random(out: Path) -> Path:
    """SD1.5's full-size architecture (the bundled ``sd15`` configs) with random weights (seed 0),
    saved as a diffusers folder in fp16 (the engine loads it in its own precision), ~2 GB."""
    from diffusers import (
        AutoencoderKL,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from inference.files.resources import model_config_dir, tokenizer_dir

    folder = model_config_dir("sd15")
    torch.manual_seed(0)
    pipe = StableDiffusionPipeline(
        vae=AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae")),
        text_encoder=CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder")),
        tokenizer=CLIPTokenizer.from_pretrained(str(tokenizer_dir())),
        unet=UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet")),
        scheduler=PNDMScheduler.from_config(PNDMScheduler.load_config(folder / "scheduler")),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.to(torch.float16)
    pipe.save_pretrained(str(out), safe_serialization=True)
    return out
