"""The photos a LoRA learns from: read, captioned, bucketed by shape, with what was skipped and why.

* Captions: a sidecar ``NAME.txt`` beside the photo (the convention other trainers use), else
  the request's template with the trigger word ("a photo of sks person").
* Buckets: each photo is scaled to cover a bucket near the training resolution's area with
  about its own aspect ratio (sides multiples of 64), then centre-cropped to it — a portrait
  stays a portrait instead of losing its head to a square crop.
* Skipped, with the reason: unreadable files, photos under ``MIN_IMAGE_SIDE_PX`` a side, and
  duplicates (the same pixels under another name). Grayscale scans stay gray (as RGB).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from inference.core.errors import InvalidRequest, KilnError
from inference.core.training_requests import MIN_IMAGE_SIDE_PX
from inference.files.image_io import load_rgb
from inference.files.output_names import same_file_key
from inference.files.photo_inputs import collect_inputs

BUCKET_STEP_PX = 64


@dataclass
class Example:
    """One training photo at its bucket's size: rgb H×W×3 uint8, and its caption."""

    path: Path
    rgb: np.ndarray = field(repr=False)
    caption: str


def bucket_for(width: int, height: int, resolution: int) -> tuple[int, int]:
    """(w, h), multiples of 64, area about ``resolution``², aspect about the photo's (at most 2:1)."""
    aspect = min(max(width / height, 0.5), 2.0)
    area = resolution * resolution
    w = max(BUCKET_STEP_PX, round((area * aspect) ** 0.5 / BUCKET_STEP_PX) * BUCKET_STEP_PX)
    h = max(BUCKET_STEP_PX, round((area / aspect) ** 0.5 / BUCKET_STEP_PX) * BUCKET_STEP_PX)
    return w, h


def fit_to_bucket(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Scale ``rgb`` to cover ``size`` (w, h), then crop its centre to it."""
    height, width = rgb.shape[:2]
    scale = max(size[0] / width, size[1] / height)
    scaled = (max(size[0], round(width * scale)), max(size[1], round(height * scale)))
    image = Image.fromarray(rgb).resize(scaled, Image.LANCZOS)
    left, top = (scaled[0] - size[0]) // 2, (scaled[1] - size[1]) // 2
    return np.asarray(image.crop((left, top, left + size[0], top + size[1])))


def caption_for(path: Path, trigger: str, template: str) -> str:
    sidecar = path.with_suffix(".txt")
    if sidecar.is_file():
        text = sidecar.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            return text
    return template.replace("{trigger}", trigger).strip()


def load_examples(paths: list[str], resolution: int, trigger: str, template: str,
                  forbidden_out: str | None = None, captions: dict[str, str] | None = None
                  ) -> tuple[list[Example], list[str]]:
    """The photos to learn from and notes on those skipped; ``captions`` (path → text) come
    before sidecar files and the template. Raises ``InvalidRequest`` when none is usable (saying
    why) or when ``forbidden_out`` (the LoRA to write) is one of them."""
    files, notes = collect_inputs(list(paths))
    if forbidden_out is not None and any(same_file_key(p) == same_file_key(forbidden_out) for p in files):
        raise InvalidRequest(f"The LoRA would be written over a training photo ('{forbidden_out}'): choose another name.")
    examples, seen = [], {}
    for path in files:
        try:
            rgb = load_rgb(path)
        except (KilnError, OSError) as exc:
            notes.append(f"{path.name}: skipped, it cannot be read ({exc}).")
            continue
        height, width = rgb.shape[:2]
        if min(height, width) < MIN_IMAGE_SIDE_PX:
            notes.append(f"{path.name}: skipped, {width}×{height} px is under {MIN_IMAGE_SIDE_PX} px a side.")
            continue
        digest = hashlib.sha256(np.ascontiguousarray(rgb).tobytes()).hexdigest()
        if digest in seen:
            notes.append(f"{path.name}: skipped, the same picture as {seen[digest]}.")
            continue
        seen[digest] = path.name
        rgb = fit_to_bucket(rgb, bucket_for(width, height, resolution))
        given = (captions or {}).get(str(path), "").strip()
        examples.append(Example(path, rgb, given or caption_for(path, trigger, template)))
    if not examples:
        why = " ".join(notes) if notes else "no photos were found there."
        raise InvalidRequest(f"Nothing to learn from: {why}")
    return examples, notes
