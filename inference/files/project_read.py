"""Reading Kiln projects (``inference.files.project_file`` describes the format and writes it).

The file is treated as hostile. The description (``project.json``) is read within a size cap and
every value in it is checked — types, ranges, text lengths (texts are cleaned before any widget
sees them) — before anything else is used. Every entry is then read by
``inference.files.project_entries`` within the bytes the description allows, each at most once, under
Kiln's pixel limit; every undo step and result must fit the picture's size at its point in
the history. What cannot be read is never half-applied: a damaged description or starting
picture refuses the project with one ``ProjectFileError`` sentence; a damaged undo step ends the
history there, a damaged result is left out, and ``ProjectState.notes`` says so. Histories
longer than ``MAX_UNDO_STEPS`` have their oldest steps folded into the starting picture.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from inference.core.errors import ProjectFileError
from inference.files.image_io import max_pixels
from inference.files.metadata import MAX_PARAMETERS_CHARS, MAX_PROMPT_CHARS, clean_text
from inference.files.project_boxes import read_boxes
from inference.files.project_entries import EntryReader, Source, WrongSize
from inference.files.project_file import (CHANNELS, FORMAT, LAYERS, MANIFEST, VERSION, Edit, ProjectState, Result,
                                    apply_edits)

MAX_MANIFEST_BYTES = 8 << 20  # a description: ~30,000 undo steps; a bombed one is refused at once
MAX_UNDO_STEPS = 10_000  # undo steps (a group's steps counted) kept on reopening; older ones are folded in
MAX_RESULTS = 1_000
MAX_JOB_ID = 2**53 - 1  # exact in JSON, and far below what Qt's int64 item data holds
MAX_SEED = 2**64 - 1
_QT_INT = 2**31  # spin boxes take C ints


class _Damaged(Exception):
    """A value in the description that is not what Kiln writes (becomes ``ProjectFileError``)."""


# What one damaged entry can raise: it costs that entry (an undo step, a result), not the project.
# (TypeError and the like: a value of an unexpected type deep in a step's description.)
_ENTRY_ERRORS = (_Damaged, ProjectFileError, zlib.error, EOFError, zipfile.BadZipFile, TypeError, ValueError,
                 KeyError, AttributeError, IndexError)


def _why(exc: BaseException) -> str:
    if not isinstance(exc, (_Damaged, ProjectFileError)):
        return f"part of its description is incomplete ({type(exc).__name__})"
    return str(getattr(exc, "reason", None) or exc)[:200]


def _int(value, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _Damaged(f"{what} is {str(value)[:40]!r}, not a whole number from {low} to {high}")
    return value


def _text(value, max_chars: int) -> str:
    return clean_text(value, max_chars) if isinstance(value, str) else ""


def _params(values) -> dict:
    """The generation settings, with only the plain values widgets can take: texts cleaned and
    cut, whole numbers in a spin box's range, finite numbers, LoRAs as [path, weight] pairs."""
    out: dict = {}
    for key, value in (values.items() if isinstance(values, dict) else ()):
        if not isinstance(key, str) or len(key) > 64:
            continue
        if isinstance(value, str):
            out[key] = clean_text(value, MAX_PROMPT_CHARS)
        elif isinstance(value, bool):
            out[key] = value
        elif isinstance(value, int) and (0 <= value <= MAX_SEED if key == "seed" else -_QT_INT <= value < _QT_INT):
            out[key] = value
        elif isinstance(value, float) and math.isfinite(value) and abs(value) < _QT_INT:
            out[key] = value
        elif key == "loras" and isinstance(value, list):
            out[key] = [[clean_text(v[0], 4096), float(v[1])] for v in value[:64] if _lora(v)]
    return out


def _lora(value) -> bool:
    """Whether ``value`` is a [path, weight] pair a LoRA list can hold."""
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)
            and isinstance(value[1], (int, float))):
        return False
    try:
        return math.isfinite(value[1]) and abs(value[1]) < _QT_INT
    except OverflowError:  # an integer too large for a float
        return False


class _Reader(EntryReader):
    """Reads one project's entries, tracking the sizes the picture has had (results and the
    current layers must have one of them). ``partial``: a damaged undo step, result or layer
    costs only itself (a recovery folder: the work exists nowhere else); otherwise it refuses
    the whole project (a project file stays as it is on disk)."""

    def __init__(self, label: str, source: Source, limit_px: int, partial: bool = False):
        super().__init__(label, source, limit_px)
        self.partial = partial
        self.sizes: set[tuple[int, int]] = set()
        self.notes: list[str] = []

    def lost(self, exc: BaseException) -> None:
        """A damaged entry: refuses the project unless it is read ``partial``."""
        if not self.partial:
            raise exc if isinstance(exc, ProjectFileError) else self.damaged(_why(exc))

    def picture(self, name, channels: int, sizes: set, map_large: bool = False) -> np.ndarray:
        """A whole layer or result, PNG or raw, with ``channels`` (0: H×W) and one of ``sizes``
        (``map_large``: see ``EntryReader.npy``)."""
        if not str(name).endswith(".npy"):
            return self.png(name, channels, sizes, map_large)
        tail = (channels,) if channels else ()
        return self.npy(name, lambda shape: shape[2:] == tail and shape[:2] in sizes, map_large)


