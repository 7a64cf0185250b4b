"""Memory modes: how a loaded model trades speed for device memory, and what to do when a job
runs out of it anyway.

A ``MemoryPlan`` is a frozen set of diffusers switches:
  * attention_slicing: attention computed in slices (``pipe.enable_attention_slicing``). With
    PyTorch's SDPA attention is already memory-efficient on CUDA, so this saves little there
    and costs some speed; it helps most on Apple MPS.
  * vae_tiling / vae_slicing: the VAE encodes and decodes in overlapping tiles / one image of a
    batch at a time (``pipe.vae.enable_tiling`` / ``enable_slicing``). Tiling is what keeps the
    decode of a large image small; it changes nothing for images within one tile.
  * model_offload: each whole model (text encoder, UNet, VAE) moves to the device only while it
    runs (``pipe.enable_model_cpu_offload``): the device holds the largest model, not all of
    them; each job moves ~the whole model once (seconds).
  * sequential_offload: every layer moves to the device only while it runs
    (``pipe.enable_sequential_cpu_offload``): the least device memory, several times slower.
The named modes a person picks are ``MEMORY_MODES`` ("none", "slicing", "offload",
"sequential") plus "auto", which ``auto_memory_plan`` resolves per job from free memory and
image size. Offloading moves weights between device and system memory, so on the CPU it means
nothing: auto never picks it there and an explicit choice is refused with the reason.

Placement follows diffusers' rule that offloading must start from weights in system memory
(``enable_model_cpu_offload`` and friends install hooks that move modules on demand; a pipeline
moved to the GPU first would have needed the memory offloading is meant to save): a model is
loaded on the CPU and ``use_memory_plan`` places it — ``pipe.to(device)`` for the plans without
offload, the hooks for the others — and moves between plans when a job needs another one.

Out of memory: ``run_with_memory_fallback`` runs an attempt; on an out-of-memory error it drops
the failed attempt's frames (their tensors), frees the device cache, and runs the attempt once
more one step lighter along ``LADDER`` (none → slicing → + model offload → + sequential offload).
The lighter plan is for that job only: the next job starts from its normal plan again, because
an OOM is often one large image or another program's moment of need, and a light plan kept for
the session would make every later job slower (sequential offload several times). Auto
re-measures free memory for every job, so memory that stays short is planned for anyway.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, TypeVar

import torch

from inference.hardware.devices import is_accelerator, release_cached_memory, vae_needs_fp32
from inference.core.errors import InvalidRequest, KilnError

if TYPE_CHECKING:
    from inference.models.loading import LoadedModel

log = logging.getLogger(__name__)

GiB = 2**30


@dataclass(frozen=True)
class MemoryPlan:
    """Which of diffusers' memory savers a pipeline runs with (see the module docstring).

    model_offload and sequential_offload exclude each other (``ValueError``).
    """

    attention_slicing: bool = False
    vae_slicing: bool = False
    vae_tiling: bool = False
    model_offload: bool = False
    sequential_offload: bool = False

    def __post_init__(self) -> None:
        if self.model_offload and self.sequential_offload:
            raise ValueError("model_offload and sequential_offload exclude each other")

    @property
    def offloads(self) -> bool:
        return self.model_offload or self.sequential_offload

    @property
    def placement(self) -> str:
        """Where the weights live: "device", "model offload" or "sequential offload"."""
        return "sequential offload" if self.sequential_offload else "model offload" if self.model_offload else "device"

    def with_(self, other: MemoryPlan) -> MemoryPlan:
        """Every saver of ``self`` and ``other``; sequential offload supersedes model offload."""
        flags = {f.name: getattr(self, f.name) or getattr(other, f.name) for f in fields(self)}
        if flags["sequential_offload"]:
            flags["model_offload"] = False
        return MemoryPlan(**flags)

    def describe(self) -> str:
        """For people: "VAE tiling, VAE slicing, attention slicing and model offload"."""
        named = (("VAE tiling", self.vae_tiling), ("VAE slicing", self.vae_slicing),
                 ("attention slicing", self.attention_slicing), (self.placement, self.offloads))
        parts = [name for name, on in named if on]
        if not parts:
            return "no memory savings"
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


NO_SAVINGS = MemoryPlan()
SLICING = MemoryPlan(attention_slicing=True, vae_slicing=True, vae_tiling=True)
MODEL_OFFLOAD = MemoryPlan(model_offload=True)
SEQUENTIAL_OFFLOAD = MemoryPlan(sequential_offload=True)

# Names a person picks (CLI --memory, the GUI's setting); "auto" is resolved per job.
MEMORY_MODES: dict[str, MemoryPlan] = {
    "none": NO_SAVINGS,
    "slicing": SLICING,
    "offload": MODEL_OFFLOAD,
    "sequential": SEQUENTIAL_OFFLOAD,
}
MEMORY_MODE_NAMES = ("auto", *MEMORY_MODES)

# Lightest-last steps an out-of-memory retry walks; each keeps the savers of the one before.
LADDER = (NO_SAVINGS, SLICING, SLICING.with_(MODEL_OFFLOAD), SLICING.with_(SEQUENTIAL_OFFLOAD))


def memory_plan_for_mode(name: str, device: str | None) -> MemoryPlan | None:
    """The plan for mode ``name`` on ``device``; ``None`` for "auto" (decided per job).

    Raises ``InvalidRequest`` for unknown names, and for offloading on a device without memory
    of its own (the CPU), saying why and what to pick; ``device=None`` checks the name only.
    """
    name = (name or "auto").lower()
    if name == "auto":
        return None
    if name not in MEMORY_MODES:
        raise InvalidRequest(f"unknown memory mode '{name}': use {', '.join(MEMORY_MODE_NAMES)}.")
    plan = MEMORY_MODES[name]
    if plan.offloads and device is not None and not is_accelerator(device):
        raise InvalidRequest(
            f"memory mode '{name}' moves weights between the GPU and system memory; on the CPU they are "
            "already in system memory, so it would only slow things down. Use auto or none, or slicing "
            "to lower the peak memory of large images."
        )
    return plan


def lighter_plan(plan: MemoryPlan, device: str) -> MemoryPlan | None:
    """The next step along ``LADDER`` that saves more than ``plan`` does, keeping ``plan``'s own
    savers; offload steps only on devices with memory of their own. ``None``: nothing lighter."""
    for step in LADDER:
        if step.offloads and not is_accelerator(device):
            continue
        lighter = plan.with_(step)
        if lighter != plan:
            return lighter
    return None


# --- auto: estimates of what a job needs --------------------------------------------------

# Parameters of each family's released checkpoints, in millions: UNet, text encoder(s), VAE.
# At 2 bytes each: SD1.5 ≈ 2.1 GB, SD2 ≈ 2.6 GB, SDXL ≈ 6.9 GB.
_PARAMS_M = {"sd1": (860, 123, 84), "sd2": (866, 340, 84), "sdxl": (2567, 817, 84)}
# Peak activation memory per generated pixel at 2 bytes per value (fp16/bf16; fp32 doubles it),
# orders of magnitude from published peaks, not measured here: the UNet with classifier-free
# guidance (batch 2) and SDPA attention — SD1.5 at 512² ≈ 0.75 GiB, SDXL (no attention at full
# latent resolution) at 1024² ≈ 2 GiB; the VAE decode, whose last blocks run 128–256 channels at
# full image resolution — 512² ≈ 0.75 GiB, 1024² ≈ 3 GiB. Underestimates are caught by the
# out-of-memory retry; overestimates cost speed, so they lean low.
_UNET_BYTES_PER_PX = {"sd1": 3072, "sd2": 3072, "sdxl": 2048}
_VAE_BYTES_PER_PX = 3072
# VAE tiling decodes tiles of the VAE's own sample size; an image within one tile is not tiled.
_VAE_TILE_SIDE_PX = {"sd1": 512, "sd2": 768, "sdxl": 1024}
# Kept free besides the estimate: allocator fragmentation, cuBLAS/cuDNN workspaces, previews.
_MARGIN_BYTES = GiB // 2
_MARGIN_FRACTION = 0.05  # of the device's total memory


def auto_memory_plan(free_bytes: int | None, total_bytes: int | None, family: str, width_px: int, height_px: int,
                     dtype: torch.dtype, *, device: str = "cuda", weights_bytes: int | None = None) -> MemoryPlan:
    """The lightest-on-speed plan expected to fit a width_px × height_px job in free_bytes.

    free_bytes: device memory this job may use (``inference.hardware.devices.memory_budget``), ``None``
    when unknown (→ no savings; an OOM retry still protects the job). total_bytes: the device's
    size, for the safety margin (0.5 GiB + 5 %). family: "sd1", "sd2" or "sdxl". dtype: the
    weights' dtype. device: on the CPU (no memory of its own) the answer is always no savings.
    weights_bytes: the loaded model's real size; ``None`` → the family's released size.

    Peak need per plan (W: weights, A: activations, see the constants above):
      none:        W_all + max(A_unet, A_vae)             everything resident, one phase at a time
      slicing:     W_all + max(A_unet, A_vae_tiled)       the decode shrinks to one tile
      + offload:   max(W_unet + A_unet, W_vae + A_vae_tiled)   one model resident at a time
      + sequential: whatever is left (one layer resident) — the last resort
    """
    if not is_accelerator(device) or free_bytes is None:
        return NO_SAVINGS
    unet_m, text_m, vae_m = _PARAMS_M.get(family, _PARAMS_M["sd1"])
    value_bytes = torch.finfo(dtype).bits // 8
    if weights_bytes is None:
        weights_bytes = (unet_m + text_m + vae_m) * 10**6 * value_bytes
    unet_w = weights_bytes * unet_m // (unet_m + text_m + vae_m)
    vae_w = weights_bytes * vae_m // (unet_m + text_m + vae_m)
    vae_value_bytes = 4 if vae_needs_fp32(family, dtype) else value_bytes  # SDXL's VAE decodes in fp32
    pixels = width_px * height_px
    tile_px = _VAE_TILE_SIDE_PX.get(family, 512) ** 2
    a_unet = pixels * _UNET_BYTES_PER_PX.get(family, 3072) * value_bytes // 2
    a_vae = pixels * _VAE_BYTES_PER_PX * vae_value_bytes // 2
    a_vae_tiled = min(pixels, tile_px) * _VAE_BYTES_PER_PX * vae_value_bytes // 2
    budget = free_bytes - _MARGIN_BYTES - int(_MARGIN_FRACTION * (total_bytes or 0))
    if weights_bytes + max(a_unet, a_vae) <= budget:
        return NO_SAVINGS
    if weights_bytes + max(a_unet, a_vae_tiled) <= budget:
        return SLICING
    if max(unet_w + a_unet, vae_w + a_vae_tiled) <= budget:
        return LADDER[2]
    return LADDER[3]


# --- applying a plan to a loaded model ------------------------------------------------------


def use_memory_plan(model: LoadedModel, plan: MemoryPlan, pipe) -> None:
    """Make ``pipe`` (one of ``model``'s pipelines) run under ``plan`` on ``model.plan.device``.

    Idempotent and cheap when nothing changes. Placement changes (device ↔ offload kinds) first
    undo the old one (hooks removed from the shared modules, weights back in system memory),
    then place anew. Model offload's hooks are per pipeline (each pipeline re-installs its own
    after every call), so the pipeline about to run gets them if it has none. Records the
    applied plan in ``model.memory``.
    """
    device, current = model.plan.device, model.memory
    base = model.base
    # 1. Placement: weights on the device, or offload hooks
    if current is None or current.placement != plan.placement:
        if plan.offloads or (current is not None and current.offloads):
            release_placement(model)  # offloading starts from system memory; hooks come off
        if plan.sequential_offload:
            base.enable_sequential_cpu_offload(device=device)
        elif not plan.model_offload:
            base.to(device)
        # model offload: installed per pipeline below
    # 2. Slicing and tiling: switches on the shared modules
    _switch_savers(base, model.memory or NO_SAVINGS, plan)
    model.memory = plan
    # 3. Model offload hooks for the pipeline that runs next
    if plan.model_offload and not getattr(pipe, "_all_hooks", None):
        pipe.enable_model_cpu_offload(device=device)


def release_placement(model: LoadedModel) -> None:
    """Back to a model as loaded: hooks off every shared module (weights that sequential
    offload had parked come back from its store), every pipeline's own hook list cleared — else
    a pipeline would re-install model offload after its next call — slicing and tiling off, and
    the weights in system memory. ``model.memory`` becomes ``None`` (not placed);
    ``use_memory_plan`` places it again."""
    model.base.remove_all_hooks()  # the modules are shared: this clears them for every pipeline
    for pipe in model.pipelines():
        pipe._all_hooks = []
    _switch_savers(model.base, model.memory or NO_SAVINGS, NO_SAVINGS)
    model.base.to("cpu")
    model.memory = None


def _switch_savers(base, before: MemoryPlan, plan: MemoryPlan) -> None:
    """Turn slicing and tiling from ``before``'s settings to ``plan``'s, touching only what
    changes (each switch walks every attention module)."""
    if plan.attention_slicing != before.attention_slicing:
        if plan.attention_slicing:
            base.enable_attention_slicing()
        else:
            base.disable_attention_slicing()
    if plan.vae_tiling != before.vae_tiling:
        if plan.vae_tiling:
            base.vae.enable_tiling()
        else:
            base.vae.disable_tiling()
    if plan.vae_slicing != before.vae_slicing:
        if plan.vae_slicing:
            base.vae.enable_slicing()
        else:
            base.vae.disable_slicing()


# --- out of memory --------------------------------------------------------------------------


class OutOfMemory(KilnError):
    """A job ran out of device memory, also in the lighter plan it was retried in."""


def is_out_of_memory(exc: BaseException) -> bool:
    """torch's OutOfMemoryError (CUDA, and MPS on recent torch); by their RuntimeError text:
    MPS on older torch, CUDA's own "out of memory" error, cuBLAS failing to allocate its
    workspace (a full GPU), and the CPU allocator's refusal."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "out of memory" in text.lower() or "CUBLAS_STATUS_ALLOC_FAILED" in text or "can't allocate memory" in text
    )


