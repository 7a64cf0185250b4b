"""Opening a restoration model file: safely, and saying what it is.

spandrel recognises the architecture (ESRGAN, Real-ESRGAN compact, SwinIR, HAT, SPAN, DAT, GFPGAN,
RestoreFormer, LaMa…) and its scale from the weights alone. Kiln opens the weights itself first:

* ``.safetensors``: the header is validated (``inference.models.checkpoint_format``), then read.
* ``.pth`` / ``.pt`` / ``.ckpt``: only through ``torch.load(weights_only=True)``, torch's restricted
  unpickler that builds tensors and plain containers and refuses everything else — a file that needs
  more (code, custom classes, TorchScript) is refused with the reason, and nothing in it runs.

Architectures with non-commercial code or weights live in ``spandrel_extra_arches`` (CodeFormer,
DDColor, MAT…); Kiln registers them only when the caller passes ``allow_noncommercial=True`` (the user
turned them on) and the package is installed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inference.core.errors import ModelError, UnsafeCheckpoint

# What a model is for, from spandrel's purpose
KINDS = {"SR": "upscale", "FaceSR": "face", "Inpainting": "fill", "Restoration": "restore"}
KIND_NAMES = {"upscale": "an upscaler", "face": "a face restorer", "fill": "a fill (inpainting) model",
              "restore": "a restoration model (same size out)", "detect": "a face detector"}
PICKLE_SUFFIXES = {".pth", ".pt", ".ckpt", ".bin"}
NONCOMMERCIAL = {  # architecture id → licence, for those spandrel keeps apart
    "CodeFormer": "S-Lab License 1.0 (non-commercial)",
    "DDColor": "CC BY-NC-SA 4.0 (non-commercial)",
    "MAT": "CC BY-NC 4.0 (non-commercial)",
    "SRFormer": "non-commercial",
    "FeMaSR": "CC BY-NC-SA 4.0 (non-commercial)",
    "M3SNet": "non-commercial",
    "Restormer": "non-commercial",
}
_lock = threading.Lock()
_extras_installed = {"done": False}


@dataclass(frozen=True)
class RestorationModel:
    """A loaded model: ``descriptor`` is spandrel's (call it with NCHW float 0..1)."""

    path: Path
    kind: str  # "upscale", "face", "fill" or "restore"
    scale: int
    architecture: str
    licence: str
    size_bytes: int
    descriptor: Any = field(repr=False, compare=False)
    device: str = "cpu"

    def describe(self) -> str:
        scale = f" ×{self.scale}" if self.kind == "upscale" else ""
        return f"{self.architecture}{scale} — {KIND_NAMES[self.kind]} ({self.licence})"