def _manifest(reader: _Reader) -> dict:
    declared = reader.declared(MANIFEST)
    if declared > MAX_MANIFEST_BYTES:
        raise ProjectFileError(f"cannot open '{reader.label}': its description takes {declared / 1e6:,.0f} MB, more "
                               f"than the {MAX_MANIFEST_BYTES / 1e6:.0f} MB Kiln reads (an undo history of far more "
                               f"than {MAX_UNDO_STEPS:,} steps, or a damaged file).")
    data = reader.bytes(MANIFEST, MAX_MANIFEST_BYTES)
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise reader.damaged("its description cannot be read") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ProjectFileError(f"cannot open '{reader.label}': it is not a Kiln project.")
    if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise ProjectFileError(f"cannot open '{reader.label}': it was saved by a newer Kiln; update Kiln to open it.")
    return manifest


def _read_edit(entry, reader: _Reader, size: tuple) -> tuple[Edit, tuple]:
    """One undo step starting from a picture of ``size`` (H, W); returns it and the size after it."""
    if not isinstance(entry, dict):
        raise _Damaged("an undo step is not described")
    kind, text = entry.get("kind"), _text(entry.get("text"), 200)
    kind = kind if isinstance(kind, str) else None
    names = entry.get("arrays", [])
    expected = {"patch": 2, "invert": 0, "resize": 6, "group": 0, "boxes": 0}.get(kind)
    if expected is None:
        raise _Damaged(f"an undo step of unknown kind {str(kind)[:40]!r}")
    if not isinstance(names, list) or len(names) != expected:
        raise _Damaged(f"the undo step '{text}' does not hold {expected} arrays")
    if kind == "group":
        children = entry.get("children", [])
        if not isinstance(children, list) or len(children) > MAX_UNDO_STEPS:
            raise _Damaged(f"the undo step '{text}' is not described")
        steps = []
        for child in children:
            step, size = _read_edit(child, reader, size)
            steps.append(step)
        return Edit("group", text, children=steps), size
    if kind == "invert":
        return Edit("invert", text), size
    if kind == "boxes":  # the face boxes before and after (a list of two lists)
        sides = entry.get("boxes")
        if not isinstance(sides, list) or len(sides) != 2:
            raise _Damaged(f"the undo step '{text}' does not hold its face boxes")
        return Edit("boxes", text, boxes=tuple(read_boxes(side) for side in sides)), size
    if kind == "patch":
        layer, rect = entry.get("layer"), entry.get("rect")
        if layer not in LAYERS or not isinstance(rect, list) or len(rect) != 4:
            raise _Damaged(f"the undo step '{text}' names layer {str(layer)[:20]!r}")
        x, y = _int(rect[0], 0, size[1] - 1, "an area's left"), _int(rect[1], 0, size[0] - 1, "an area's top")
        w, h = _int(rect[2], 1, size[1] - x, "an area's width"), _int(rect[3], 1, size[0] - y, "an area's height")
        shape = (h, w, CHANNELS[layer]) if CHANNELS[layer] else (h, w)
        arrays = tuple(reader.npy(n, lambda s: s == shape, map_large=True) for n in names)
        return Edit("patch", text, layer, (x, y, w, h), arrays, entry.get("was_blank") is True), size
    return _read_resize(names, text, reader, size)


def _read_resize(names: list, text: str, reader: _Reader, size: tuple) -> tuple[Edit, tuple]:
    """A resize: every layer before (the picture's ``size``) and after (one new size)."""
    arrays: list = []
    for half, names_half in enumerate((names[:3], names[3:])):
        new_size = size if half == 0 else None
        for channels, name in zip((3, 0, 4), names_half):
            tail = (channels,) if channels else ()
            if isinstance(name, dict) and channels == 4:  # an empty paint layer, by its shape
                shape = name.get("empty")
                if not isinstance(shape, list) or tuple(shape) != (*new_size, 4):
                    raise _Damaged(f"the undo step '{text}' holds layers of different sizes")
                arrays.append(tuple(shape))
                continue
            array = reader.npy(name, lambda s, t=tail, n=new_size: s[2:] == t and (n is None or s[:2] == n),
                               map_large=True)
            new_size = new_size or array.shape[:2]
            arrays.append(array)
    reader.sizes.add(new_size)
    return Edit("resize", text, arrays=tuple(arrays)), new_size


