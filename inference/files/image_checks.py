"""Checks of a decoded file that Pillow's decoders leave out, so that a damaged file is refused
whole instead of opening with part of its picture missing or wrong. Pillow and numpy only.

* PNG: every chunk carries a CRC-32, but Pillow checks only the header chunks': a file whose
  tail was zero-filled (a disk or transfer error) still decodes, with the last rows wrong.
  ``png_damage`` checks every chunk, pixel data included.
* PNG: compressed pixel data that ends cleanly but early leaves rows zero without an error
  (``png_rows_missing``).
* JPEG: a file cut short with an end marker after the cut decodes "successfully": libjpeg warns
  ("premature end of data segment") and fills the rest grey, and Pillow does not pass the
  warning on. ``jpeg_ends_early`` finds that case by decoding twice (see there).
* ``foreign_format_name``: what a file Kiln does not read is, by the header tests of Pillow's
  other plugins (without running their decoders, which may raise anything).
"""

from __future__ import annotations

import io
import math
import os
import re
import struct
import zlib
from typing import NamedTuple

from PIL import Image, ImageChops

_CHUNK_BLOCK_BYTES = 1 << 20  # the CRC pass reads the file in blocks, never whole


def png_damage(fh) -> str | None:
    """Why the PNG in the binary file ``fh`` is provably damaged, as a phrase for a message
    ("the checksum of its IDAT chunk at byte 812 does not match"), or None. Every chunk's CRC-32
    is checked up to IEND. A file that ends between two chunks is left to the other checks (its
    pixels may all be there); one that ends inside its pixel data is damaged."""
    fh.seek(8)
    while True:
        offset = fh.tell()
        head = fh.read(8)
        if len(head) < 8:
            return None if not head else f"it ends inside the chunk header at byte {offset:,}"
        length, kind = struct.unpack(">I4s", head)
        name = kind.decode("latin-1")
        crc, remaining = zlib.crc32(kind), length
        while remaining:
            block = fh.read(min(remaining, _CHUNK_BLOCK_BYTES))
            if not block:
                break
            crc, remaining = zlib.crc32(block, crc), remaining - len(block)
        stored = fh.read(4)
        if remaining or len(stored) < 4:
            if kind in (b"IDAT", b"fdAT"):
                return f"it ends inside its pixel data ({name} chunk at byte {offset:,})"
            return None
        if int.from_bytes(stored, "big") != crc:
            what = "pixel data" if kind in (b"IDAT", b"fdAT") else f"{name!r} chunk"
            return f"the checksum of its {what} at byte {offset:,} does not match"
        if kind == b"IEND":
            return None


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def png_rows_missing(fh, im: Image.Image) -> bool:
    """True when a PNG's compressed pixel data ends cleanly but early. Pillow leaves the missing
    rows zero and reports nothing. Fast path: a non-interlaced picture whose last row holds
    anything but zero bytes was decoded to the end. Otherwise the IDAT stream is inflated once
    more, counting bytes without keeping them, and compared with what the header promises."""
    if not im.info.get("interlace") and any(im.crop((0, im.height - 1, im.width, im.height)).tobytes()):
        return False
    fh.seek(8)
    ihdr = fh.read(25)
    if len(ihdr) < 25 or ihdr[4:8] != b"IHDR":
        return False
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", ihdr[8:21])
    bits = depth * _PNG_CHANNELS.get(colour, 0)
    if not bits:
        return False
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    expected = 0
    for x0, y0, dx, dy in passes:
        cols, rows = max(0, (width - x0 + dx - 1) // dx), max(0, (height - y0 + dy - 1) // dy)
        if cols and rows:
            expected += rows * (1 + (cols * bits + 7) // 8)
    inflater, produced, seen_idat = zlib.decompressobj(), 0, False
    fh.seek(33)
    while produced < expected:
        head = fh.read(8)
        if len(head) < 8:
            break
        length, kind = struct.unpack(">I4s", head)
        if kind == b"IDAT":
            seen_idat = True
            data = fh.read(length)
            while data and produced < expected and not inflater.eof:
                produced += len(inflater.decompress(data, 1 << 20))
                data = inflater.unconsumed_tail
            fh.seek(4, os.SEEK_CUR)
        elif seen_idat or kind == b"IEND":
            break  # the IDAT chunks are consecutive
        else:
            fh.seek(length + 4, os.SEEK_CUR)
    return produced < expected


# A marker that ends entropy-coded data: 0xFF followed by anything but a stuffed zero, a restart
# marker (RST0–7, which sit inside the data) or another 0xFF (fill).
_ENDS_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_RESTART = re.compile(rb"\xff[\xd0-\xd7]")
_FILLER_BYTES = 4096


_SOF = frozenset((0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF))


class _Layout(NamedTuple):
    start: int  # where the coded data of the last scan begins
    end: int  # where the marker after it (normally EOI) begins
    restarts_expected: int | None  # restart markers a complete last scan holds; None: no restarts


def _scan_mcus(frame: bytes, scan: bytes) -> int:
    """MCUs in a scan (JPEG standard A.2) from the SOF and SOS segment bodies."""
    height, width, count = struct.unpack(">HHB", frame[1:6])
    sampling = {frame[6 + 3 * i]: (frame[7 + 3 * i] >> 4, frame[7 + 3 * i] & 15) for i in range(count)}
    h_max, v_max = max(h for h, _ in sampling.values()), max(v for _, v in sampling.values())
    if scan[0] == 1:  # one component: its own blocks, not interleaved
        h, v = sampling[scan[1]]
        return math.ceil(math.ceil(width * h / h_max) / 8) * math.ceil(math.ceil(height * v / v_max) / 8)
    return math.ceil(width / (8 * h_max)) * math.ceil(height / (8 * v_max))


def _layout(data: bytes) -> _Layout | None:
    """Where the last scan of the first picture in JPEG ``data`` lies and how many restart
    markers it must hold; None when the marker structure cannot be followed."""
    pos, layout, frame, interval = 2, None, b"", 0
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
        elif marker == 0xD9:  # EOI
            return layout
        elif 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
        else:
            body = data[pos + 4:pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big")]
            pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
            frame = body if marker in _SOF else frame
            interval = int.from_bytes(body[:2], "big") if marker == 0xDD and len(body) >= 2 else interval
            if marker == 0xDA:  # SOS: its entropy-coded data runs to the next real marker
                found = _ENDS_SCAN.search(data, pos)
                if found is None:
                    return None
                end = found.start()
                while end > pos and data[end - 1] == 0xFF:  # fill bytes belong to the marker
                    end -= 1
                expected = math.ceil(_scan_mcus(frame, body) / interval) - 1 if interval else None
                layout, pos = _Layout(pos, end, expected), found.start()
    return layout


def jpeg_ends_early(fh, im: Image.Image) -> bool:
    """True when the entropy-coded data of the decoded JPEG ``im`` ends before its picture
    does: libjpeg then fills the rest with zeros and only warns. Two tests of the last scan:

    * with restart markers, a complete scan holds exactly one per restart interval but the last;
    * the file is decoded again with more coded data inserted before the marker that ends its
      last scan: a complete file never reads it (the same pixels come out), a file cut short
      decodes it instead of the zero fill (other pixels). Costs one more decode (a
      24-megapixel JPEG: ~0.4 s here) and one more picture in memory while it runs.

    A file cut exactly between two scans of a progressive JPEG shows less detail and cannot be
    told from a complete one. Any failure of the check itself means "not proven": False."""
    fh.seek(0)
    data = fh.read()
    try:
        layout = _layout(data)
    except (struct.error, IndexError, KeyError, ValueError, ZeroDivisionError):
        return False  # a header Pillow accepted but this reading cannot follow: not proven
    if layout is None:
        return False
    start, end = layout.start, layout.end
    if layout.restarts_expected is not None and len(_RESTART.findall(data, start, end)) < layout.restarts_expected:
        return True
    # The filler is the file's own coded data from before that marker (restart markers taken
    # out): it decodes to ordinary, non-zero coefficients with the file's Huffman tables, where
    # made-up bytes often hit invalid codes, which libjpeg also decodes as zeros.
    filler = _RESTART.sub(b"", data[max(start, end - _FILLER_BYTES):end]).rstrip(b"\xff")
    try:
        again = Image.open(io.BytesIO(data[:end] + filler + data[end:]), formats=["JPEG"])
        again.load()
        return again.mode != im.mode or again.size != im.size or ImageChops.difference(again, im).getbbox() is not None
    except Exception:  # noqa: BLE001 — the check only refuses what it proves; the first decode succeeded
        return False


def foreign_format_name(fh, skip: tuple[str, ...]) -> str | None:
    """The description of the first Pillow format whose header test accepts ``fh``'s first
    bytes ("DirectDraw Surface"), or None. Runs only the plugins' header tests, never their
    decoders; the formats in ``skip`` (those Kiln reads, tried already) are left out."""
    fh.seek(0)
    prefix = fh.read(16)
    Image.init()
    for fmt in Image.ID:
        factory, accept = Image.OPEN.get(fmt, (None, None))
        if fmt in skip or fmt == "MPO" or accept is None:
            continue
        try:
            if accept(prefix):
                return getattr(factory, "format_description", None) or fmt
        except Exception:  # noqa: BLE001 — a plugin's header test on hostile bytes: not this format
            continue
    return None
