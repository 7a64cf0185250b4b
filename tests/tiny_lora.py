"""A random-weight LoRA on a tiny UNet, saved as diffusers saves one, for the LoRA tests."""

from __future__ import annotations

import torch


def save_unet_lora(unet, folder, seed=0):
    """A rank-4 LoRA on ``unet``'s attention projections with random (non-zero) weights, saved
    as diffusers does (pytorch_lora_weights.safetensors); the UNet is left as it was."""
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False)
    unet.add_adapter(config)
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(str(folder), unet_lora_layers=layers, safe_serialization=True)
    return folder / "pytorch_lora_weights.safetensors"
