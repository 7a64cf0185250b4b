"""The entries of a Kiln project, read with bounded memory (``inference.files.project_read`` checks
what the description says; this module checks that each entry holds exactly that).

Every entry is read at most once (a second reference to one entry is refused: several undo
steps pointing at one huge patch would otherwise multiply it), its declared size is checked
against what the description says it holds *before* anything is decompressed, and it is
streamed with a cap, so a zip bomb costs at most the bytes the description allows. Pictures are
decoded under Kiln's pixel limit (``inference.files.image_io.max_pixels``), never Pillow's own. Large
undo patches and results are streamed into temporary files and mapped (``numpy.memmap``), so
a long history of big edits costs disk space, not memory.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
import weakref
import zipfile
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from inference.core.errors import ProjectFileError
from inference.files.image_io import kiln_pillow_limits

CHUNK_BYTES = 1 << 20
MAP_FROM_BYTES = 1 << 20  # undo patches and results at least this big are mapped from a temporary file
_PNG_FIXED_BYTES = 1 << 20  # headers, chunk framing and what a PNG writer may add beyond the raw rows


def png_bytes_bound(height_px: int, width_px: int, channels: int) -> int:
    """The most bytes a PNG of this size may take: its raw rows (a filter byte each) with
    deflate's worst-case framing (≤ 0.1 %) and a fixed allowance for the chunks around them."""
    raw = height_px * (width_px * max(channels, 1) + 1)
    return raw + raw // 512 + _PNG_FIXED_BYTES


class WrongSize(ProjectFileError):
    """An entry whose picture is not of a size its description allows."""


class Source:
    """The entries of a project file (a zip) or of a recovery folder: ``size(name)`` is the
    uncompressed size the container declares, ``open(name)`` a binary stream. Both raise
    KeyError for a missing entry."""

    def __init__(self, archive: zipfile.ZipFile | None = None, folder: Path | None = None):
        self._archive, self._folder = archive, folder

    def size(self, name: str) -> int:
        if self._archive is not None:
            return self._archive.getinfo(name).file_size
        try:
            info = os.stat(self._folder / name)
        except FileNotFoundError as exc:
            raise KeyError(name) from exc
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
            raise KeyError(name)
        return info.st_size

    def open(self, name: str) -> BinaryIO:
        if self._archive is not None:
            return self._archive.open(name)
        return open(self._folder / name, "rb")


class EntryReader:
    """Reads each entry once, within the bytes its description allows. ``damaged(what)`` makes
    the one error every refusal raises."""

    def __init__(self, label: str, source: Source, limit_px: int):
        self.label, self._source, self.limit_px = label, source, limit_px
        self._claimed: set[str] = set()

    def damaged(self, what: str, kind: type[ProjectFileError] = ProjectFileError) -> ProjectFileError:
        error = kind(f"cannot open '{self.label}': the project is damaged ({what}).")
        error.reason = what  # the part a note about one entry repeats
        return error

    def _claim(self, name: object, limit_bytes: int) -> int:
        """Check ``name`` and its declared size; returns that size."""
        if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split("/"):
            raise self.damaged(f"it names an entry Kiln does not accept ({str(name)[:80]!r})")
        if name in self._claimed:
            raise self.damaged(f"'{name}' is used twice")
        self._claimed.add(name)
        try:
            declared = self._source.size(name)
        except KeyError as exc:
            raise self.damaged(f"'{name}' is missing") from exc
        if declared > limit_bytes:
            raise self.damaged(f"'{name}' holds {declared:,} bytes, more than the {limit_bytes:,} "
                               "its description allows")
        return declared

    def declared(self, name: str) -> int:
        """The size the container declares for ``name`` (0 when it is missing: reading says so)."""
        try:
            return self._source.size(name)
        except KeyError:
            return 0

    def bytes(self, name: str, limit_bytes: int) -> bytes:
        """The whole entry, refused when it declares or holds more than ``limit_bytes``."""
        self._claim(name, limit_bytes)
        with self._source.open(name) as stream:
            data = stream.read(limit_bytes + 1)
        if len(data) > limit_bytes:
            raise self.damaged(f"'{name}' holds more than the {limit_bytes:,} bytes its description allows")
        return data

    def png(self, name: str, channels: int, sizes: set[tuple[int, int]], map_large: bool = False) -> np.ndarray:
        """A PNG entry as H×W (``channels`` 0), H×W×3 or H×W×4 uint8 whose (H, W) is one of
        ``sizes``; its bytes are capped by the largest of them before it is read. ``map_large``:
        as ``npy``."""
        limit = max(png_bytes_bound(h, w, channels) for h, w in sizes)
        data = self.bytes(name, limit)
        mode = {0: "L", 3: "RGB", 4: "RGBA"}[channels]
        try:
            with kiln_pillow_limits(self.limit_px), Image.open(io.BytesIO(data), formats=["PNG"]) as im:
                if (im.height, im.width) not in sizes:
                    raise self.damaged(f"'{name}' is {im.width}×{im.height}, not a size the picture has", WrongSize)
                if im.mode != mode:
                    raise self.damaged(f"'{name}' has mode {im.mode}, not {mode}")
                im.load()
                return _pixels(im, channels, map_large)
        except ProjectFileError:
            raise
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - a hostile file can make a decoder raise anything
            raise self.damaged(f"'{name}' cannot be decoded: {str(exc)[:200] or type(exc).__name__}") from exc

    def npy(self, name: str, allowed, map_large: bool = False) -> np.ndarray:
        """A raw array entry (numpy's format, uint8, C order). ``allowed(shape)`` says whether
        the description allows that shape (checked from the header, before the pixels are
        read); the entry must then be exactly the header and those pixels. ``map_large``:
        arrays of ``MAP_FROM_BYTES`` or more are mapped from a temporary file (read-only)."""
        declared = self._claim(name, 1 << 62)
        with self._source.open(name) as stream:
            shape, header_bytes = self._npy_header(name, stream)
            if not allowed(shape) or int(np.prod(shape[:2])) > self.limit_px:
                raise self.damaged(f"'{name}' holds an array of shape {shape}, not what its description says",
                                   WrongSize)
            nbytes = int(np.prod(shape))
            if declared != header_bytes + nbytes:
                raise self.damaged(f"'{name}' has {declared:,} bytes, not the {header_bytes + nbytes:,} "
                                   "its header says")
            if map_large and nbytes >= MAP_FROM_BYTES:
                array = _mapped_copy(stream, shape, nbytes)
            else:
                array = np.empty(shape, np.uint8)
                _read_exactly(stream, memoryview(array.reshape(-1)))
            if stream.read(1):
                raise self.damaged(f"'{name}' holds more than its header says")
        return array

    def _npy_header(self, name: str, stream) -> tuple[tuple, int]:
        try:
            version = np.lib.format.read_magic(stream)
            read_header = {(1, 0): np.lib.format.read_array_header_1_0,
                           (2, 0): np.lib.format.read_array_header_2_0}.get(version)
            if read_header is None:
                raise self.damaged(f"'{name}' is in an array format Kiln does not read")
            shape, fortran, dtype = read_header(stream)
        except ProjectFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - a damaged header can make numpy's parser raise anything
            raise self.damaged(f"'{name}' cannot be read: {type(exc).__name__}") from exc
        if dtype != np.uint8 or fortran or len(shape) not in (2, 3) or 0 in shape:
            raise self.damaged(f"'{name}' is not a picture patch")
        return tuple(int(v) for v in shape), stream.tell()


