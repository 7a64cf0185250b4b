"""Kiln projects: the picture with its layers, its undo history, its results and its settings,
written so that reopening gives back exactly what was there. Pillow, numpy and the standard
library only.

Two containers hold the same content, described by one ``project.json``:

* a project file (``.kiln``): a zip, written atomically (``inference.image_save.write_atomically``),
  so a crash or a full disk during a save leaves the previous file intact;
* a recovery folder (``gui.autosave``): the same entries as plain files, each array written once
  under a key that never changes, then ``project.json`` replaced atomically. An autosave after a
  stroke writes that stroke's patches and a small JSON, not the whole picture.

Entries: ``layers/{image,mask,paint}.png`` (the picture as it is now — PNG, so any tool opens
them; only in ``.kiln`` files), ``base/*.png`` (the picture the undo history starts from),
``undo/<key>.npy`` (the pixels each undo step stored), ``results/<job>.png`` (generated results;
their parameters are in the JSON). A recovery folder keeps whole layers raw (``.npy``), which is
much quicker to write than PNG. The current picture is the base with the undo steps up to
``undo_index`` applied; the layers, when present, are what a reader trusts.
"""

from __future__ import annotations

import io
import json
import os
import time
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from inference.errors import KilnError, ProjectFileError
from inference.image_io import max_pixels
from inference.image_save import write_atomically

FORMAT = "kiln-project"
VERSION = 1
SUFFIX = ".kiln"
MANIFEST = "project.json"
LAYERS = ("image", "mask", "paint")
_CHANNELS = {"image": 3, "mask": 0, "paint": 4}  # 0: H×W


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
    Arrays are numpy arrays or ``ArrayRef``s."""

    kind: str
    text: str
    layer: str = ""
    rect: tuple = (0, 0, 0, 0)
    arrays: tuple = ()
    was_blank: bool = False
    children: list = field(default_factory=list)


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
    last saved file, -1 for none."""

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
            self._put(name, lambda fh: np.save(fh, data, allow_pickle=False))
        self.written.add(name)
        return name


def _array(value) -> np.ndarray:
    return value.load() if isinstance(value, ArrayRef) else np.asarray(value)


def _edit_json(edit: Edit, writer: _Writer, counter: list[int]) -> dict:
    entry: dict = {"kind": edit.kind, "text": edit.text}
    if edit.kind == "patch":
        entry.update(layer=edit.layer, rect=list(edit.rect), was_blank=edit.was_blank)
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


