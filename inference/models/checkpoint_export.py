"""Write a diffusers SD1.x/SD2.x/SDXL pipeline as one checkpoint in the original key layout.

Model sites distribute Stable Diffusion as a single file whose tensor names come from the
original training code (CompVis / Stability "generative-models"), not from diffusers:

* UNet under ``model.diffusion_model.``: ``time_embed.0/2``, ``input_blocks.N.M``,
  ``middle_block.N``, ``output_blocks.N.M``, ``out.0/2``; resnets named ``in_layers``,
  ``emb_layers``, ``out_layers``, ``skip_connection``; downsamplers ``op``, upsamplers ``conv``;
  SDXL's size/crop conditioning MLP as ``label_emb.0.0/0.2``.
* VAE under ``first_stage_model.``: ``encoder.down.i.block.j``, ``decoder.up.(n-1-i).block.j``
  (the decoder counts levels from the bottom), ``mid.block_1/attn_1/block_2``, ``nin_shortcut``,
  and mid-block attention as 1×1 convolutions (``norm``, ``q``, ``k``, ``v``, ``proj_out``).
* Text encoders, by family:
  - SD1.x: CLIP under ``cond_stage_model.transformer.`` + the Hugging Face ``text_model.`` keys;
  - SD2.x: OpenCLIP under ``cond_stage_model.model.`` (``token_embedding``,
    ``positional_embedding``, ``transformer.resblocks.N`` with q/k/v fused into ``in_proj``,
    ``ln_final``);
  - SDXL: CLIP under ``conditioner.embedders.0.transformer.`` and OpenCLIP (with its
    ``text_projection``) under ``conditioner.embedders.1.model.``.

The mapping is derived from the model configs (number of levels, ``layers_per_block``, which
levels carry attention), so the same code writes the tiny test models and the full-size
architectures (4- or 9-channel UNet). Kiln uses it to make single-file test fixtures; the
inverse is diffusers' own ``convert_ldm_*`` / ``convert_open_clip_checkpoint``, which the tests
use to check every tensor round-trips. Real SD2 files carry a 24th OpenCLIP layer and a text
projection that SD2 never uses (diffusers drops them); exports from diffusers have neither.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer."  # SD1.x CLIP
OPEN_CLIP_PREFIX = "cond_stage_model.model."  # SD2.x OpenCLIP
SDXL_TEXT_PREFIX = "conditioner.embedders.0.transformer."  # SDXL CLIP ViT-L
SDXL_TEXT_2_PREFIX = "conditioner.embedders.1.model."  # SDXL OpenCLIP ViT-bigG
FAMILIES = ("sd1", "sd2", "sdxl")

# Resnet parameter names, diffusers → LDM (``in_layers`` is Sequential(norm, act, conv), etc.).
_UNET_RESNET_NAMES = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_UNET_FIXED_NAMES = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
    # SDXL's micro-conditioning MLP (pooled text + size/crop embeddings → time embedding).
    "add_embedding.linear_1": "label_emb.0.0",
    "add_embedding.linear_2": "label_emb.0.2",
}
_VAE_FIXED_NAMES = {
    "conv_in": "conv_in",
    "conv_out": "conv_out",
    "conv_norm_out": "norm_out",
}
_VAE_ATTENTION_NAMES = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
}


def _layers_per_block(config) -> int:
    layers = config["layers_per_block"]
    if not isinstance(layers, int):
        # The LDM numbering (and diffusers' inverse converter) assumes one count for all levels.
        raise ValueError(f"layers_per_block must be one integer for the LDM layout, got {layers!r}")
    return layers


def _rename_unet_resnet(rest: str) -> str:
    name, _, param = rest.partition(".")
    if name not in _UNET_RESNET_NAMES:
        raise ValueError(f"unknown UNet resnet parameter {rest!r}")
    return f"{_UNET_RESNET_NAMES[name]}.{param}"


def unet_key_map(keys, config) -> dict[str, str]:
    """Map diffusers ``UNet2DConditionModel`` state-dict keys to LDM keys (without prefix).

    ``config`` is the UNet's config (``unet.config``). Raises ``ValueError`` for a key the LDM
    layout has no place for (class embeddings, per-level ``layers_per_block``).
    """
    per_level = _layers_per_block(config) + 1  # input/output blocks per level (+ down/upsampler)
    up_has_attention = ["CrossAttn" in kind for kind in config["up_block_types"]]
    mapping = {}
    for key in keys:
        module, _, param = key.rpartition(".")
        if module in _UNET_FIXED_NAMES:
            mapping[key] = f"{_UNET_FIXED_NAMES[module]}.{param}"
            continue
        if m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            level, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
            index = 1 + level * per_level + layer  # input_blocks.0 is conv_in
            if kind == "resnets":
                mapping[key] = f"input_blocks.{index}.0.{_rename_unet_resnet(rest)}"
            else:
                mapping[key] = f"input_blocks.{index}.1.{rest}"
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            mapping[key] = f"input_blocks.{(int(m[1]) + 1) * per_level}.0.op.{m[2]}"
        elif m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
            mapping[key] = f"middle_block.{2 * int(m[1])}.{_rename_unet_resnet(m[2])}"
        elif m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
            mapping[key] = f"middle_block.1.{m[1]}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
            level, kind, layer, rest = int(m[1]), m[2], int(m[3]), m[4]
            index = level * per_level + layer  # up levels hold layers_per_block + 1 layers
            if kind == "resnets":
                mapping[key] = f"output_blocks.{index}.0.{_rename_unet_resnet(rest)}"
            else:
                mapping[key] = f"output_blocks.{index}.1.{rest}"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            level = int(m[1])
            # The upsampler follows the last layer's resnet, and its attention when it has one.
            slot = 2 if up_has_attention[level] else 1
            mapping[key] = f"output_blocks.{level * per_level + per_level - 1}.{slot}.conv.{m[2]}"
        else:
            raise ValueError(f"UNet parameter {key!r} has no place in the LDM layout")
    return mapping


def vae_key_map(keys, config) -> dict[str, str]:
    """Map diffusers ``AutoencoderKL`` state-dict keys to LDM keys (without prefix).

    ``config`` is the VAE's config. Raises ``ValueError`` for keys with no LDM counterpart.
    """
    levels = len(config["up_block_types"])
    mapping = {}
    for key in keys:
        module, _, param = key.rpartition(".")
        if module in ("quant_conv", "post_quant_conv"):
            mapping[key] = key
            continue
        part, _, rest = key.partition(".")  # part: encoder / decoder
        module = rest.rpartition(".")[0]
        if part in ("encoder", "decoder") and module in _VAE_FIXED_NAMES:
            mapping[key] = f"{part}.{_VAE_FIXED_NAMES[module]}.{param}"
        elif m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            mapping[key] = f"encoder.down.{m[1]}.block.{m[2]}.{_rename_vae_resnet(m[3])}"
        elif m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
            mapping[key] = f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
        elif m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
            # LDM's decoder numbers levels from the lowest resolution up, diffusers' top down.
            level = levels - 1 - int(m[1])
            mapping[key] = f"decoder.up.{level}.block.{m[2]}.{_rename_vae_resnet(m[3])}"
        elif m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
            mapping[key] = f"decoder.up.{levels - 1 - int(m[1])}.upsample.conv.{m[2]}"
        elif m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
            mapping[key] = f"{m[1]}.mid.block_{int(m[2]) + 1}.{_rename_vae_resnet(m[3])}"
        elif m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)", key):
            if m[2] not in _VAE_ATTENTION_NAMES:
                raise ValueError(f"unknown VAE attention parameter {key!r}")
            mapping[key] = f"{m[1]}.mid.attn_1.{_VAE_ATTENTION_NAMES[m[2]]}.{m[3]}"
        else:
            raise ValueError(f"VAE parameter {key!r} has no place in the LDM layout")
    return mapping


def _rename_vae_resnet(rest: str) -> str:
    return rest.replace("conv_shortcut", "nin_shortcut")


_OPEN_CLIP_LAYER_NAMES = {
    "layer_norm1": "ln_1",
    "layer_norm2": "ln_2",
    "mlp.fc1": "mlp.c_fc",
    "mlp.fc2": "mlp.c_proj",
    "self_attn.out_proj": "attn.out_proj",
}
_OPEN_CLIP_FIXED_NAMES = {
    "text_model.embeddings.token_embedding.weight": "token_embedding.weight",
    "text_model.embeddings.position_embedding.weight": "positional_embedding",
    "text_model.final_layer_norm.weight": "ln_final.weight",
    "text_model.final_layer_norm.bias": "ln_final.bias",
}


def _hf_clip_state(text_encoder) -> dict[str, torch.Tensor]:
    """The text encoder's state dict with every key under ``text_model.``.

    transformers >= 5.6 flattened CLIPTextModel (no ``text_model.`` level); checkpoints in the
    wild, CLIPTextModelWithProjection and diffusers' converters keep it.
    """
    nested = ("text_model.", "text_projection.")
    return {k if k.startswith(nested) else "text_model." + k: v for k, v in text_encoder.state_dict().items()}


def open_clip_state_dict(text_encoder) -> dict[str, torch.Tensor]:
    """A Hugging Face CLIP text model's weights under OpenCLIP names (without prefix).

    Per layer the separate q/k/v projections become one ``attn.in_proj_weight`` ``[3W, W]``
    (and ``in_proj_bias`` ``[3W]``), stacked q, k, v as ``torch.nn.MultiheadAttention`` keeps
    them. A ``text_projection.weight`` ``[P, W]`` (CLIPTextModelWithProjection) becomes
    ``text_projection`` ``[W, P]``: OpenCLIP multiplies ``x @ text_projection``. Raises
    ``ValueError`` for a parameter OpenCLIP has no place for.
    """
    out: dict[str, torch.Tensor] = {}
    fused: dict[str, dict[str, torch.Tensor]] = {}
    for key, tensor in _hf_clip_state(text_encoder).items():
        if key in _OPEN_CLIP_FIXED_NAMES:
            out[_OPEN_CLIP_FIXED_NAMES[key]] = tensor
        elif key == "text_projection.weight":
            out["text_projection"] = tensor.T
        elif m := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.(weight|bias)", key):
            fused.setdefault(f"transformer.resblocks.{m[1]}.attn.in_proj_{m[3]}", {})[m[2]] = tensor
        elif m := re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.(.+)\.(weight|bias)", key):
            if m[2] not in _OPEN_CLIP_LAYER_NAMES:
                raise ValueError(f"text encoder parameter {key!r} has no place in the OpenCLIP layout")
            out[f"transformer.resblocks.{m[1]}.{_OPEN_CLIP_LAYER_NAMES[m[2]]}.{m[3]}"] = tensor
        else:
            raise ValueError(f"text encoder parameter {key!r} has no place in the OpenCLIP layout")
    for key, parts in fused.items():
        out[key] = torch.cat([parts["q"], parts["k"], parts["v"]])
    return out


def original_layout_state_dict(unet, vae, text_encoder, text_encoder_2=None, family: str = "sd1"):
    """The models' weights under their original single-file checkpoint names.

    ``family`` ("sd1", "sd2" or "sdxl") chooses where the text encoders go (see the module
    docstring); SDXL needs ``text_encoder_2`` (a CLIPTextModelWithProjection), the others must
    not have one. Returns name → tensor, detached and contiguous; tensors share storage with
    the models where no reshape was needed (meta-device models give meta tensors, which is how
    shapes of the full-size architectures are checked without memory). The VAE mid-block
    attention projections become ``[C, C, 1, 1]`` convolution weights, as in the original
    checkpoints. Raises ``ValueError`` for a model with parameters the layout cannot hold.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if (family == "sdxl") != (text_encoder_2 is not None):
        raise ValueError("SDXL has two text encoders, SD1.x and SD2.x one: text_encoder_2 does not fit the family")
    out: dict[str, torch.Tensor] = {}

    # 1. UNet: rename only; LDM and diffusers use the same tensor shapes.
    unet_state = unet.state_dict()
    for key, ldm_key in unet_key_map(unet_state, unet.config).items():
        out[UNET_PREFIX + ldm_key] = unet_state[key]

    # 2. VAE: rename, and the mid-block attention Linear weights become 1×1 conv weights.
    vae_state = vae.state_dict()
    for key, ldm_key in vae_key_map(vae_state, vae.config).items():
        tensor = vae_state[key]
        if ".mid.attn_1." in ldm_key and ldm_key.endswith("weight") and tensor.ndim == 2:
            tensor = tensor.reshape(*tensor.shape, 1, 1)
        out[VAE_PREFIX + ldm_key] = tensor

    # 3. Text encoders: Hugging Face CLIP names kept, or renamed to OpenCLIP's.
    if family == "sd2":
        text_layout = {OPEN_CLIP_PREFIX + k: v for k, v in open_clip_state_dict(text_encoder).items()}
    else:
        prefix = TEXT_PREFIX if family == "sd1" else SDXL_TEXT_PREFIX
        text_layout = {prefix + k: v for k, v in _hf_clip_state(text_encoder).items()}
    out.update(text_layout)
    if family == "sdxl":
        out.update({SDXL_TEXT_2_PREFIX + k: v for k, v in open_clip_state_dict(text_encoder_2).items()})

    return {key: tensor.detach().contiguous() for key, tensor in out.items()}


def save_original_layout(pipe, path, family: str = "sd1") -> Path:
    """Write ``pipe``'s UNet, VAE and text encoder(s) as one original-layout ``.safetensors`` file.

    ``pipe`` is a diffusers pipeline of ``family`` ("sd1", "sd2" or "sdxl"; text-to-image or
    inpainting): SD1.x and SD2.x pipelines have the same classes, so the family is named, not
    guessed. Returns the path written. The file carries metadata ``{"format": "pt"}`` like
    checkpoints from model sites. Raises ``ValueError`` as ``original_layout_state_dict``.
    """
    from safetensors.torch import save_file

    state = original_layout_state_dict(
        pipe.unet, pipe.vae, pipe.text_encoder, getattr(pipe, "text_encoder_2", None), family
    )
    path = Path(path)
    save_file(state, str(path), metadata={"format": "pt"})
    return path
