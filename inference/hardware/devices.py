"""Where models run, and in which precision. The only place that names a device.

Precision ("auto", "fp16", "bf16", "fp32") is chosen per engine, in its ``DevicePlan``:
  * auto: fp16 on CUDA and Apple MPS (half the memory of fp32, and the GPUs' fast path);
    fp32 on the CPU.
  * fp16 on the CPU is refused, not silently replaced: most CPUs have no half-precision
    arithmetic, so PyTorch emulates it (several times slower than fp32) and some layers do not
    support it at all. A person who asked for it learns why and what to pick instead.
  * bf16 is refused on a CUDA GPU without bf16 support (before Ampere) and on an MPS backend
    without it (before macOS 14); on the CPU it is allowed (fast on CPUs with AVX-512 BF16 or
    AMX, slow but correct elsewhere).
SDXL's VAE overflows in fp16 (black images), so in fp16 its decode is kept in fp32 (see
``vae_needs_fp32``); bf16 has fp32's range and needs no such rule.

``device_info`` describes the device for people (the GUI's device panel); ``memory_budget``
is what the memory planner (``inference.hardware.memory``) may count on.
"""

from __future__ import annotations

import gc
import os
import platform
from dataclasses import dataclass

import torch

from inference.core.errors import ModelError

PRECISIONS = ("auto", "fp16", "bf16", "fp32")
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


@dataclass(frozen=True)
class DevicePlan:
    device: str  # "cuda", "mps" or "cpu"
    dtype: torch.dtype
    description: str  # for people: "NVIDIA H100 (79 GiB), fp16"


def precision_name(dtype: torch.dtype) -> str:
    """"fp16", "bf16" or "fp32" for one of the dtypes a DevicePlan holds."""
    return {dtype_: name for name, dtype_ in _DTYPES.items()}.get(dtype, str(dtype).removeprefix("torch."))


def choose_device(prefer: str | None = None, precision: str | None = None) -> DevicePlan:
    """Pick the best available device, or the one named by ``prefer`` / ``KILN_DEVICE``, and
    its precision: ``precision`` / ``KILN_PRECISION``, one of ``PRECISIONS`` ("auto" when unset).

    Raises ``ModelError`` when a named device is not available here, or the precision is unknown
    or not usable on the chosen device (the message says which one to pick instead).
    """
    wanted = (prefer or os.environ.get("KILN_DEVICE") or "auto").lower()
    if wanted not in ("auto", "cuda", "mps", "cpu"):
        raise ModelError(f"unknown device '{wanted}': use auto, cuda, mps or cpu.")
    precision = (precision or os.environ.get("KILN_PRECISION") or "auto").lower()
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision '{precision}': use {', '.join(PRECISIONS[:-1])} or {PRECISIONS[-1]}.")
    has_cuda = torch.cuda.is_available()
    has_mps = _has_mps()
    if wanted == "cuda" and not has_cuda:
        raise ModelError("no CUDA GPU is available here: use --device cpu (slow) or auto.")
    if wanted == "mps" and not has_mps:
        raise ModelError("Apple MPS is not available here: use --device cpu or auto.")
    if wanted in ("auto", "cuda") and has_cuda:
        props = torch.cuda.get_device_properties(0)
        name = f"{props.name} ({props.total_memory / 2**30:.0f} GiB)"
        return _plan("cuda", name, precision)
    if wanted in ("auto", "mps") and has_mps:
        return _plan("mps", "Apple GPU (MPS)", precision)
    return _plan("cpu", f"CPU ({torch.get_num_threads()} threads)", precision)


def _plan(device: str, name: str, precision: str) -> DevicePlan:
    """The plan for ``precision`` on ``device``, refusing precisions the device cannot run well."""
    if precision == "auto":
        precision = "fp32" if device == "cpu" else "fp16"
    if precision == "fp16" and device == "cpu":
        raise ModelError(
            "fp16 on the CPU is very slow (most CPUs have no half-precision arithmetic, so it is emulated) "
            "and some layers do not support it: use fp32 (what auto picks on the CPU), or bf16 on a CPU "
            "with AVX-512 BF16 or AMX."
        )
    if precision == "bf16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        raise ModelError(
            f"this GPU, {name}, has no bf16 support (it needs an NVIDIA Ampere card or newer): "
            "use fp16 (what auto picks) or fp32."
        )
    if precision == "bf16" and device == "mps" and not _mps_has_bf16():
        raise ModelError("bf16 on Apple GPUs needs macOS 14 or newer: use fp16 (what auto picks) or fp32.")
    return DevicePlan(device, _DTYPES[precision], f"{name}, {precision}")