def _state_json(state: ProjectState, writer: _Writer, with_layers: bool) -> dict:
    image = _array(state.base_image)
    manifest: dict = {
        "format": FORMAT, "version": VERSION,
        "width": int(image.shape[1]), "height": int(image.shape[0]),
        "original_path": state.original_path, "paint_visible": state.paint_visible,
        "params": state.params, "last_applied": state.last_applied,
        "undo_index": state.undo_index, "clean_index": state.clean_index,
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


# --- reading -----------------------------------------------------------------------------------


class _Reader:
    """Reads the entries of a project file or recovery folder, checking each array before any
    pixel memory is allocated."""

    def __init__(self, label: str, read: Callable[[str], bytes], limit_px: int):
        self.label, self._read, self._limit = label, read, limit_px

    def bytes(self, name: str) -> bytes:
        if not isinstance(name, str) or name.startswith("/") or ".." in name.split("/"):
            raise self.damaged(f"it names an entry Kiln does not accept ({name!r})")
        try:
            return self._read(name)
        except (KeyError, FileNotFoundError) as exc:
            raise self.damaged(f"'{name}' is missing") from exc

    def damaged(self, what: str) -> ProjectFileError:
        return ProjectFileError(f"cannot open '{self.label}': the project is damaged ({what}).")

    def png(self, name: str, channels: int) -> np.ndarray:
        try:
            with Image.open(io.BytesIO(self.bytes(name))) as im:
                if im.format != "PNG" or im.width * im.height > self._limit:
                    raise self.damaged(f"'{name}' is not a PNG Kiln can read")
                im.load()
                mode = {0: "L", 3: "RGB", 4: "RGBA"}[channels]
                if im.mode != mode:
                    raise self.damaged(f"'{name}' has mode {im.mode}, not {mode}")
                return np.asarray(im)
        except ProjectFileError:
            raise
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a hostile file can make a decoder raise anything
            raise self.damaged(f"'{name}' cannot be decoded: {exc}") from exc

    def picture(self, name: str, channels: int) -> np.ndarray:
        """A whole layer, PNG or raw (``_Writer.picture``), with ``channels`` (0: H×W)."""
        if not str(name).endswith(".npy"):
            return self.png(name, channels)
        array = self.npy(name)
        if array.shape[2:] != ((channels,) if channels else ()):
            raise self.damaged(f"'{name}' is not a layer of the right kind")
        return array

    def npy(self, name: str) -> np.ndarray:
        buffer = io.BytesIO(self.bytes(name))
        try:
            version = np.lib.format.read_magic(buffer)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise self.damaged(f"'{name}' is in an array format Kiln does not read")
            shape, _fortran, dtype = read_header(buffer)
            if dtype != np.uint8 or len(shape) not in (2, 3) or int(np.prod(shape[:2])) > self._limit:
                raise self.damaged(f"'{name}' is not a picture patch")
            buffer.seek(0)
            return np.load(buffer, allow_pickle=False)
        except ProjectFileError:
            raise
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged header can make numpy's parser raise anything
            raise self.damaged(f"'{name}' cannot be read: {type(exc).__name__}") from exc


def _empty_layer(value, reader: _Reader) -> tuple:
    """The shape of an empty paint layer, as stored: {"empty": [H, W, 4]}."""
    shape = tuple(value["empty"])
    if len(shape) != 3 or shape[2] != 4 or not all(isinstance(v, int) and 0 < v <= 1 << 20 for v in shape):
        raise reader.damaged(f"an empty layer has the shape {shape}")
    return shape


def _read_edit(entry: dict, reader: _Reader) -> Edit:
    if not isinstance(entry, dict):
        raise reader.damaged("an undo step is not described")
    kind = entry.get("kind")
    if kind not in ("patch", "invert", "resize", "group"):
        raise reader.damaged(f"an undo step of unknown kind {kind!r}")
    arrays = tuple(_empty_layer(a, reader) if isinstance(a, dict) else reader.npy(a) for a in entry.get("arrays", []))
    expected = {"patch": 2, "invert": 0, "resize": 6, "group": 0}[kind]
    if len(arrays) != expected:
        raise reader.damaged(f"an undo step '{entry.get('text')}' holds {len(arrays)} arrays, not {expected}")
    may_be_empty = (2, 5) if kind == "resize" else ()
    if any(isinstance(a, tuple) for i, a in enumerate(arrays) if i not in may_be_empty):
        raise reader.damaged(f"an undo step '{entry.get('text')}' lacks its pixels")
    children = [_read_edit(child, reader) for child in entry.get("children", [])]
    rect = tuple(int(v) for v in entry.get("rect", (0, 0, 0, 0)))
    layer = entry.get("layer", "")
    if kind == "patch":
        if layer not in LAYERS or len(rect) != 4:
            raise reader.damaged(f"an undo step names layer {layer!r}")
        if any(a.shape[:2] != (rect[3], rect[2]) for a in arrays):
            raise reader.damaged(f"an undo step's pixels do not fit its area {rect}")
    return Edit(kind, str(entry.get("text", "")), layer, rect, arrays, bool(entry.get("was_blank")), children)


def _read_state(reader: _Reader) -> ProjectState:
    try:
        manifest = json.loads(reader.bytes(MANIFEST))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise reader.damaged("its description cannot be read") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ProjectFileError(f"cannot open '{reader.label}': it is not a Kiln project.")
    if not isinstance(manifest.get("version"), int) or manifest["version"] > VERSION:
        raise ProjectFileError(f"cannot open '{reader.label}': it was saved by a newer Kiln; update Kiln to open it.")
    try:
        base = manifest["base"]
        state = ProjectState(
            base_image=reader.picture(base["image"], 3), base_is_blank=bool(base["is_blank"]),
            base_mask=None if base.get("mask") is None else reader.picture(base["mask"], 0),
            base_paint=None if base.get("paint") is None else reader.picture(base["paint"], 4),
            paint_visible=bool(manifest.get("paint_visible", True)),
            edits=[_read_edit(e, reader) for e in manifest.get("edits", [])],
            undo_index=int(manifest.get("undo_index", 0)), clean_index=int(manifest.get("clean_index", -1)),
            results=[Result(int(r["job_id"]), str(r["mode"]), int(r["seed"]), str(r["parameters"]),
                            reader.picture(r["image"], 3)) for r in manifest.get("results", [])],
            last_applied=manifest.get("last_applied"), params=dict(manifest.get("params") or {}),
            original_path=manifest.get("original_path"),
        )
        layers = manifest.get("layers")
        if layers is not None:
            state.image, state.mask, state.paint = (reader.picture(layers[n], _CHANNELS[n]) for n in LAYERS)
        if not 0 <= state.undo_index <= len(state.edits):
            raise reader.damaged("its undo position is outside its history")
        _check_sizes(state, reader)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        if isinstance(exc, KilnError):
            raise
        raise reader.damaged(f"its description is incomplete ({type(exc).__name__})") from exc
    return state


def _check_sizes(state: ProjectState, reader: _Reader) -> None:
    """Every layer and every undo step must fit the picture's size at its point in the history,
    so that reopening can never fail half-way."""
    size = state.base_image.shape[:2]
    for name, layer in (("mask", state.base_mask), ("paint", state.base_paint)):
        if layer is not None and layer.shape[:2] != size:
            raise reader.damaged(f"its base {name} is not the picture's size")

    def walk(edits: list[Edit], size: tuple) -> tuple:
        for edit in edits:
            if edit.kind == "patch":
                x, y, w, h = edit.rect
                if x < 0 or y < 0 or w < 1 or h < 1 or x + w > size[1] or y + h > size[0]:
                    raise reader.damaged(f"the undo step '{edit.text}' lies outside the picture")
                channels = _CHANNELS[edit.layer]
                if any(a.shape[2:] != ((channels,) if channels else ()) for a in edit.arrays):
                    raise reader.damaged(f"the undo step '{edit.text}' has pixels of the wrong kind")
            elif edit.kind == "resize":
                before, after = edit.arrays[:3], edit.arrays[3:]
                if tuple(before[0].shape[:2]) != tuple(size):
                    raise reader.damaged(f"the undo step '{edit.text}' starts from another size")
                size = tuple(after[0].shape[:2])
                for layers in (before, after):
                    shapes = [a if isinstance(a, tuple) else a.shape for a in layers]
                    if shapes[0][2:] != (3,) or tuple(shapes[1]) != shapes[0][:2] or tuple(shapes[2]) != (*shapes[0][:2], 4):
                        raise reader.damaged(f"the undo step '{edit.text}' holds layers of different sizes")
            elif edit.kind == "group":
                size = walk(edit.children, size)
        return size

    walk(state.edits, size)
    if state.image is not None:
        size = state.image.shape[:2]
        if state.mask.shape != size or state.paint.shape[:2] != size:
            raise reader.damaged("its layers are not all the same size")
    for result in state.results:
        if result.image.ndim != 3:
            raise reader.damaged(f"result {result.job_id} is not a picture")


def load_project(path: str | os.PathLike, *, max_megapixels: float | None = None) -> ProjectState:
    """Read a project file. Raises ``ProjectFileError`` with a message a person can act on for
    anything that is not a readable Kiln project (never a half-read state)."""
    path = Path(path)
    label = path.name
    try:
        with zipfile.ZipFile(path) as archive:
            return _read_state(_Reader(label, archive.read, max_pixels(max_megapixels)))
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
    """Read what ``write_recovery`` wrote. Raises ``ProjectFileError``."""
    folder = Path(folder)
    try:
        return _read_state(_Reader("the recovered session", lambda n: (folder / n).read_bytes(), max_pixels()))
    except MemoryError as exc:
        raise ProjectFileError("cannot restore the session: there is not enough memory.") from exc
    except OSError as exc:
        raise ProjectFileError(f"cannot restore the session: {exc.strerror or exc}.") from exc


def is_project_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a project file (by its suffix: a project is opened as one)."""
    return Path(path).suffix.lower() == SUFFIX
