"""Where models run, and in which precision. The only place that names a device.

CUDA runs fp16; Apple MPS runs fp16; anything else runs on the CPU in fp32 (fp16 matmuls on
CPU are slow or unsupported). SDXL's VAE overflows in fp16 (black images), so on fp16 devices
its decode is kept in fp32 (see ``vae_needs_fp32``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from inference.errors import ModelError


@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cuda", "mps" or "cpu"
    dtype: torch.dtype
    description: str  # for people: "NVIDIA H100 (79 GiB), fp16"


def choose_device(prefer: str | None = None) -> DevicePlan:
    """Pick the best available device, or the one named by ``prefer`` / ``KILN_DEVICE``.

    Raises ``ModelError`` when a named device is not available here.
    """
    wanted = (prefer or os.environ.get("KILN_DEVICE") or "auto").lower()
    if wanted not in ("auto", "cuda", "mps", "cpu"):
        raise ModelError(f"unknown device '{wanted}': use auto, cuda, mps or cpu.")
    has_cuda = torch.cuda.is_available()
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if wanted == "cuda" and not has_cuda:
        raise ModelError("no CUDA GPU is available here: use --device cpu (slow) or auto.")
    if wanted == "mps" and not has_mps:
        raise ModelError("Apple MPS is not available here: use --device cpu or auto.")
    if wanted in ("auto", "cuda") and has_cuda:
        props = torch.cuda.get_device_properties(0)
        gib = props.total_memory / 2**30
        return DevicePlan("cuda", torch.float16, f"{props.name} ({gib:.0f} GiB), fp16")
    if wanted in ("auto", "mps") and has_mps:
        return DevicePlan("mps", torch.float16, "Apple GPU (MPS), fp16")
    return DevicePlan("cpu", torch.float32, f"CPU ({torch.get_num_threads()} threads), fp32")


def vae_needs_fp32(family: str, dtype: torch.dtype) -> bool:
    """True when this family's VAE overflows in ``dtype`` and must decode in fp32."""
    return family == "sdxl" and dtype == torch.float16