def read_state_dict(path) -> dict:
    """The tensors of ``path`` (safetensors, or a plain-weights pickle through the restricted loader)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"There is no model file at {path}. Check the path, or choose the file again.")
    if path.suffix.lower() == ".onnx":
        raise ModelError(f"{path.name} is an ONNX file: Kiln reads ONNX files only as face detectors (Find faces, "
                         "--find-faces). Restoration models are .safetensors or .pth files.")
    if path.suffix.lower() in PICKLE_SUFFIXES and not _looks_safetensors(path):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)  # never a full unpickle
        except Exception as exc:  # noqa: BLE001 - UnpicklingError, zip/EOF errors, TorchScript archives
            raise _refused_pickle(path, exc) from None
    else:
        from safetensors.torch import load_file

        from inference.models.checkpoint_format import check_checkpoint_file

        check_checkpoint_file(path)  # damaged, truncated, renamed pickles, images: each named
        state = load_file(str(path), device="cpu")
    if not isinstance(state, dict) or not state:
        raise ModelError(f"{path.name} holds no model weights (an empty or non-weights file).")
    return state


def load_restoration_model(path, allow_noncommercial: bool = False, device: str = "cpu") -> RestorationModel:
    """Open ``path`` and recognise it. Raises ``ModelError`` (unknown architecture, damaged file,
    a non-commercial architecture not turned on) or ``UnsafeCheckpoint`` (a pickle needing more than
    weights); the message names the file and what to do."""
    from spandrel import MAIN_REGISTRY, ModelLoader, UnsupportedModelError, canonicalize_state_dict

    path = Path(path)
    state = canonicalize_state_dict(read_state_dict(path))
    registry = MAIN_REGISTRY
    if allow_noncommercial:
        registry = _with_noncommercial()
    try:
        with _lock:  # spandrel's registry is shared
            descriptor = ModelLoader(device="cpu", registry=registry).load_from_state_dict(state)
    except UnsupportedModelError:
        raise ModelError(_unknown_architecture(path, allow_noncommercial)) from None
    except (KeyError, RuntimeError, ValueError, IndexError) as exc:
        raise ModelError(f"{path.name} looks like a known architecture but its weights do not fit it "
                         f"({type(exc).__name__}: {str(exc)[:160]}). The file may be damaged or a variant "
                         "Kiln cannot read.") from None
    arch = descriptor.architecture.id
    if arch in NONCOMMERCIAL and not allow_noncommercial:
        raise ModelError(_noncommercial_refusal(path, arch))
    descriptor = descriptor.to(device).eval()
    return RestorationModel(
        path=path, kind=KINDS.get(descriptor.purpose, "restore"), scale=int(descriptor.scale),
        architecture=descriptor.architecture.name, licence=NONCOMMERCIAL.get(arch, "permissive licence"),
        size_bytes=path.stat().st_size, descriptor=descriptor, device=device,
    )


def require_kind(model: RestorationModel, kind: str, action: str) -> None:
    """Refuse a model of the wrong kind for ``action`` (e.g. a face model given to Upscale)."""
    if model.kind != kind:
        raise ModelError(f"{model.path.name} is {KIND_NAMES[model.kind]} ({model.architecture}), not "
                         f"{KIND_NAMES[kind]}: {action} needs {KIND_NAMES[kind]}. Choose another model.")


def _looks_safetensors(path: Path) -> bool:
    with open(path, "rb") as file:
        head = file.read(9)
    return len(head) == 9 and head[8:9] == b"{"


def _refused_pickle(path: Path, exc: Exception) -> Exception:
    import re

    found = re.search(r"(?:Unsupported global: GLOBAL|unsupported GLOBAL) ([\w.]+)", str(exc))
    text = f"it asks for {found.group(1)}" if found else (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
    if found or "weights_only" in str(exc):
        return UnsafeCheckpoint(
            f"{path.name} needs more than plain weights to open ({text[:200]}): opening it could run code "
            "written into it, so Kiln refuses it. Get the .safetensors version of this model, or a .pth that "
            "holds only weights.")
    if "constants.pkl" in str(exc) or "TorchScript" in str(exc):
        return UnsafeCheckpoint(f"{path.name} is a TorchScript program, not plain weights; Kiln does not run "
                                "those. Get the .safetensors or plain .pth version of this model.")
    return ModelError(f"{path.name} cannot be read as model weights ({text[:200]}): it may be truncated "
                      "or damaged. Download it again.")


def _with_noncommercial():
    from spandrel import MAIN_REGISTRY

    try:
        import spandrel_extra_arches
    except ImportError:  # nothing more to turn on: the permissive architectures still load
        return MAIN_REGISTRY
    registry = MAIN_REGISTRY.copy()
    registry.add(*spandrel_extra_arches.EXTRA_REGISTRY.architectures("insertion"), ignore_duplicates=True)
    return registry


def _unknown_architecture(path: Path, allow_noncommercial: bool) -> str:
    hint = " (Non-commercial models are turned on; they need the package spandrel_extra_arches.)" if (
        allow_noncommercial) else (
        " If it is CodeFormer, DDColor, MAT or another model under a non-commercial licence, those are off "
        "unless you turn them on (Models → Restoration → Allow non-commercial models).")
    return (f"{path.name} is not a restoration model Kiln recognises (super-resolution such as ESRGAN, "
            f"Real-ESRGAN, SwinIR, HAT, SPAN, DAT; faces: GFPGAN, RestoreFormer; fill: LaMa).{hint}")


def _noncommercial_refusal(path: Path, arch: str) -> str:
    return (f"{path.name} is {arch}, licensed {NONCOMMERCIAL[arch]}. Kiln does not use non-commercial models "
            "unless you turn them on (Models → Restoration → Allow non-commercial models).")
