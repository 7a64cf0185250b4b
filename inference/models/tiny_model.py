"""Tiny Stable Diffusion 1.5-architecture models with random weights, built with no download.

Same component classes, block layout and latent scale (image / 8) as SD1.5, with narrow
channels and no attention at the finest level: about 15 MB; on one CPU core a 512 px step
(two UNet passes) takes ~0.2 s and a 256 px step ~0.06 s. The images they make are
meaningless colour fields, but they run through exactly the code a real model
runs through, which is what tests, benchmarks and a first start without a download need.
The tokenizer is the real CLIP tokenizer shipped in ``resources/tokenizer``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    PNDMScheduler,
    StableDiffusionInpaintPipeline,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from inference.files.resources import tokenizer_dir

# SD1.5's scheduler settings, so step counts and noise levels behave like the real model.
SD15_SCHEDULER = dict(
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    num_train_timesteps=1000,
    set_alpha_to_one=False,
    skip_prk_steps=True,
    steps_offset=1,
)


def _unet(in_channels: int) -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=32,
        in_channels=in_channels,
        out_channels=4,
        block_out_channels=(32, 32, 64, 64),
        layers_per_block=2,
        # SD1.5 attends at the three finest levels; at 512 px the finest has 4,096 tokens, and
        # there the tiny model spent ~90% of its time. Attention only at the two middle levels
        # (1,024 and 256 tokens) makes a 512 px step ~8× faster; the single-file loader reads
        # which levels attend from the weights, so the original layout still round-trips.
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * 2 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 2 + ("UpBlock2D",),
        cross_attention_dim=64,
        attention_head_dim=8,
        norm_num_groups=32,
    )


def _vae() -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(32, 32, 64, 64),
        layers_per_block=1,  # SD1.5: 2; the full-resolution level dominates a decode
        latent_channels=4,
        norm_num_groups=32,
        sample_size=256,
        scaling_factor=0.18215,
    )


def _text_encoder() -> CLIPTextModel:
    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=1,  # hidden_size / 64, as in every CLIP text model SD uses
        max_position_embeddings=77,
        hidden_act="quick_gelu",
        layer_norm_eps=1e-5,
        bos_token_id=0,
        eos_token_id=2,
        pad_token_id=1,
    )
    return CLIPTextModel(config)


def build_tiny_pipeline(inpainting: bool = False, seed: int = 0):
    """A tiny SD1.5-architecture pipeline (fp32, CPU) with weights drawn from ``seed``.

    ``inpainting`` gives the 9-channel-UNet inpainting variant (StableDiffusionInpaintPipeline).
    """
    torch.manual_seed(seed)
    unet = _unet(9 if inpainting else 4)
    vae = _vae()
    text_encoder = _text_encoder()
    tokenizer = CLIPTokenizer.from_pretrained(str(tokenizer_dir()))
    scheduler = PNDMScheduler(**SD15_SCHEDULER)
    cls = StableDiffusionInpaintPipeline if inpainting else StableDiffusionPipeline
    return cls(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def make_test_model(out: Path, inpainting: bool = False, single_file: bool = False) -> Path:
    """Write a tiny model to ``out``: a diffusers folder, or one original-layout .safetensors.

    Returns the path written (for ``single_file`` a ``.safetensors`` suffix is added if missing).
    """
    pipe = build_tiny_pipeline(inpainting=inpainting)
    out = Path(out)
    if single_file:
        from inference.models.checkpoint_export import save_original_layout

        if out.suffix != ".safetensors":
            out = out.with_suffix(".safetensors")
        out.parent.mkdir(parents=True, exist_ok=True)
        save_original_layout(pipe, out)
        return out
    out.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(str(out), safe_serialization=True)
    return out
