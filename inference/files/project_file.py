"""Kiln projects: the picture with its layers, its undo history, its results and its settings,
written so that reopening gives back exactly what was there. Pillow, numpy and the standard
library only.

Two containers hold the same content, described by one ``project.json``:

* a project file (``.kiln``): a zip, written atomically (``inference.files.image_save.write_atomically``),
  so a crash or a full disk during a save leaves the previous file intact;
* a recovery folder (``gui.session.autosave``): the same entries as plain files, each array written once
  under a key that never changes, then ``project.json`` replaced atomically. An autosave after a
  stroke writes that stroke's patches and a small JSON, not the whole picture.

Entries: ``layers/{image,mask,paint}.png`` (the picture as it is now — PNG, so any tool opens
them; only in ``.kiln`` files), ``base/*.png`` (the picture the undo history starts from),
``undo/<key>.npy`` (the pixels each undo step stored), ``results/<job>.png`` (generated results;
their parameters are in the JSON). A recovery folder keeps whole layers raw (``.npy``), which is
much quicker to write than PNG. The current picture is the base with the undo steps up to
``undo_index`` applied; the layers, when present, are what a reader trusts.

Reading, with every entry checked, is in ``inference.files.project_read``.
"""

from __future__ import annotations

import json
import os
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from inference.core.errors import ProjectFileError
from inference.files.image_save import write_atomically

FORMAT = "kiln-project"
VERSION = 2  # the newest format this Kiln reads and writes
FACE_BOXES_VERSION = 2  # face boxes (and their undo steps): a Kiln that reads only 1 says "update Kiln"
SUFFIX = ".kiln"
MANIFEST = "project.json"
LAYERS = ("image", "mask", "paint")
CHANNELS = {"image": 3, "mask": 0, "paint": 4}  # 0: H×W


@dataclass
class ArrayRef:
    """An array kept elsewhere (an undo patch that may live on disk), read when written.
    ``key`` names it for good: a recovery folder writes each key once."""

    key: str
    load: Callable[[], np.ndarray]


@dataclass
class Edit:
    """One undo step, as the document's undo stack holds it.

    kind "patch": ``layer`` ("image", "mask", "paint") changed inside ``rect`` (x, y, w, h) from
      ``arrays[0]`` to ``arrays[1]``; ``was_blank``: the picture was a blank canvas before.
    kind "invert": the mask inverted (no pixels stored).
    kind "resize": every layer replaced; ``arrays`` = image, mask, paint before, then after (an
      empty paint layer is stored as its shape, a tuple).
    kind "group": ``children`` done as one step (e.g. accepting a result).
    kind "boxes": the face boxes changed from ``boxes[0]`` to ``boxes[1]`` (each a tuple of
      (x, y, w, h) in image px; no pixels).
    Arrays are numpy arrays or ``ArrayRef``s."""

    kind: str
    text: str
    layer: str = ""
    rect: tuple = (0, 0, 0, 0)
    arrays: tuple = ()
    was_blank: bool = False
    children: list = field(default_factory=list)
    boxes: tuple = ()


@dataclass
class Result:
    """A finished generation in the history: its image (the picture's size) and how it was made."""

    job_id: int
    mode: str
    seed: int
    parameters: str
    image: object  # np.ndarray or ArrayRef


@dataclass
class ProjectState:
    """Everything a project holds. ``base_*``: the picture the undo history starts from (mask and
    paint None = empty). ``image``/``mask``/``paint``: the picture now (None in a recovery
    folder: replaying the edits gives it). ``clean_index``: the undo index that matches the
    last saved file, -1 for none. ``face_boxes``: the face boxes now, (x, y, w, h) in image px
    (None: not known — an older project; its undo history, replayed, has the boxes then).
    ``notes``: what a reader left out, for the user (not saved)."""

    base_image: object
    base_is_blank: bool
    base_mask: object = None
    base_paint: object = None
    image: object = None
    mask: object = None
    paint: object = None
    paint_visible: bool = True
    edits: list = field(default_factory=list)
    undo_index: int = 0
    clean_index: int = -1
    results: list = field(default_factory=list)
    last_applied: int | None = None
    params: dict = field(default_factory=dict)
    original_path: str | None = None
    face_boxes: list | None = None
    notes: list = field(default_factory=list)


