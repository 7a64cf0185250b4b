"""The trained LoRA as a ``.safetensors`` file diffusers' ``load_lora_weights`` and Kiln's LoRA
list read: the UNet's adapter weights in the PEFT layout diffusers saves (``unet.…lora_A.weight``), with
metadata saying what it was taught on. Written to a temporary file and renamed: a failed write
never leaves half a LoRA under the name."""

from __future__ import annotations

import json
import os
from pathlib import Path

from inference.core.errors import KilnError


def save_lora_file(adapter_state: dict, out: Path, metadata: dict) -> None:
    """Write ``adapter_state`` (the adapters' weights, prefixed by module) to ``out``; ``metadata``
    values become strings (safetensors metadata is text). Raises ``KilnError`` on a write error."""
    import torch
    from safetensors.torch import save_file

    # PEFT key names throughout (the older "lora.down" names exist for attention layers only, and
    # a file mixing both is misread), each under its module's prefix: unet., text_encoder., …
    tensors = {name: value.detach().to("cpu", torch.float32).contiguous() for name, value in adapter_state.items()}
    text = {key: value if isinstance(value, str) else json.dumps(value) for key, value in metadata.items()}
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, temporary, metadata=text)
        os.replace(temporary, out)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise KilnError(f"Cannot write the LoRA '{out}' ({exc.strerror or exc}).") from exc
