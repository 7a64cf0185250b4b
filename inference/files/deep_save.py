"""Writing a picture at its source's depth and channels: 16-bit PNG and TIFF, and one gray
channel for a gray source whose result is still gray (``inference.files.deep_image`` says how the
16-bit values are merged). numpy, zlib and Pillow.

Pillow writes 8-bit RGB and 8- or 16-bit gray, but has no 16-bit RGB mode: those files are
written here, band by band (PNG: Sub-filtered rows through zlib; TIFF: uncompressed strips,
as scanners write them), so a 24-megapixel scan never needs more than its merged bands in
memory on top of the document.
"""

from __future__ import annotations

import struct
import zlib
from typing import BinaryIO

import numpy as np
from PIL import Image

from inference.files.deep_image import SourcePixels, deep_bands, is_gray

DEEP_FORMATS = ("PNG", "TIFF")
"""Formats that hold 16 bits per channel; JPEG, WebP and BMP get the 8-bit picture."""
_IDAT_BYTES = 1 << 20
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def picture_to_write(rgb: np.ndarray, source: SourcePixels | None, fmt: str) -> tuple[str, bool]:
    """How ``rgb`` (H×W×3 uint8) is written in ``fmt`` given its ``source``: (kind, gray), kind
    "rgb8" (as edited), "gray8", "deep" (16 bits, gray or RGB by ``gray``)."""
    if source is None or not source.fits(rgb):
        return "rgb8", False
    gray = source.gray and is_gray(rgb)
    if source.deep is not None and fmt in DEEP_FORMATS:
        return "deep", gray
    return ("gray8", True) if gray else ("rgb8", False)


def write_picture(fh: BinaryIO, fmt: str, rgb: np.ndarray, source: SourcePixels | None, options: dict) -> None:
    """Encode ``rgb`` (H×W×3 uint8, the edited picture) into ``fh`` as ``fmt`` at the depth and
    channels of ``source`` (None: 8-bit RGB as given). ``options`` are Pillow's save options
    (``pnginfo`` carries the PNG's text)."""
    kind, gray = picture_to_write(rgb, source, fmt)
    if kind == "rgb8":
        Image.fromarray(rgb).save(fh, format=fmt, **options)
    elif kind == "gray8":
        Image.fromarray(np.ascontiguousarray(rgb[..., 0])).save(fh, format=fmt, **options)
    elif gray:  # Pillow writes 16-bit gray PNG and TIFF itself
        Image.fromarray(np.concatenate(list(deep_bands(source, rgb, gray=True)))).save(fh, format=fmt, **options)
    elif fmt == "PNG":
        _write_png16(fh, rgb.shape[1], rgb.shape[0], deep_bands(source, rgb, gray=False), options.get("pnginfo"))
    else:
        _write_tiff16(fh, rgb.shape[1], rgb.shape[0], deep_bands(source, rgb, gray=False))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _sub_filtered(rows: np.ndarray) -> np.ndarray:
    """PNG filter type 1 (Sub: each byte minus the one a pixel, 6 bytes, to its left, modulo
    256) over ``rows`` (h × n uint8 scanline bytes). Returns h × (1 + n) uint8, each row led by
    its filter type. On 16-bit scans it compresses as well as Paeth (measured: 0.764 against
    0.766 of the raw size) at an eighth of the cost."""
    out = np.empty((rows.shape[0], rows.shape[1] + 1), np.uint8)
    out[:, 0] = 1
    out[:, 1:7] = rows[:, :6]
    np.subtract(rows[:, 6:], rows[:, :-6], out=out[:, 7:])
    return out


def _text_chunk(text: str) -> bytes:
    """The A1111-style ``parameters`` text: tEXt when Latin-1 holds it, else UTF-8 iTXt."""
    try:
        return _chunk(b"tEXt", b"parameters\0" + text.encode("latin-1"))
    except UnicodeEncodeError:
        return _chunk(b"iTXt", b"parameters\0\0\0\0\0" + text.encode("utf-8"))


