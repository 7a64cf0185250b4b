"""The trained LoRA as a ``.safetensors`` file, with metadata saying what it was taught on.

Two layouts: ``diffusers`` (the PEFT names diffusers saves, ``unet.…lora_A.weight``: Kiln's LoRA
list and diffusers' ``load_lora_weights`` read it) and ``kohya`` (``lora_unet_…lora_down.weight``
with an ``alpha`` per module: what AUTOMATIC1111 and ComfyUI read; Kiln and diffusers read it
too). Written to a temporary file and renamed: a failed write never leaves half a LoRA.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from inference.core.errors import KilnError


LAYOUTS = ("diffusers", "kohya")
KOHYA_PREFIXES = {"unet": "lora_unet", "text_encoder": "lora_te1", "text_encoder_2": "lora_te2"}


def save_lora_file(adapter_state: dict, out: Path, metadata: dict, layout: str = "diffusers",
                   single_text_encoder: bool = True) -> None:
    """Write ``adapter_state`` (the adapters' weights, prefixed by module) to ``out`` in ``layout``;
    ``metadata`` values become strings (safetensors metadata is text). ``single_text_encoder``:
    the model has one (kohya names it ``lora_te``). Raises ``KilnError`` on a write error."""
    import torch
    from safetensors.torch import save_file

    # PEFT key names throughout (the older "lora.down" names exist for attention layers only, and
    # a file mixing both is misread), each under its module's prefix: unet., text_encoder., …
    tensors = {name: value.detach().to("cpu", torch.float32).contiguous() for name, value in adapter_state.items()}
    if layout == "kohya":
        tensors = kohya_layout(tensors, single_text_encoder)
    text = {key: value if isinstance(value, str) else json.dumps(value) for key, value in metadata.items()}
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, temporary, metadata=text)
        os.replace(temporary, out)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise KilnError(f"Cannot write the LoRA '{out}' ({exc.strerror or exc}).") from exc


def kohya_layout(tensors: dict, single_text_encoder: bool) -> dict:
    """PEFT names → kohya's: ``unet.a.b.lora_A.weight`` → ``lora_unet_a_b.lora_down.weight``
    (``lora_B`` → ``lora_up``), and ``lora_unet_a_b.alpha`` = the rank (so the scale stays 1)."""
    import torch

    prefixes = dict(KOHYA_PREFIXES, text_encoder="lora_te" if single_text_encoder else "lora_te1")
    out = {}
    for name, value in tensors.items():
        owner, rest = name.split(".", 1)
        module, kind = rest.rsplit(".lora_", 1)  # "a.b", "A.weight"
        key = f"{prefixes[owner]}_{module.replace('.', '_')}"
        out[f"{key}.lora_{'down' if kind.startswith('A') else 'up'}.weight"] = value
        if kind.startswith("A"):
            out[f"{key}.alpha"] = torch.tensor(float(value.shape[0]))
    return out