def _strips(im: Image.Image):
    """The decoded picture's rows as uint8 arrays, a few megabytes at a time: ``np.asarray`` of
    the whole picture would hold three copies of it at once (Pillow's, its bytes, the join)."""
    rows = max(1, (4 << 20) // (im.width * 4))
    for top in range(0, im.height, rows):
        yield np.asarray(im.crop((0, top, im.width, min(top + rows, im.height))))


def _pixels(im: Image.Image, channels: int, map_large: bool) -> np.ndarray:
    shape = (im.height, im.width, channels) if channels else (im.height, im.width)
    nbytes = int(np.prod(shape))
    if map_large and nbytes >= MAP_FROM_BYTES:
        return _mapped_copy(io.BufferedReader(_StripStream(_strips(im))), shape, nbytes)
    array = np.empty(shape, np.uint8)
    top = 0
    for strip in _strips(im):
        array[top:top + len(strip)] = strip
        top += len(strip)
    return array


class _StripStream(io.RawIOBase):
    """The strips of ``_strips`` as one readable stream (for ``_mapped_copy``)."""

    def __init__(self, strips):
        self._strips, self._left = strips, b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._left:
            strip = next(self._strips, None)
            if strip is None:
                return 0
            self._left = memoryview(np.ascontiguousarray(strip)).cast("B")
        size = min(len(buffer), len(self._left))
        buffer[:size] = self._left[:size]
        self._left = self._left[size:]
        return size


def _read_exactly(stream, view: memoryview) -> None:
    done = 0
    while done < len(view):
        data = stream.read(min(CHUNK_BYTES, len(view) - done))
        if not data:
            raise EOFError("an entry is cut short")
        view[done:done + len(data)] = data
        done += len(data)


def _mapped_copy(stream, shape: tuple, nbytes: int) -> np.ndarray:
    """Stream ``nbytes`` into a temporary file and map it read-only (the file is deleted as soon
    as the system allows: at once on POSIX, when the array goes on Windows)."""
    folder = tempfile.gettempdir()
    free = shutil.disk_usage(folder).free
    if free < nbytes + (256 << 20):
        raise ProjectFileError(f"opening this project needs {nbytes / 2**20:,.0f} MB more in the temporary folder "
                               f"'{folder}', which has {free / 2**20:,.0f} MB free: free some space there.")
    fd, path = tempfile.mkstemp(prefix="kiln-open-", suffix=".raw")
    try:
        with os.fdopen(fd, "wb") as out:
            left = nbytes
            while left:
                data = stream.read(min(CHUNK_BYTES, left))
                if not data:
                    raise EOFError("an entry is cut short")
                out.write(data)
                left -= len(data)
        array = np.memmap(path, np.uint8, "r", shape=shape)
    except BaseException:
        os.unlink(path)
        raise
    try:
        os.unlink(path)
    except OSError:
        weakref.finalize(array, _remove, path)
    return array


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