def apply_edits(state: ProjectState, edits: list[Edit]) -> None:
    """Make ``edits`` part of ``state``'s starting picture (numpy only: what the undo stack
    would do, without keeping the steps)."""
    size = state.base_image.shape[:2]
    layers = {"image": np.array(state.base_image),
              "mask": np.zeros(size, np.uint8) if state.base_mask is None else np.array(state.base_mask),
              "paint": np.zeros((*size, 4), np.uint8) if state.base_paint is None else np.array(state.base_paint)}
    inverted = [False]  # consecutive inversions cancel out: applied only when something else needs the mask

    def settle() -> None:
        if inverted[0]:
            np.subtract(255, layers["mask"], out=layers["mask"])
            inverted[0] = False

    def apply(edit: Edit) -> None:
        if edit.kind == "invert":
            inverted[0] = not inverted[0]
        elif edit.kind == "patch":
            settle()
            x, y, w, h = edit.rect
            layers[edit.layer][y:y + h, x:x + w] = edit.arrays[1]
            state.base_is_blank = state.base_is_blank and edit.layer != "image"
        elif edit.kind == "resize":
            inverted[0] = False
            after = edit.arrays[3:]
            layers.update(zip(LAYERS, (np.zeros(a, np.uint8) if isinstance(a, tuple) else np.array(a) for a in after)))
            state.base_is_blank = False
        for child in edit.children:
            apply(child)

    for edit in edits:
        apply(edit)
    settle()
    state.base_image, state.base_mask, state.base_paint = layers["image"], layers["mask"], layers["paint"]


# --- writing -----------------------------------------------------------------------------------


class _Writer:
    """Turns a state into entries; ``put(name, write)`` stores one, ``write(file)`` writing its
    bytes (streamed: a 24 MP layer is not copied into memory first); ``has(name)`` says whether
    an entry is already stored (a recovery folder skips those)."""

    def __init__(self, put: Callable[[str, Callable], None], has: Callable[[str], bool] = lambda _n: False,
                 png: bool = True):
        self._put, self._has, self._png = put, has, png
        self.written: set[str] = set()

    def picture(self, stem: str, array) -> str:
        """A whole layer: PNG in a project file (any tool opens it), raw in a recovery folder
        (written in a tenth of the time, so the first autosave of a big scan is quick)."""
        return self.png(stem + ".png", array) if self._png else self.npy(stem + ".npy", array)

    def png(self, name: str, array) -> str:
        if not self._has(name):
            picture = Image.fromarray(np.ascontiguousarray(_array(array)))
            self._put(name, lambda fh: picture.save(fh, format="PNG", compress_level=1))
        self.written.add(name)
        return name

    def npy(self, name: str, array) -> str:
        if not self._has(name):
            data = np.ascontiguousarray(_array(array))
            self._put(name, lambda fh: _save_npy(fh, data))
        self.written.add(name)
        return name


def _save_npy(fh, data: np.ndarray) -> None:
    """``numpy.save`` through ``fh.write``, a megabyte at a time: numpy's own writer turns a full
    disk into "N requested and M written" with no error number, and a person is not told why."""
    np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(data))
    flat = memoryview(data.reshape(-1).view(np.uint8))
    for start in range(0, len(flat), 1 << 20):
        fh.write(flat[start:start + (1 << 20)])


def _array(value) -> np.ndarray:
    return value.load() if isinstance(value, ArrayRef) else np.asarray(value)


def _edit_json(edit: Edit, writer: _Writer, counter: list[int]) -> dict:
    entry: dict = {"kind": edit.kind, "text": edit.text}
    if edit.kind == "patch":
        entry.update(layer=edit.layer, rect=list(edit.rect), was_blank=edit.was_blank)
    if edit.kind == "boxes":
        entry["boxes"] = [[list(box) for box in side] for side in edit.boxes]
    if edit.kind == "group":
        entry["children"] = [_edit_json(child, writer, counter) for child in edit.children]
    arrays = []
    for value in edit.arrays:
        if isinstance(value, tuple):  # an empty layer, by its shape
            arrays.append({"empty": list(value)})
            continue
        if isinstance(value, ArrayRef):
            key = value.key
        else:
            counter[0] += 1
            key = f"a{counter[0]}"
        arrays.append(writer.npy(f"undo/{key}.npy", value))
    if arrays:
        entry["arrays"] = arrays
    return entry