T = TypeVar("T")


def run_with_memory_fallback(attempt: Callable[[MemoryPlan], T], plan: MemoryPlan, device: str,
                             notify: Callable[[str], None]) -> tuple[T, str | None]:
    """``attempt(plan)``; on out-of-memory, once more with ``lighter_plan(plan, device)``.

    Returns (result, notice): notice is ``None``, or the sentence ``notify`` was called with
    before the retry (for the job's final event). Memory is freed for real between the attempts:
    the except block only takes the error's text and clears the frames of its traceback; the
    cache is emptied after the block is left, when nothing refers to the failed attempt.
    Raises ``OutOfMemory`` (a message a person can act on) when the retry fails the same way or
    nothing lighter exists; any other exception passes through unchanged.
    """
    # 1. The normal plan
    try:
        return attempt(plan), None
    except Exception as exc:  # noqa: BLE001 — only out-of-memory is handled, the rest re-raised
        if not is_out_of_memory(exc):
            raise
        _drop_frames(exc)
    # 2. Out of the except block: the error, its traceback and their tensors are gone
    release_cached_memory(device)
    lighter = lighter_plan(plan, device)
    if lighter is None:
        raise OutOfMemory(_advice(plan, device, retried=False))
    notice = (f"Ran out of memory; retried this job with {lighter.describe()} (slower). "
              "The next job uses the normal memory settings again.")
    log.warning("out of memory with %s; retrying with %s", plan.describe(), lighter.describe())
    notify(notice)
    # 3. Once more, lighter
    try:
        return attempt(lighter), notice
    except Exception as exc:  # noqa: BLE001
        if not is_out_of_memory(exc):
            raise
        _drop_frames(exc)
    release_cached_memory(device)
    raise OutOfMemory(_advice(lighter, device, retried=True))


def _drop_frames(exc: BaseException) -> None:
    """Free the locals of every finished frame in ``exc``'s traceback (and of the errors it
    chains to), and detach the tracebacks, so nothing the failed attempt allocated stays alive
    through the exception object."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc.__traceback__ = None
        exc = exc.__cause__ or exc.__context__


def _advice(plan: MemoryPlan, device: str, retried: bool) -> str:
    tried = f"even after a retry with {plan.describe()}" if retried else f"with {plan.describe()}"
    if not is_accelerator(device):
        return f"Out of memory {tried}. Try a smaller image, or close other programs to free system memory."
    more = "" if plan.sequential_offload else ", or choose the sequential offload memory mode (slowest, least memory)"
    return f"Out of GPU memory {tried}. Try a smaller image, close other programs that use the GPU{more}."