def _has_mps() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def _mps_has_bf16() -> bool:
    try:
        torch.ones(1, dtype=torch.bfloat16, device="mps")
    except (RuntimeError, TypeError):
        return False
    return True


def vae_needs_fp32(family: str, dtype: torch.dtype) -> bool:
    """True when this family's VAE overflows in ``dtype`` and must decode in fp32."""
    return family == "sdxl" and dtype == torch.float16


def is_accelerator(device: str) -> bool:
    """Whether ``device`` has memory of its own that weights can be offloaded from (CUDA, MPS).

    On the CPU the weights already live in system memory, so offloading them saves nothing.
    """
    return device in ("cuda", "mps")


# --- memory, for the planner and for people -----------------------------------------------


@dataclass(frozen=True)
class DeviceInfo:
    """The device as the GUI's device panel shows it.

    device: "cuda", "mps" or "cpu". name: the GPU's or CPU's model name. total_bytes and
    free_bytes: the GPU's memory (CUDA: as the driver reports it, other programs' use
    included), or system RAM for the CPU and for MPS (Apple GPUs share system memory);
    ``None`` where the system does not say. threads: the CPU threads torch uses (CPU only).
    """

    device: str
    name: str
    total_bytes: int | None
    free_bytes: int | None
    threads: int | None = None

    def summary(self) -> str:
        """One line for people: "NVIDIA H100: 71.2 of 79.1 GiB free"."""
        name = f"{self.name} ({self.threads} threads)" if self.threads else self.name
        what = "" if self.device == "cuda" else " RAM"
        if self.total_bytes is None:
            return name
        if self.free_bytes is None:
            return f"{name}: {self.total_bytes / 2**30:.1f} GiB{what}"
        return f"{name}: {self.free_bytes / 2**30:.1f} of {self.total_bytes / 2**30:.1f} GiB{what} free"


def device_info(device: str | None = None) -> DeviceInfo:
    """Describe ``device`` (default: the one ``choose_device`` picks) with its memory now."""
    device = device or choose_device().device
    if device == "cuda":
        free_bytes, total_bytes = torch.cuda.mem_get_info()
        return DeviceInfo("cuda", torch.cuda.get_device_name(), total_bytes, free_bytes)
    available, total = system_memory()
    if device == "mps":
        return DeviceInfo("mps", "Apple GPU (MPS), shared memory", total, available)
    return DeviceInfo("cpu", _cpu_name(), total, available, torch.get_num_threads())


def memory_budget(device: str) -> tuple[int | None, int | None]:
    """(available_bytes, total_bytes) Kiln may plan with on ``device``; ``None`` when unknown.

    available counts the device's free memory plus what this process' allocator already holds
    (our own weights and cached blocks, which a new memory plan may rearrange), so a model that
    is loaded already does not make the next job look short of memory. Other programs' use is
    excluded. On the CPU and MPS (unified memory) it is system RAM available plus, for MPS, what
    the MPS allocator holds, capped by MPS's recommended working-set limit.
    """
    if device == "cuda":
        free_bytes, total_bytes = torch.cuda.mem_get_info()
        return free_bytes + torch.cuda.memory_reserved(), total_bytes
    available, total = system_memory()
    if device == "mps":
        try:
            limit = torch.mps.recommended_max_memory()
            held = torch.mps.driver_allocated_memory()
        except (AttributeError, RuntimeError):
            return available, total
        if available is None:
            return limit, limit
        return min(limit, available + held), limit
    return available, total


def release_cached_memory(device: str) -> None:
    """Collect garbage (cycles included), then return the allocator's cached blocks to the
    device, so freed memory is really free for the next attempt and for other programs."""
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    elif device == "mps":
        torch.mps.empty_cache()


def system_memory() -> tuple[int | None, int | None]:
    """(available_bytes, total_bytes) of system RAM; ``None`` where the system does not say.

    Linux: /proc/meminfo's MemAvailable (what can be allocated without swapping, page cache
    included). Elsewhere: psutil if present (accelerate depends on it), else sysconf.
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as file:
            fields = dict(line.split(":", 1) for line in file if ":" in line)
        kib = {key: int(value.split()[0]) for key, value in fields.items() if key in ("MemTotal", "MemAvailable")}
        return kib.get("MemAvailable", 0) * 1024 or None, kib["MemTotal"] * 1024
    except (OSError, KeyError, ValueError):
        pass
    try:
        import psutil

        memory = psutil.virtual_memory()
        return int(memory.available), int(memory.total)
    except ImportError:
        pass
    try:
        page = os.sysconf("SC_PAGE_SIZE")
        return None, page * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None, None


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as file:
            for line in file:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "CPU"