def _version_needed(state: ProjectState) -> int:
    """The oldest format that holds ``state``: 1 unless it has face boxes, so a project without
    them still opens in a Kiln from before them; one with them tells such a Kiln to update."""
    def boxes_in(edits) -> bool:
        return any(edit.kind == "boxes" or boxes_in(getattr(edit, "children", ()) or ()) for edit in edits)

    return FACE_BOXES_VERSION if state.face_boxes or boxes_in(state.edits) else 1


def _state_json(state: ProjectState, writer: _Writer, with_layers: bool) -> dict:
    image = _array(state.base_image)
    manifest: dict = {
        "format": FORMAT, "version": _version_needed(state),
        "width": int(image.shape[1]), "height": int(image.shape[0]),
        "original_path": state.original_path, "paint_visible": state.paint_visible,
        "params": state.params, "last_applied": state.last_applied,
        "undo_index": state.undo_index, "clean_index": state.clean_index,
        "face_boxes": [list(box) for box in state.face_boxes or ()],
    }
    base_key = getattr(state.base_image, "key", "image")
    manifest["base"] = {
        "is_blank": state.base_is_blank,
        "image": writer.picture(f"base/{base_key}", state.base_image),
        "mask": None if state.base_mask is None else writer.picture(f"base/{base_key}-mask", state.base_mask),
        "paint": None if state.base_paint is None else writer.picture(f"base/{base_key}-paint", state.base_paint),
    }
    if with_layers:
        layers = {"image": state.image, "mask": state.mask, "paint": state.paint}
        if state.base_mask is None and state.base_paint is None and np.array_equal(_array(state.image), image):
            manifest["layers"] = {"image": manifest["base"]["image"]}  # unchanged: stored once
            layers.pop("image")
        else:
            manifest["layers"] = {}
        for name, value in layers.items():
            manifest["layers"][name] = writer.png(f"layers/{name}.png", value)
    counter = [0]
    manifest["edits"] = [_edit_json(edit, writer, counter) for edit in state.edits]
    manifest["results"] = [
        {"job_id": r.job_id, "mode": r.mode, "seed": r.seed, "parameters": r.parameters,
         "image": writer.picture(f"results/{r.job_id}", r.image)}
        for r in state.results
    ]
    return manifest


def save_project(path: str | os.PathLike, state: ProjectState) -> Path:
    """Write ``state`` to the project file ``path`` atomically. Raises ``ProjectFileError`` (full
    disk, read-only folder…) and leaves an existing file at ``path`` untouched then."""

    def write(fh) -> None:
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            def put(name: str, write) -> None:
                entry = name  # deflated quickly, as the archive's default
                if name.endswith(".png"):  # compressed already: stored as it is
                    entry = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
                    entry.compress_type = zipfile.ZIP_STORED
                with archive.open(entry, "w", force_zip64=True) as stream:
                    write(stream)

            manifest = _state_json(state, _Writer(put), with_layers=True)
            put(MANIFEST, lambda fh: fh.write(json.dumps(manifest, indent=1).encode()))

    return write_atomically(path, write, ProjectFileError)


def write_recovery(folder: str | os.PathLike, state: ProjectState) -> set[str]:
    """Bring the recovery ``folder`` up to ``state``: write the arrays it lacks (each key once),
    then replace its ``project.json`` atomically. Returns the entry names the state uses, so the
    caller can delete the others. Raises ``ProjectFileError`` when the disk refuses."""
    folder = Path(folder)

    def put(name: str, write) -> None:
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, write, ProjectFileError)

    writer = _Writer(put, lambda name: (folder / name).is_file(), png=False)
    manifest = _state_json(state, writer, with_layers=False)
    write_atomically(folder / MANIFEST, lambda fh: fh.write(json.dumps(manifest, indent=1).encode()),
                     ProjectFileError)
    return writer.written | {MANIFEST}


def is_project_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a project file (by its suffix: a project is opened as one)."""
    return Path(path).suffix.lower() == SUFFIX
