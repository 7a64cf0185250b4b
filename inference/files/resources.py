"""Paths to files shipped in ``resources/`` (tokenizer, model configs)."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """The ``resources`` folder: beside the packages in a checkout, inside a frozen bundle."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    root = Path(frozen_root) if frozen_root else Path(__file__).resolve().parents[2]
    return root / "resources"


def tokenizer_dir() -> Path:
    """The CLIP tokenizer (vocab.json, merges.txt) used by SD1.x models."""
    return resources_dir() / "tokenizer"


def model_config_dir(name: str) -> Path:
    """A weights-free diffusers config folder, e.g. ``model_config_dir("sd15")``."""
    return resources_dir() / "model-configs" / name
