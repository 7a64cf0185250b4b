"""Writing results safely. Pillow only.

Writing goes through a temporary file in the same folder, fsync and a rename, so a failed write
(full disk, read-only folder) never leaves a half-written file where a good one was. A process
killed mid-write cannot remove its temporary file: each one is named after the process that
writes it (``.NAME.kiln-PID-XXXXXXXX.tmp``), and the next save into that folder removes those
whose process is gone (``remove_stale_temps``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import stat
import time
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np
from PIL import PngImagePlugin

from inference.files.deep_image import SourcePixels
from inference.files.deep_save import write_picture
from inference.core.errors import ImageSaveError, KilnError

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
        return f"cannot save '{path}': the file name or its folder's path is too long; choose a shorter name or folder."
    if exc.errno == errno.EISDIR:
        return f"cannot save '{path}': a folder has that name; choose another name."
    return f"cannot save '{path}': {reason}."


NAME_MAX_BYTES = 255
"""The longest file name most file systems take (ext4, APFS, NTFS in UTF-16 units), in bytes."""
_TEMP_NAME = re.compile(r"^\..*\.kiln-(\d+)-[0-9a-f]{8}\.tmp$")
_TEMP_PREFIX_BYTES = 100  # of the target's name, so that any name under the limit fits
STALE_AFTER_S = 24 * 3600.0
"""A temporary file this old is stale even if a process with its writer's id runs (the id was
reused: no save takes a day)."""
_STARTED_AT = time.time()  # temporary files of the old naming older than this are from an earlier run


def _temp_name(name: str) -> str:
    stem = os.fsencode(name)[:_TEMP_PREFIX_BYTES].decode("utf-8", "ignore")  # bytes count, not characters
    return f".{stem}.kiln-{os.getpid()}-{secrets.token_hex(4)}.tmp"


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # it exists (another user's), or cannot be asked: keep its file
    return True


def remove_stale_temps(folder: str | os.PathLike, name: str | None = None) -> list[Path]:
    """Remove the temporary files that writers killed mid-write left in ``folder``: those whose
    writing process is gone, or older than ``STALE_AFTER_S``. With ``name`` (a file about to be
    saved there), also the ones of the older naming for that file (``.NAME.XXXXXXXX.tmp``, no
    process id) last written before this process started. Files of running writers and every
    other file stay. Returns the paths removed; problems (a folder that cannot be listed, a
    file that cannot be removed) are ignored: this is clean-up, not the save."""
    removed: list[Path] = []
    legacy = re.compile(rf"^\.{re.escape(name[:120])}\.[0-9a-f]{{8}}\.tmp$") if name else None
    now = time.time()
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            found = _TEMP_NAME.match(entry.name)
            if not found and not (legacy and legacy.match(entry.name)):
                continue
            with contextlib.suppress(OSError):
                info = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(info.st_mode):
                    continue
                if found:
                    stale = not _process_alive(int(found.group(1))) or now - info.st_mtime > STALE_AFTER_S
                else:
                    stale = info.st_mtime < _STARTED_AT
                if stale:
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def _create_temp(path: Path) -> tuple[str, int]:
    """A new hidden file beside ``path``, named after this process, created with the
    permissions any new file gets (the umask applies; ``tempfile.mkstemp`` would make it
    private to the user)."""
    for _ in range(100):
        tmp = str(path.with_name(_temp_name(path.name)))
        try:
            return tmp, os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "could not create a temporary file")


def save_image(path: str | os.PathLike, image: np.ndarray, parameters: str | None = None,
               source: SourcePixels | None = None) -> Path:
    """Write H×W×3 uint8 ``image`` atomically, in the format its suffix names. PNG files carry
    ``parameters`` in the A1111-style text chunk. With ``source`` (what ``load_picture_with_notes``
    kept of a 16-bit or gray file, same size as ``image``), PNG and TIFF are written at 16 bits
    with every unchanged pixel's own 16-bit value, and a gray source whose result is still gray
    keeps one channel (``inference.files.deep_save``). Raises ``ImageSaveError`` (unknown suffix,
    full disk, read-only folder, a name too long…) and leaves any existing file at ``path``
    untouched then, with no temporary file left behind. A replaced file keeps its permissions.
    """
    path = Path(path)
    fmt = SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageSaveError(f"cannot save '{path.name}': use .png, .jpg, .webp, .tif or .bmp.")
    options = {"quality": 95} if fmt in ("JPEG", "WEBP") else {}
    if fmt == "PNG" and parameters:
        options["pnginfo"] = PngImagePlugin.PngInfo()
        options["pnginfo"].add_text("parameters", parameters)
    return write_atomically(path, lambda fh: write_picture(fh, fmt, image, source, options))


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], None],
                     error: type[KilnError] = ImageSaveError) -> Path:
    """Create or replace ``path`` with what ``write(file)`` writes, so that a failure at any
    point — full disk, read-only folder, a crash mid-write — leaves the previous file intact:
    a temporary file beside it, flushed and fsynced, renamed over it, then the folder fsynced.
    OSErrors become ``error`` with a message a person can act on (no temporary file is left);
    anything else ``write`` raises is passed on after the same clean-up."""
    # 1. Check what can be checked before writing anything.
    path = Path(path)
    name_bytes = len(os.fsencode(path.name))
    if name_bytes > NAME_MAX_BYTES:
        raise error(f"cannot save '{path.name[:60]}…': the file name is {name_bytes} bytes long, over the "
                    f"{NAME_MAX_BYTES} bytes a file system allows; choose a shorter name.")
    try:
        if not path.parent.is_dir():
            raise error(f"cannot save '{path}': the folder '{path.parent}' does not exist.")
        if path.is_dir():
            raise error(f"cannot save '{path}': a folder has that name; choose another name.")
    except OSError as exc:  # a path too long as a whole, a folder that cannot be searched…
        raise error(_save_message(path, exc)) from exc
    remove_stale_temps(path.parent, path.name)
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
