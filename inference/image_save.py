"""Writing results safely. Pillow only.

Writing goes through a temporary file in the same folder, fsync and a rename, so a failed write
(full disk, read-only folder) never leaves a half-written file where a good one was.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
from PIL import Image, PngImagePlugin

from inference.errors import ImageSaveError, KilnError

SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF", ".bmp": "BMP"}


def _save_message(path: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return f"cannot save '{path}': the disk is full ({reason}); free some space or save to another drive."
    if exc.errno == errno.EROFS:
        return f"cannot save '{path}': the folder '{path.parent}' is on a read-only drive; save to another folder."
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"cannot save '{path}': Kiln may not write there ({reason}); save to another folder, or make this one writable."
    if exc.errno == errno.ENAMETOOLONG:
        return f"cannot save '{path}': the file name is too long; choose a shorter name."
    if exc.errno == errno.EISDIR:
        return f"cannot save '{path}': a folder has that name; choose another name."
    return f"cannot save '{path}': {reason}."


def _create_temp(path: Path) -> tuple[str, int]:
    """A new hidden file beside ``path``, created with the permissions any new file gets (the
    umask applies; ``tempfile.mkstemp`` would make it private to the user)."""
    for _ in range(100):
        tmp = str(path.with_name(f".{path.name[:120]}.{secrets.token_hex(4)}.tmp"))
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "could not create a temporary file")


def save_image(path: str | os.PathLike, image: np.ndarray, parameters: str | None = None) -> Path:
    """Write H×W×3 uint8 ``image`` atomically, in the format its suffix names. PNG files carry
    ``parameters`` in the A1111-style text chunk. Raises ``ImageSaveError`` (unknown suffix,
    full disk, read-only folder…) and leaves any existing file at ``path`` untouched then, with
    no temporary file left behind. A replaced file keeps its permissions.
    """
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageSaveError(f"cannot save '{path.name}': use .png, .jpg, .webp, .tif or .bmp.")
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "PNG" and parameters:
        options["pnginfo"] = PngImagePlugin.PngInfo()
        options["pnginfo"].add_text("parameters", parameters)
    return write_atomically(path, lambda fh: Image.fromarray(image).save(fh, format=fmt, **options))


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], None],
                     error: type[KilnError] = ImageSaveError) -> Path:
    """Create or replace ``path`` with what ``write(file)`` writes, so that a failure at any
    point — full disk, read-only folder, a crash mid-write — leaves the previous file intact:
    a temporary file beside it, flushed and fsynced, renamed over it, then the folder fsynced.
    OSErrors become ``error`` with a message a person can act on (no temporary file is left);
    anything else ``write`` raises is passed on after the same clean-up."""
    # 1. Check what can be checked before writing anything.
    path = Path(path)
    if not path.parent.is_dir():
        raise error(f"cannot save '{path}': the folder '{path.parent}' does not exist.")
    if path.is_dir():
        raise error(f"cannot save '{path}': a folder has that name; choose another name.")
    # 2. Write a temporary file beside the target, flushed to disk; 3. rename it over the target.
    tmp = None
    try:
        tmp, fd = _create_temp(path)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        with contextlib.suppress(OSError):  # keep a replaced file's permissions (best effort)
            os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise error(_save_message(path, exc)) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    # 4. Make the rename itself durable (best effort: not every file system can fsync a folder).
    with contextlib.suppress(OSError, AttributeError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path
