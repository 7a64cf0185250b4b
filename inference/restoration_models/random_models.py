"""Random-weight restoration models in real architectures, so every feature can be tried offline.

``make_restoration_test_model(out, kind)`` builds spandrel's own architecture class for the kind —
upscale: ESRGAN's RRDBNet ×4 (Real-ESRGAN's generator), face: GFPGAN v1.4 (clean), fill: LaMa —
with random weights and writes its state dict as ``.safetensors``. The loader then recognises it
exactly as it recognises a downloaded file. ``size="tiny"`` gives a small RRDBNet or Compact
(SRVGG) network for fast tests; GFPGAN and LaMa exist in one size only.
"""

from __future__ import annotations

from pathlib import Path

RESTORATION_KINDS = ("upscale", "face", "fill")


def build_architecture(kind: str, size: str = "full", scale: int = 4):
    """The torch module (random weights, seeded) of a real architecture for ``kind``."""
    import torch

    torch.manual_seed(0)
    if kind == "upscale":
        from spandrel.architectures.ESRGAN import ESRGAN

        if size == "tiny":
            return ESRGAN(num_filters=8, num_blocks=1, scale=scale)
        return ESRGAN(scale=scale)  # 64 filters, 23 RRDB blocks: Real-ESRGAN x4plus's shape
    if kind == "compact":
        from spandrel.architectures.Compact import Compact

        return Compact(num_feat=8, num_conv=2, upscale=scale) if size == "tiny" else Compact(upscale=scale)
    if kind == "face":
        from spandrel.architectures.GFPGAN import GFPGAN

        return GFPGAN(out_size=512, num_style_feat=512, channel_multiplier=2, decoder_load_path=None,
                      fix_decoder=False, num_mlp=8, input_is_latent=True, different_w=True, narrow=1,
                      sft_half=True)
    if kind == "fill":
        from spandrel.architectures.LaMa import LaMa

        return LaMa(in_nc=4, out_nc=3)  # the image and the mask in
    raise ValueError(f"unknown restoration kind {kind!r}; choose one of {', '.join(RESTORATION_KINDS)}")


def make_restoration_test_model(out, kind: str, size: str = "full", scale: int = 4) -> Path:
    """Write a random-weight ``kind`` model to ``out`` (a .safetensors path); returns the path."""
    from safetensors.torch import save_file

    out = Path(out)
    if out.suffix.lower() != ".safetensors":
        out = out.with_suffix(".safetensors")
    module = build_architecture(kind, size, scale)
    with_noise = {}
    for name, tensor in module.state_dict().items():
        tensor = tensor.detach().contiguous()
        if kind == "fill" and tensor.is_floating_point() and "running_var" in name:
            tensor = tensor.abs() + 1e-3  # batch-norm statistics must stay positive
        with_noise[name] = tensor.clone()
    out.parent.mkdir(parents=True, exist_ok=True)
    save_file(with_noise, str(out), metadata={"kiln": f"random-weight test model ({kind})"})
    return out