def _read_edits(entries, reader: _Reader, size: tuple) -> tuple[list[Edit], str | None]:
    """The undo steps that can be read, in order, and why the history stops early (or None)."""
    if not isinstance(entries, list):
        raise _Damaged("its undo history is not a list")
    edits = []
    for entry in entries:
        try:
            edit, size = _read_edit(entry, reader, size)
        except _ENTRY_ERRORS as exc:
            reader.lost(exc)
            return edits, _why(exc)
        edits.append(edit)
    return edits, None


def _read_results(entries, reader: _Reader) -> list[Result]:
    results, seen, left_out = [], set(), 0
    for entry in entries[:MAX_RESULTS] if isinstance(entries, list) else ():
        try:
            if not isinstance(entry, dict) or not isinstance(entry.get("mode"), str):
                raise _Damaged("a result is not described")
            job_id = _int(entry.get("job_id"), 0, MAX_JOB_ID, "a result's number")
            seed = _int(entry.get("seed"), 0, MAX_SEED, "a result's seed")
            if job_id in seen:
                raise _Damaged(f"two results have the number {job_id}")
            image = reader.picture(entry.get("image"), 3, reader.sizes, map_large=True)  # results are only shown
            seen.add(job_id)
            results.append(Result(job_id, _text(entry["mode"], 40), seed,
                                  _text(entry.get("parameters"), MAX_PARAMETERS_CHARS), image))
        except WrongSize:  # e.g. made at a size an undone canvas extension gave: only shown, so left out
            left_out += 1
        except _ENTRY_ERRORS as exc:
            reader.lost(exc)
            left_out += 1
    left_out += max(0, len(entries) - MAX_RESULTS) if isinstance(entries, list) else 0
    if left_out:
        reader.notes.append(f"{left_out} of its results could not be read and were left out.")
    return results


def _read_state(reader: _Reader) -> ProjectState:
    manifest = _manifest(reader)
    try:
        # 1. The description: sizes, positions and texts, before any pixels.
        base = manifest["base"]
        if not isinstance(base, dict):
            raise _Damaged("its starting picture is not described")
        width, height = (_int(manifest.get(k), 1, reader.limit_px, f"its {k}") for k in ("width", "height"))
        if width * height > reader.limit_px:
            raise ProjectFileError(f"cannot open '{reader.label}': its picture of {width}×{height} pixels is larger "
                                   f"than Kiln's limit of {reader.limit_px / 1e6:g} megapixels "
                                   "(set KILN_MAX_MEGAPIXELS "
                                   "to raise it).")
        size = (height, width)
        reader.sizes.add(size)
        original = manifest.get("original_path")
        state = ProjectState(
            base_image=None, base_is_blank=base.get("is_blank") is True,
            paint_visible=manifest.get("paint_visible", True) is not False,
            undo_index=_int(manifest.get("undo_index", 0), 0, 1 << 40, "its undo position"),
            clean_index=_int(manifest.get("clean_index", -1), -1, 1 << 40, "its saved position"),
            params=_params(manifest.get("params")),
            original_path=clean_text(original, 4096) if isinstance(original, str) and "\0" not in original else None,
        )
        last = manifest.get("last_applied")
        state.last_applied = None if last is None else _int(last, 0, MAX_JOB_ID, "its applied result")
        # 2. The starting picture: without it there is nothing to show.
        state.base_image = reader.picture(base.get("image"), 3, {size})
        state.base_mask = None if base.get("mask") is None else reader.picture(base["mask"], 0, {size})
        state.base_paint = None if base.get("paint") is None else reader.picture(base["paint"], 4, {size})
    except _Damaged as exc:
        raise reader.damaged(str(exc)) from exc
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise reader.damaged(f"its description is incomplete ({type(exc).__name__})") from exc
    # 3. The undo history, as far as it can be read.
    try:
        state.edits, stopped = _read_edits(manifest.get("edits", []), reader, size)
    except _Damaged as exc:
        reader.lost(exc)
        state.edits, stopped = [], _why(exc)
    # 4. The picture as it was saved (a project file), and the results.
    _read_layers(manifest, base, state, reader)
    state.results = _read_results(manifest.get("results", []), reader)
    try:  # absent from projects saved before face boxes
        state.face_boxes = list(read_boxes(manifest["face_boxes"])) if "face_boxes" in manifest else None
    except ValueError:
        reader.notes.append("Its face boxes could not be read and were left out.")
    if stopped is not None:
        _history_cut(state, stopped, reader)
    if state.undo_index > len(state.edits):
        reader.lost(_Damaged("its undo position is outside its history"))
        state.undo_index = len(state.edits)
    if state.clean_index > len(state.edits):
        state.clean_index = -1
    _fold_long_history(state, reader)
    state.notes = reader.notes
    return state


