"""The photos a command was given: files as named, and the photos directly inside named folders.

Shared by ``main.py restore`` and teaching (``main.py train-lora``, the Teach dialog): each file
once, folders read in name order, and an input that cannot be looked at reported, not raised.
"""

from __future__ import annotations

from pathlib import Path

from inference.files.output_names import same_file_key

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"}


def collect_inputs(paths: list[str]) -> tuple[list[Path], list[str]]:
    """→ (files, problems): files as given and the image files directly inside given folders
    (sorted by name), each file once; problems: one line per input that could not be looked
    at (permission denied, a name too long, …), to report and skip. A missing file is kept: it
    is reported when it is read."""
    found: list[Path] = []
    problems: list[str] = []
    seen: set[str] = set()

    def add(path: Path) -> None:
        key = same_file_key(path)
        if key not in seen:
            seen.add(key)
            found.append(path)

    for given in paths:
        path = Path(given)
        try:
            if not path.is_dir():
                add(path)
                continue
            entries = sorted(path.iterdir())
        except (OSError, ValueError) as exc:
            problems.append(f"{given}: cannot be read: {_reason(exc)}.")
            continue
        for entry in entries:
            if entry.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                if entry.is_file():
                    add(entry)
            except OSError as exc:
                problems.append(f"{entry}: cannot be read: {_reason(exc)}.")
    return found, problems


def _reason(exc: Exception) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied (check its and its folder's permissions)"
    return getattr(exc, "strerror", None) or str(exc)
