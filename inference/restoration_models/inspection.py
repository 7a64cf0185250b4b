"""Saying what restoration model files are, for a list the user looks at (the Models dialog).

``inspect_files`` opens each file exactly as a restoration job would (``load_restoration_model``:
safetensors, or a plain-weights pickle through the restricted loader; nothing in a file runs) and
keeps only what it found — kind, scale, architecture, licence — or why the file was refused, so
the weights are freed at once. Slow for big models (GFPGAN builds its whole network): run it off
the GUI thread. No Qt.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass

from inference.core.errors import KilnError
from inference.restoration_models.model_file import KIND_NAMES

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # torch's unpickling errors carry terminal colours


@dataclass(frozen=True)
class Inspection:
    """What opening ``path`` found: its kind, scale, architecture and licence, or ``refusal`` (why not)."""

    path: str
    kind: str = ""
    scale: int = 1
    architecture: str = ""
    licence: str = ""
    refusal: str = ""

    @property
    def ok(self) -> bool:
        return not self.refusal

    def describe(self) -> str:
        """E.g. "ESRGAN ×4 — an upscaler", or "Refused"."""
        if not self.ok:
            return "Refused"
        scale = f" ×{self.scale}" if self.kind == "upscale" else ""
        return f"{self.architecture}{scale} — {KIND_NAMES[self.kind]}"


def inspect_files(paths: list[str], allow_noncommercial: bool) -> list[Inspection]:
    """Open each file and say what it is, in order; one file's refusal never stops the others."""
    from inference.restoration_models.model_file import load_restoration_model

    found = []
    for path in paths:
        if str(path).lower().endswith(".onnx"):
            found.append(_inspect_detector(path))
            continue
        try:
            model = load_restoration_model(path, allow_noncommercial)
        except KilnError as exc:
            found.append(Inspection(path, refusal=_ANSI.sub("", str(exc))))
        except Exception as exc:  # noqa: BLE001 - a file Kiln cannot read must not stop the others
            found.append(Inspection(path, refusal=f"Kiln could not open it ({type(exc).__name__}: {exc})."))
        else:
            found.append(Inspection(path, model.kind, model.scale, model.architecture, model.licence))
    return found


def _inspect_detector(path: str) -> Inspection:
    from inference.restoration_models.face_finder import load_face_finder

    try:
        load_face_finder(path)
    except KilnError as exc:
        return Inspection(path, refusal=str(exc))
    return Inspection(path, "detect", 1, "YuNet", "MIT")


def noncommercial_extras_installed() -> bool:
    """Whether spandrel_extra_arches (the non-commercial architectures) can be imported: without it,
    ``load_restoration_model(..., allow_noncommercial=True)`` refuses every file."""
    return importlib.util.find_spec("spandrel_extra_arches") is not None