def _read_layers(manifest: dict, base: dict, state: ProjectState, reader: _Reader) -> None:
    layers = manifest.get("layers")
    if layers is None:
        return
    try:
        if not isinstance(layers, dict):
            raise _Damaged("its layers are not described")
        if layers.get("image") == base.get("image") and state.base_mask is None and state.base_paint is None:
            image = state.base_image  # unchanged since it was opened: stored once
        else:
            image = reader.picture(layers.get("image"), 3, reader.sizes)
        sizes = {image.shape[:2]}
        state.image, state.mask, state.paint = (image, reader.picture(layers.get("mask"), 0, sizes),
                                                reader.picture(layers.get("paint"), 4, sizes))
    except _ENTRY_ERRORS as exc:
        reader.lost(exc)
        state.image = state.mask = state.paint = None
        reader.notes.append(f"Its saved layers could not be read ({_why(exc)}); the picture was rebuilt from "
                            "its undo history.")


def _history_cut(state: ProjectState, why: str, reader: _Reader) -> None:
    """The history ends at the first step that could not be read: say what that costs."""
    kept, index = len(state.edits), state.undo_index
    if index <= kept or state.image is not None:
        reader.notes.append(f"Its undo history ends after {kept} steps: the next step could not be read ({why}).")
        state.undo_index = min(index, kept)
    else:
        reader.notes.append(f"The last {index - kept} edits could not be recovered ({why}); the picture is "
                            f"as it was {kept} edits into the session.")
        state.undo_index = kept


def _steps(edit: Edit) -> int:
    return 1 + sum(_steps(child) for child in edit.children)


def _fold_long_history(state: ProjectState, reader: _Reader) -> None:
    """Keep at most ``MAX_UNDO_STEPS`` steps: the oldest are applied to the starting picture
    (never past the undo position, so the picture shown stays the same); redo steps beyond
    the limit are dropped."""
    counts = [_steps(e) for e in state.edits]
    if sum(counts) <= MAX_UNDO_STEPS:
        return
    total, fold = sum(counts), 0
    while total > MAX_UNDO_STEPS and fold < state.undo_index:
        total -= counts[fold]
        fold += 1
    keep = fold
    kept_steps = 0
    while keep < len(counts) and kept_steps + counts[keep] <= MAX_UNDO_STEPS:
        kept_steps += counts[keep]
        keep += 1
    apply_edits(state, state.edits[:fold])
    state.edits = state.edits[fold:keep]
    state.undo_index = min(state.undo_index - fold, len(state.edits))
    state.clean_index = state.clean_index - fold if 0 <= state.clean_index - fold <= len(state.edits) else -1
    reader.notes.append(f"Its undo history of {sum(counts):,} steps is longer than Kiln keeps "
                        f"({MAX_UNDO_STEPS:,}): the oldest {sum(counts[:fold]):,} can no longer be undone"
                        + (f", and {sum(counts[keep:]):,} redo steps were dropped." if keep < len(counts) else "."))


def load_project(path: str | os.PathLike, *, max_megapixels: float | None = None) -> ProjectState:
    """Read a project file. Raises ``ProjectFileError`` with a message a person can act on for
    anything that is not a readable Kiln project (never a half-read state); what was left out
    of a readable one is in the state's ``notes``."""
    path = Path(path)
    label = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_state(_Reader(label, Source(archive=archive), max_pixels(max_megapixels)))
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        # (RuntimeError: an encrypted entry; NotImplementedError: a compression Kiln never writes)
        raise ProjectFileError(f"cannot open '{label}': it is not a Kiln project, or the file is damaged "
                               "(it may have been cut short).") from exc
    except IsADirectoryError as exc:
        raise ProjectFileError(f"cannot open '{label}': it is a folder, not a project file.") from exc
    except (OSError, zipfile.LargeZipFile) as exc:
        raise ProjectFileError(f"cannot open '{label}': {getattr(exc, 'strerror', None) or exc}.") from exc
    except MemoryError as exc:
        raise ProjectFileError(f"cannot open '{label}': there is not enough memory for this project.") from exc


def read_recovery(folder: str | os.PathLike) -> ProjectState:
    """Read what ``write_recovery`` wrote. Raises ``ProjectFileError``; what could not be
    recovered is in the state's ``notes``."""
    folder = Path(folder)
    try:
        return _read_state(_Reader("the recovered session", Source(folder=folder), max_pixels(), partial=True))
    except (zlib.error, EOFError) as exc:
        raise ProjectFileError("cannot restore the session: its files are damaged.") from exc
    except MemoryError as exc:
        raise ProjectFileError("cannot restore the session: there is not enough memory.") from exc
    except OSError as exc:
        raise ProjectFileError(f"cannot restore the session: {exc.strerror or exc}.") from exc

