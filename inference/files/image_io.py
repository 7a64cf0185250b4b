"""Reading photos and masks into arrays, and writing results safely. Pillow only.

Reading turns whatever a file holds into H×W×3 uint8 RGB the way a person expects: EXIF
orientation applied, 16-bit scaled (not clipped), palettes and grayscale expanded, transparency
flattened onto white, CMYK converted through its colour profile. Files are treated as hostile:
the format is detected from the content (not the name) and limited to the formats Kiln reads,
images over a pixel limit are refused before any pixel memory is allocated, and a truncated or
corrupt file is refused whole, never half-loaded. Every failure is an ``ImageFileError`` subclass
(``inference.core.errors``) whose message says what to do. Things a person should know about a file
that did load (only the first frame of an animation was opened…) come back as notes from
``load_rgb_with_notes``.

Writing is in ``inference.files.image_save``.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import stat
import threading
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from inference.files import deep_image

from inference.files import image_checks
from inference.files.deep_image import SourcePixels
from inference.files.image_convert import rgb_with_notes, to_rgb_array
from inference.core.errors import (
    DamagedImage,
    ImageFileError,
    ImageTooLarge,
    InvalidSetting,
    UnsupportedImage,
)

DEFAULT_MAX_MEGAPIXELS = 200.0
"""Images with more pixels than this are refused unless the user raises the limit."""
MAX_MEGAPIXELS_ENV = "KILN_MAX_MEGAPIXELS"
"""Environment variable that replaces ``DEFAULT_MAX_MEGAPIXELS`` (a number, e.g. ``400``)."""

READ_FORMATS = ("PNG", "JPEG", "WEBP", "TIFF", "BMP", "GIF")
"""Pillow formats Kiln decodes (JPEG includes MPO, as Pillow names many phone photos). Everything
else is refused by name without being decoded: fewer decoders facing untrusted files."""
READABLE = "PNG, JPEG, WebP, TIFF, BMP or GIF"

# What Pillow's decoders raise on malformed input: its plugins are not consistent (OSError,
# SyntaxError, a short struct read, a bad table index, a division by a zero field, and
# NotImplementedError from plugins that meet a variant they lack, e.g. a DDS pixel format).
# A list of types always missed one, so any exception from a call that parses the file is a
# damaged or unsupported file; only such calls are wrapped in this. Kiln's own refusals
# (``ImageFileError``) raised inside those blocks are re-raised before it is caught.
_DECODER_ERRORS = (Exception,)

# Image.MAX_IMAGE_PIXELS and ImageFile.LOAD_TRUNCATED_IMAGES are process-wide: they are set to
# Kiln's values only while one file is decoded, under this lock.
_PILLOW_GLOBALS = threading.Lock()


__all__ = ["LoadedImage", "LoadedPicture", "load_mask", "load_picture_with_notes", "load_rgb", "load_rgb_with_notes",
           "max_pixels", "open_image", "read_parameters", "to_rgb_array"]


class LoadedImage(NamedTuple):
    """What ``load_rgb_with_notes`` returns: ``rgb`` H×W×3 uint8, and ``notes``, plain sentences
    about what was loaded that the caller should show (empty for an ordinary photo)."""

    rgb: np.ndarray
    notes: tuple[str, ...]


class LoadedPicture(NamedTuple):
    """What ``load_picture_with_notes`` returns: ``rgb`` and ``notes`` as in ``LoadedImage``, and
    ``source``: the file's gray channel and 16-bit values (``inference.files.deep_image``) for
    ``save_image`` to keep, or None for an 8-bit colour file (``rgb`` is all it holds)."""

    rgb: np.ndarray
    notes: tuple[str, ...]
    source: SourcePixels | None


def max_pixels(max_megapixels: float | None = None) -> int:
    """The pixel limit for one image: ``max_megapixels`` if given, else the
    ``KILN_MAX_MEGAPIXELS`` environment variable, else 200 megapixels. Raises ``InvalidSetting``."""
    source = "max_megapixels"
    value: object = max_megapixels
    if value is None:
        value = os.environ.get(MAX_MEGAPIXELS_ENV, "").strip() or DEFAULT_MAX_MEGAPIXELS
        source = MAX_MEGAPIXELS_ENV
    try:
        megapixels = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        megapixels = float("nan")
    if not (math.isfinite(megapixels) and megapixels > 0):
        raise InvalidSetting(f"{source} must be a positive number of megapixels such as 400, not '{value}'.")
    return max(1, int(megapixels * 1_000_000))


def _megapixels(pixels: int) -> str:
    megapixels = pixels / 1_000_000
    return f"{megapixels:,.1f}".removesuffix(".0") if megapixels >= 1 else f"{megapixels:.2g}"


def _too_large(path: Path, limit_px: int, size: tuple[int, int] | None = None) -> ImageTooLarge:
    limit = f"Kiln's limit of {_megapixels(limit_px)} megapixels"
    if size is not None:
        pixels = size[0] * size[1]
        what = f"is {size[0]:,}×{size[1]:,} pixels ({_megapixels(pixels)} megapixels), over {limit}"
        suggest = max(math.ceil(pixels / 1_000_000 / 100) * 100, 100)
    else:  # a later frame or a tile that Pillow refused while decoding
        what = f"holds more pixels than {limit}"
        suggest = max(math.ceil(limit_px / 1_000_000 * 2 / 100) * 100, 100)
    return ImageTooLarge(
        f"'{path}' {what}: if you trust the file, set the environment variable "
        f"{MAX_MEGAPIXELS_ENV}={suggest} before starting Kiln (opening that many pixels takes roughly "
        f"{suggest * 10 / 1000:g} GB of memory), or scale the image down first."
    )


@contextlib.contextmanager
def _kiln_pillow_limits(limit_px: int | None):
    """Decode with Kiln's pixel limit (``None``: no Pillow check, for header parsing that Kiln
    checks itself) and never accept a truncated file. Pillow's bomb *warning* becomes an error;
    its chatter about recoverable damage (corrupt EXIF…) is not printed."""
    with _PILLOW_GLOBALS, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")  # "Corrupt EXIF data"…
        saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS = limit_px
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _damaged(path: Path, exc: BaseException) -> DamagedImage:
    detail = str(exc).strip().rstrip(".") or type(exc).__name__
    return DamagedImage(f"'{path}' is damaged or truncated and cannot be read ({detail}): copy or export it again from the original.")


def _check_path(path: Path) -> None:
    """Refuse what is not a readable regular file before opening it (a FIFO would block)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise ImageFileError(f"'{path}' does not exist.") from None
    except PermissionError:
        raise ImageFileError(f"'{path}' cannot be read: permission denied (check the file's and its folder's permissions).") from None
    except ValueError:
        raise ImageFileError(f"'{path}' is not a valid file name.") from None
    except OSError as exc:
        raise ImageFileError(f"'{path}' cannot be read: {exc.strerror or exc}.") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageFileError(f"'{path}' is a folder, not an image file.")
    if not stat.S_ISREG(st.st_mode):
        raise ImageFileError(f"'{path}' is not a regular file (a device, pipe or socket): choose an image file.")
    if st.st_size == 0:
        raise ImageFileError(f"'{path}' is empty (0 bytes).")


