"""Full-depth pictures: a 16-bit or grayscale file keeps its depth and its channels through
editing and saving. Pillow and numpy only.

Kiln edits and generates on H×W×3 uint8 RGB, the *8-bit view*. For a 16-bit or grayscale file,
loading also keeps ``SourcePixels``: whether the file is gray, and its 16-bit values. Saving
merges the edited 8-bit picture back (``merge_band``): a value whose 8-bit form still equals
the 8-bit view of the source takes the source's 16-bit value, a changed one takes value × 257
(0…255 spread over 0…65535). Untouched pixels so come back with all 16 bits; a gray source whose
result is still gray is written with one channel (``inference.files.deep_save``).

The 8-bit view of a 16-bit value v is round(v / 257), the nearest 8-bit level; v × 257 maps each
level back onto itself. Pillow reads 16-bit RGB as 8-bit (it has no such mode): the low bytes
come from a second decode of the same file with its raw mode's byte order swapped
(``decode_low_bytes``), so no other decoder ever sees the file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
from PIL import Image

BAND_ROWS = 256
"""Rows converted at a time: temporaries stay a few MB on a 24-megapixel scan."""

GRAY_MODES = frozenset(("1", "L", "LA", "La", "I;16", "I;16B", "I;16L", "I;16N", "I", "F"))
"""Pillow modes of files that hold one gray channel (transparency is flattened on white: still gray)."""
DEEP_GRAY_MODES = frozenset(("I;16", "I;16B", "I;16L", "I;16N"))

_NATIVE = "L" if sys.byteorder == "little" else "B"
# Raw modes of 16-bit RGB in Pillow's PNG and TIFF plugins → the same data read with the other
# byte taken as the high one: its 8-bit result is then the low byte of each value.
_LOW_BYTE_RAWMODES = {
    "RGB;16B": "RGB;16L",
    "RGB;16L": "RGB;16B",
    "RGB;16N": "RGB;16" + ("B" if _NATIVE == "L" else "L"),
}


@dataclass(frozen=True, eq=False)
class SourcePixels:
    """What a loaded file holds beyond its 8-bit RGB view.

    ``gray``: the file has one gray channel. ``deep``: its 16-bit values, read-only, H×W (gray)
    or H×W×3 uint16 (RGB); None for an 8-bit file. 24 megapixels of 16-bit RGB take 144 MB."""

    gray: bool
    deep: np.ndarray | None = None

    @property
    def bits(self) -> int:
        return 8 if self.deep is None else 16

    def fits(self, rgb: np.ndarray) -> bool:
        """Whether ``rgb`` (H×W×3) is the size of this source (an extended canvas is not)."""
        return self.deep is None or self.deep.shape[:2] == rgb.shape[:2]


def low_byte_tiles(im: Image.Image) -> list | None:
    """For an opened, not yet loaded 16-bit RGB PNG or TIFF: its decoder tiles with the raw mode
    that yields the low bytes; None for anything else (Kiln then keeps 8 bits)."""
    if im.format not in ("PNG", "TIFF") or im.mode != "RGB" or not im.tile:
        return None
    tiles = []
    for tile in im.tile:
        args = tile.args
        rawmode = args if isinstance(args, str) else args[0] if isinstance(args, tuple) and args else None
        low = _LOW_BYTE_RAWMODES.get(rawmode) if isinstance(rawmode, str) else None
        if low is None:
            return None
        tiles.append(tile._replace(args=low if isinstance(args, str) else (low, *args[1:])))
    return tiles


def decode_low_bytes(fh, fmt: str, tiles: list) -> Image.Image:
    """Decode the file ``fh`` (format ``fmt``) again with ``tiles`` from ``low_byte_tiles``: an
    8-bit RGB image of the low bytes, not yet oriented. Raises whatever Pillow raises."""
    fh.seek(0)
    low = Image.open(fh, formats=[fmt])
    low.tile = tiles
    low.load()
    return low


def combine_bytes(high: Image.Image, low: Image.Image) -> np.ndarray:
    """8-bit RGB images of the high and low bytes → H×W×3 uint16, read-only; band by band, so
    no whole 8-bit copy of either is made."""
    deep = np.empty((high.height, high.width, 3), np.uint16)
    for top in range(0, high.height, BAND_ROWS):
        box = (0, top, high.width, min(top + BAND_ROWS, high.height))
        band = deep[top:box[3]]
        band[...] = np.asarray(high.crop(box))
        band <<= 8
        band |= np.asarray(low.crop(box))
    deep.flags.writeable = False
    return deep


def gray_deep(im: Image.Image) -> np.ndarray:
    """A 16-bit gray Pillow image → H×W uint16 (native byte order), read-only."""
    deep = np.asarray(im).astype(np.uint16)
    deep.flags.writeable = False
    return deep


def to_eight_bit(deep: np.ndarray) -> np.ndarray:
    """uint16 array → uint8 of the same shape: round(v / 257), the nearest 8-bit level (exact:
    (v + 128) // 257), computed in bands of rows."""
    out = np.empty(deep.shape, np.uint8)
    for top in range(0, deep.shape[0], BAND_ROWS):
        band = deep[top:top + BAND_ROWS].astype(np.uint32)
        band += 128
        band //= 257
        out[top:top + BAND_ROWS] = band
    return out


def view_rgb(deep: np.ndarray) -> np.ndarray:
    """The 8-bit view of ``deep`` (H×W or H×W×3 uint16) as H×W×3 uint8 RGB."""
    eight = to_eight_bit(deep)
    return np.repeat(eight[..., None], 3, axis=2) if eight.ndim == 2 else eight


def is_gray(rgb: np.ndarray) -> bool:
    """Whether R == G == B in every pixel of H×W×3 ``rgb`` (stops at the first band that is not)."""
    for top in range(0, rgb.shape[0], BAND_ROWS):
        band = rgb[top:top + BAND_ROWS]
        if not (np.array_equal(band[..., 0], band[..., 1]) and np.array_equal(band[..., 1], band[..., 2])):
            return False
    return True


def merge_band(deep: np.ndarray, eight: np.ndarray) -> np.ndarray:
    """One band of the saved picture: ``eight`` (the edited 8-bit values, uint8) at 16 bits,
    where each value still equal to the 8-bit view of ``deep`` (the source's 16-bit values,
    uint16, same shape) takes the source's value. Returns a new uint16 array."""
    out = eight.astype(np.uint16)
    out *= 257
    np.copyto(out, deep, where=to_eight_bit(deep) == eight)
    return out


def deep_bands(source: SourcePixels, rgb: np.ndarray, gray: bool):
    """Yield the saved picture in bands of ``BAND_ROWS`` rows at 16 bits: H'×W (``gray``) or
    H'×W×3 uint16, merged from the edited ``rgb`` (H×W×3 uint8) and ``source.deep``. A gray
    source whose result has colour gets its gray value in all three channels first."""
    deep = source.deep
    for top in range(0, rgb.shape[0], BAND_ROWS):
        band = rgb[top:top + BAND_ROWS]
        if gray:
            yield merge_band(deep[top:top + BAND_ROWS] if deep.ndim == 2 else deep[top:top + BAND_ROWS, :, 0], band[..., 0])
        else:
            source_band = deep[top:top + BAND_ROWS]
            if source_band.ndim == 2:
                source_band = np.repeat(source_band[..., None], 3, axis=2)
            yield merge_band(source_band, band)