def _write_png16(fh: BinaryIO, width: int, height: int, bands, pnginfo) -> None:
    """A 16-bit RGB PNG from ``bands`` (H'×W×3 uint16, top to bottom); ``pnginfo`` (Pillow's
    PngInfo or None) gives its text chunks."""
    fh.write(_PNG_SIGNATURE + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)))
    for text in getattr(pnginfo, "chunks", ()):  # Pillow's PngInfo keeps (type, data[, after_idat])
        fh.write(_chunk(text[0], text[1]))
    # Level 1: the low bytes of a scan are mostly noise, so level 6 saves under 1% of the size
    # at more than twice the time (24 megapixels: 8.6 s against 18.8 s here).
    compressor, pending = zlib.compressobj(1), []
    for band in bands:
        rows = band.astype(">u2").view(np.uint8).reshape(band.shape[0], width * 6)
        pending.append(compressor.compress(_sub_filtered(rows).tobytes()))
        if sum(map(len, pending)) >= _IDAT_BYTES:
            fh.write(_chunk(b"IDAT", b"".join(pending)))
            pending = []
    pending.append(compressor.flush())
    fh.write(_chunk(b"IDAT", b"".join(pending)) + _chunk(b"IEND", b""))


_TIFF_SHORT, _TIFF_LONG, _TIFF_RATIONAL = 3, 4, 5
_ROWS_PER_STRIP = 64


def _write_tiff16(fh: BinaryIO, width: int, height: int, bands) -> None:
    """A baseline little-endian 16-bit RGB TIFF, uncompressed, from ``bands`` (H'×W×3 uint16)."""
    row_bytes = width * 6
    strips = -(-height // _ROWS_PER_STRIP)
    counts = [min(_ROWS_PER_STRIP, height - i * _ROWS_PER_STRIP) * row_bytes for i in range(strips)]
    entries = 13
    ifd_bytes = 2 + 12 * entries + 4
    extra_at = 8 + ifd_bytes  # bits per sample, resolutions, then the strip tables
    bits_at, xres_at, yres_at = extra_at, extra_at + 8, extra_at + 16
    offsets_at, counts_at = extra_at + 24, extra_at + 24 + 4 * strips
    data_at = counts_at + 4 * strips
    offsets = [data_at + sum(counts[:i]) for i in range(strips)]

    def entry(tag, kind, count, value):
        packed = struct.pack("<H", value) + b"\0\0" if kind == _TIFF_SHORT and count == 1 else struct.pack("<I", value)
        return struct.pack("<HHI", tag, kind, count) + packed

    ifd = struct.pack("<H", entries) + b"".join([
        entry(256, _TIFF_LONG, 1, width), entry(257, _TIFF_LONG, 1, height),
        entry(258, _TIFF_SHORT, 3, bits_at), entry(259, _TIFF_SHORT, 1, 1),  # no compression
        entry(262, _TIFF_SHORT, 1, 2),  # RGB
        entry(273, _TIFF_LONG, strips, offsets_at if strips > 1 else offsets[0]),
        entry(277, _TIFF_SHORT, 1, 3), entry(278, _TIFF_LONG, 1, _ROWS_PER_STRIP),
        entry(279, _TIFF_LONG, strips, counts_at if strips > 1 else counts[0]),
        entry(282, _TIFF_RATIONAL, 1, xres_at), entry(283, _TIFF_RATIONAL, 1, yres_at),
        entry(284, _TIFF_SHORT, 1, 1), entry(296, _TIFF_SHORT, 1, 2),  # chunky pixels; inches
    ]) + struct.pack("<I", 0)
    fh.write(b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<HHHH", 16, 16, 16, 0)
             + struct.pack("<IIII", 72, 1, 72, 1) + struct.pack(f"<{strips}I", *offsets) + struct.pack(f"<{strips}I", *counts))
    for band in bands:
        fh.write(band.astype("<u2").tobytes())