def _name_unsupported(fh, limit_px: int) -> str | None:
    """The format Pillow recognises in a file Kiln does not read (header only), for the message.
    When that plugin fails on the header, its header test alone names it."""
    try:
        fh.seek(0)
        with _kiln_pillow_limits(limit_px), Image.open(fh) as other:
            return other.format_description or other.format
    except (*_DECODER_ERRORS, Image.DecompressionBombWarning):
        return image_checks.foreign_format_name(fh, READ_FORMATS)


_MAGIC = ((b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
          (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"))


def _looks_like(fh) -> str | None:
    """The readable format a file's first bytes announce, if any."""
    fh.seek(0)
    head = fh.read(16)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[:2] == b"BM" and head[6:10] == b"\0\0\0\0":  # "BM", file size, reserved zeros
        return "BMP"
    return next((name for magic, name in _MAGIC if head.startswith(magic)), None)


def _check_complete(path: Path, fh, im: Image.Image) -> None:
    """Refuse a decoded file that its format proves broken although Pillow decoded it
    (``inference.files.image_checks``). Raises ``DamagedImage``."""
    again = "copy or export it again from the original."
    if im.format == "PNG":
        damage = image_checks.png_damage(fh)
        if damage:
            raise DamagedImage(f"'{path}' is damaged: {damage}, so part of the picture is wrong or missing; {again}")
        if image_checks.png_rows_missing(fh, im):
            raise DamagedImage(f"'{path}' is damaged: its pixel data ends before the last row, so part of the picture is missing; {again}")
    elif im.format in ("JPEG", "MPO") and image_checks.jpeg_ends_early(fh, im):
        raise DamagedImage(f"'{path}' is damaged: its picture data ends early (a premature end of the JPEG data), "
                           f"so part of the picture is missing; {again}")


_ANIMATED = {"GIF": "animated", "PNG": "animated", "WEBP": "animated", "TIFF": "pages"}


def _frame_note(path: Path, fh, fmt: str | None) -> str | None:
    """Say so when a file holds more than the one frame Kiln opened (not for MPO: a phone
    JPEG's second picture is a preview or depth map, not something to choose). Counts on a
    second, header-only opening of ``fh``: counting seeks through the frames, which would make
    the decoded picture decode again (and lose its orientation)."""
    kind = _ANIMATED.get(fmt or "")
    if kind is None:
        return None
    try:
        fh.seek(0)
        with Image.open(fh, formats=[fmt]) as counted:
            count = int(getattr(counted, "n_frames", 1))
    except _DECODER_ERRORS:
        return f"'{path.name}' holds more frames or pages that are damaged: Kiln opened the first one only."
    if count <= 1:
        return None
    if kind == "pages":
        return f"'{path.name}' has {count} pages: Kiln opened the first page only (page 1 of {count})."
    return f"'{path.name}' is animated: Kiln opened the first frame only (frame 1 of {count})."


def _open_checked(path: str | os.PathLike, max_megapixels: float | None,
                  keep_depth: bool = False) -> tuple[Image.Image, list[str], Image.Image | None]:
    """Open, check and fully decode the first frame of ``path``, EXIF orientation applied.
    Returns the image (detached from the file), notes, and with ``keep_depth`` for 16-bit RGB
    the low bytes as an oriented 8-bit RGB image (``inference.files.deep_image``), else None. Raises
    ``ImageFileError`` subclasses."""
    # 1. The path: a readable, non-empty regular file.
    path = Path(path)
    limit_px = max_pixels(max_megapixels)
    _check_path(path)
    try:
        fh = open(path, "rb")
    except PermissionError:
        raise ImageFileError(f"'{path}' cannot be read: permission denied (check the file's and its folder's permissions).") from None
    except OSError as exc:
        raise ImageFileError(f"'{path}' cannot be read: {exc.strerror or exc}.") from None
    notes: list[str] = []
    with fh:
        # 2. Identify by content, among the formats Kiln reads; headers only, no pixels yet.
        try:
            with _kiln_pillow_limits(None):
                im = Image.open(fh, formats=READ_FORMATS)
        except UnidentifiedImageError:
            kind = _looks_like(fh)
            if kind:
                raise DamagedImage(f"'{path}' is not an image Kiln can read: it starts like a {kind} file but its header is damaged.") from None
            other = _name_unsupported(fh, limit_px)
            if other:
                raise UnsupportedImage(f"'{path}' is a {other} file, which Kiln does not read: save it as {READABLE} first.") from None
            raise UnsupportedImage(f"'{path}' is not an image Kiln can read ({READABLE}).") from None
        except MemoryError:
            raise ImageTooLarge(f"'{path}' needs more memory than is free to open.") from None
        except _DECODER_ERRORS as exc:
            raise _damaged(path, exc) from exc
        # 3. Refuse oversized pictures before any pixel memory is allocated.
        width, height = im.size
        if width <= 0 or height <= 0:
            raise DamagedImage(f"'{path}' is damaged: it says the picture is {width}×{height} pixels.")
        if width * height > limit_px:
            raise _too_large(path, limit_px, (width, height))
        # 4. Decode the first frame completely (truncation is an error), then orient it in
        #    place (no copy of a picture that may be gigabytes).
        low, low_tiles = None, deep_image.low_byte_tiles(im) if keep_depth else None
        try:
            with _kiln_pillow_limits(limit_px):
                im.load()
                _check_complete(path, fh, im)
                try:
                    ImageOps.exif_transpose(im, in_place=True)
                    if low_tiles:
                        low = deep_image.decode_low_bytes(fh, im.format, low_tiles)
                        ImageOps.exif_transpose(low, in_place=True)
                except _DECODER_ERRORS:
                    low = None
                    notes.append(f"'{path.name}' has damaged orientation (EXIF) data: it is shown as stored, perhaps turned.")
                note = _frame_note(path, fh, im.format)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _too_large(path, limit_px) from None
        except MemoryError:
            raise ImageTooLarge(f"'{path}' needs more memory than is free to open ({width}×{height} pixels): close other programs or scale it down.") from None
        except ImageFileError:
            im.close()
            raise
        except _DECODER_ERRORS as exc:
            im.close()
            raise _damaged(path, exc) from exc
    if note:
        notes.insert(0, note)
    return im, notes, low


def open_image(path: str | os.PathLike, *, max_megapixels: float | None = None) -> Image.Image:
    """Open and fully decode ``path`` (its first frame) with EXIF orientation applied.

    Raises ``ImageFileError`` (or a subclass: ``UnsupportedImage``, ``DamagedImage``,
    ``ImageTooLarge``) for a missing, empty, unreadable, truncated, oversized or non-image file,
    and ``InvalidSetting`` for an unusable pixel limit (see ``max_pixels``).
    """
    return _open_checked(path, max_megapixels)[0]


def load_picture_with_notes(path: str | os.PathLike, *, max_megapixels: float | None = None) -> LoadedPicture:
    """``path`` → ``LoadedPicture(rgb H×W×3 uint8, notes, source)``: ``load_rgb_with_notes``
    plus what a 16-bit or gray file holds beyond its 8-bit RGB view, so that ``save_image``
    can write it back at full depth. 16-bit RGB is decoded twice (high, then low bytes); 24
    megapixels of it keep 144 MB of 16-bit values. Raises like ``load_rgb_with_notes``."""
    im, notes, low = _open_checked(path, max_megapixels, keep_depth=True)
    try:
        gray, deep, more = im.mode in deep_image.GRAY_MODES, None, []
        if low is not None and low.size == im.size:
            deep = deep_image.combine_bytes(im, low)
        elif im.mode in deep_image.DEEP_GRAY_MODES:
            deep = deep_image.gray_deep(im)
        if deep is None:
            rgb, more = rgb_with_notes(im, Path(path).name)
        for decoded in (im, low):  # the decoded images go before the 8-bit view is made
            if decoded is not None:
                decoded.close()
        if deep is not None:
            rgb = deep_image.view_rgb(deep)
    except MemoryError:
        raise ImageTooLarge(f"'{path}' needs more memory than is free to convert: close other programs or scale it down.") from None
    source = SourcePixels(gray, deep) if gray or deep is not None else None
    return LoadedPicture(rgb, tuple(notes + more), source)


def load_rgb_with_notes(path: str | os.PathLike, *, max_megapixels: float | None = None) -> LoadedImage:
    """``path`` → ``LoadedImage(rgb H×W×3 uint8, notes)``. The notes are sentences to show the
    user (first frame of an animation, first page of a TIFF, approximate CMYK colours…).
    Raises ``ImageFileError`` subclasses and ``InvalidSetting``, like ``open_image``."""
    im, notes, _ = _open_checked(path, max_megapixels)
    try:
        rgb, more = rgb_with_notes(im, Path(path).name)
    except MemoryError:
        raise ImageTooLarge(f"'{path}' needs more memory than is free to convert: close other programs or scale it down.") from None
    return LoadedImage(rgb, tuple(notes + more))


def load_rgb(path: str | os.PathLike, *, max_megapixels: float | None = None) -> np.ndarray:
    """``path`` → H×W×3 uint8 RGB. Raises ``ImageFileError`` (see ``load_rgb_with_notes``,
    which also says what the user should know about the file)."""
    return load_rgb_with_notes(path, max_megapixels=max_megapixels).rgb


def load_mask(path: str | os.PathLike, *, max_megapixels: float | None = None) -> np.ndarray:
    """A mask file → H×W uint8, white (255) = regenerate. Raises ``ImageFileError``.

    A mask with transparency uses its alpha channel (painted = opaque); otherwise its
    brightness is used.
    """
    im = open_image(path, max_megapixels=max_megapixels)
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        return np.array(im.convert("RGBA").getchannel("A"))
    if im.mode.startswith("I") or im.mode == "F":
        return rgb_with_notes(im)[0][..., 0].copy()
    if im.mode in ("1", "L", "P", "RGB", "RGBX"):
        return np.array(im.convert("L"))
    return np.array(Image.fromarray(rgb_with_notes(im)[0]).convert("L"))


def read_parameters(path: str | os.PathLike) -> str | None:
    """The ``parameters`` text of a PNG written by Kiln or another SD tool, if it has one.
    Reads headers only; any problem with the file means None."""
    try:
        with open(path, "rb") as fh, _kiln_pillow_limits(None), Image.open(fh, formats=READ_FORMATS) as im:
            text = im.info.get("parameters")
    except (*_DECODER_ERRORS, UnidentifiedImageError, MemoryError):
        return None
    return text if isinstance(text, str) and text.strip() else None


def kiln_pillow_limits(limit_px: int | None = None):
    """A context manager: Pillow decodes under Kiln's pixel limit (``max_pixels()`` when
    ``limit_px`` is None) instead of its own, for pictures read from inside other files
    (projects, recovery folders)."""
    return _kiln_pillow_limits(max_pixels() if limit_px is None else limit_px)
