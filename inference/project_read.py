"""Reading Kiln projects (``inference.project_file`` describes the format and writes it).

The file is treated as hostile: every array's header is checked before any pixel memory is
allocated, pickles and entry names that leave the archive are refused, the description's types
and every undo step's size are checked against the picture's size at its point in the history,
and a damaged project is refused whole with one ``ProjectFileError`` sentence — never half-read.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from inference.errors import KilnError, ProjectFileError
from inference.image_io import max_pixels
from inference.project_file import CHANNELS, FORMAT, LAYERS, MANIFEST, VERSION, Edit, ProjectState, Result


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
            state.image, state.mask, state.paint = (reader.picture(layers[n], CHANNELS[n]) for n in LAYERS)
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
                channels = CHANNELS[edit.layer]
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
