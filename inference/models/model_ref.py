"""What a model reference points at, decided without loading anything heavy.

Used by ``models.load_model`` and as a quick preflight by the CLI and GUI, so a wrong path or
a pickle is reported at once instead of after torch and diffusers have loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from inference.models.checkpoint_format import check_checkpoint_file
from inference.core.errors import ModelError, UnsafeCheckpoint

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+$")
PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")


@dataclass(frozen=True)
class ModelRef:
    """kind: "file" (single .safetensors checkpoint), "folder" (diffusers) or "hub" (repo id)."""

    kind: str
    value: str  # the file or folder path, or the repo id

    @property
    def display_name(self) -> str:
        return model_display_name(self.value)


def model_display_name(ref: str) -> str:
    """How a model is named to people and in saved parameters: a file or folder by its name,
    a hub id as it is."""
    path = Path(ref).expanduser()
    return path.name if path.exists() else ref.strip()


def resolve_model_ref(ref: str | None) -> ModelRef:
    """Classify ``ref``; raises ``ModelError``/``UnsafeCheckpoint`` with what to do instead.

    A file's safetensors header is validated here (pickles refused unopened); a folder must be
    a diffusers model with safetensors weights; anything else must look like ``owner/name``.
    """
    ref = (ref or "").strip()
    if not ref:
        raise ModelError(
            "no model selected: choose a hub id, a diffusers folder or a .safetensors file "
            "(or build a tiny test model with 'main.py make-test-model OUT')."
        )
    path = Path(ref).expanduser()
    if path.is_file():
        check_checkpoint_file(path)
        return ModelRef("file", str(path))
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise ModelError(f"'{path}' is a folder but not a diffusers model: it has no model_index.json.")
        files = [p for p in path.rglob("*") if p.is_file()]
        if not any(p.suffix == ".safetensors" for p in files) and any(p.suffix in PICKLE_SUFFIXES for p in files):
            raise UnsafeCheckpoint(
                f"'{path}' holds only pickle weights (.bin/.ckpt), which can run code when opened, so Kiln "
                "will not open them. Download the model's .safetensors version instead."
            )
        return ModelRef("folder", str(path))
    if _REPO_ID.match(ref) and not ref.lower().endswith((".safetensors", *PICKLE_SUFFIXES)):
        return ModelRef("hub", ref)
    raise ModelError(f"model '{ref}' not found: no such file or folder, and it is not a hub id like 'owner/name'.")
