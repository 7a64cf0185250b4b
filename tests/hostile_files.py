"""The hostile and unusual files of tests/inference/files/test_hostile_inputs.py, made on the fly (Pillow plus
hand-built bytes): ``CORPUS`` maps a file name to (its bytes, or a function making them; what
loading it must give — ``Loads`` or ``Refused``).
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageCms

from inference.core.errors import DamagedImage, ImageFileError, ImageTooLarge, UnsupportedImage


W, H = 32, 24


def _rgb(w=W, h=H):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 8, yy * 10, (xx + yy) * 4], -1).clip(0, 255).astype(np.uint8)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def _frames(n):
    return [Image.fromarray(np.roll(_rgb(), 3 * i, axis=1)) for i in range(n)]


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header(width, height, depth=8, color=2, idat=b"") -> bytes:
    """A PNG whose IHDR claims ``width``×``height`` with only ``idat`` (compressed) behind it."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(idat)) + _chunk(b"IEND", b"")


def _cut(data: bytes, keep: float) -> bytes:
    return data[: int(len(data) * keep)]


def cmyk_profile(swap_red_blue=True, grid=5) -> bytes:
    """A CMYK→Lab ICC v2 profile (lut16 A2B0) built from the naive CMYK→RGB formula — with red
    and blue swapped, so colours converted through it cannot be mistaken for a plain convert."""
    steps = np.linspace(0, 255, grid)
    c, m, y, k = np.meshgrid(steps, steps, steps, steps, indexing="ij")  # first channel slowest
    rgb = np.stack([(255 - c) * (255 - k) / 255, (255 - m) * (255 - k) / 255, (255 - y) * (255 - k) / 255], -1)
    if swap_red_blue:
        rgb = rgb[..., ::-1]
    flat = Image.fromarray(rgb.reshape(1, -1, 3).round().astype(np.uint8))
    to_lab = ImageCms.profileToProfile(flat, ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), outputMode="LAB")
    lab = np.asarray(to_lab, dtype=np.float64).reshape(-1, 3)
    lightness, a, b = lab[:, 0] / 255 * 100, (lab[:, 1] + 128) % 256 - 128, (lab[:, 2] + 128) % 256 - 128  # a, b: signed bytes
    table = np.stack([lightness / 100 * 0xFF00, (a + 128) * 256, (b + 128) * 256], -1).clip(0, 65535).round().astype(">u2")
    identity = np.array([0, 65535], ">u2").tobytes()
    lut = b"mft2" + b"\0" * 4 + struct.pack(">BBBB", 4, 3, grid, 0)
    lut += b"".join(struct.pack(">i", v) for v in (65536, 0, 0, 0, 65536, 0, 0, 0, 65536))
    lut += struct.pack(">HH", 2, 2) + identity * 4 + table.tobytes() + identity * 3
    text = b"Kiln test CMYK\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 81
    d50 = struct.pack(">iii", int(0.9642 * 65536), 65536, int(0.8249 * 65536))
    tags = [(b"desc", desc), (b"wtpt", b"XYZ " + b"\0" * 4 + d50), (b"cprt", b"text" + b"\0" * 4 + b"none\0"), (b"A2B0", lut)]
    offset = 128 + 4 + 12 * len(tags)
    directory, body = struct.pack(">I", len(tags)), b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        directory += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    header = struct.pack(">I", offset + len(body)) + b"\0" * 4 + struct.pack(">I", 0x02100000) + b"prtrCMYKLab "
    header += b"\0" * 12 + b"acsp" + b"\0" * 28 + d50
    return header.ljust(128, b"\0") + directory + body


CYAN = (255, 0, 0, 0)


def _cmyk_block(icc: bytes | None, fmt="JPEG") -> bytes:
    im = Image.new("CMYK", (W, H), CYAN)
    return _encode(im, fmt, **({"icc_profile": icc} if icc else {}), **({"quality": 100} if fmt == "JPEG" else {}))


def _mpo() -> bytes:
    first, second = _frames(2)
    return _encode(first, "MPO", save_all=True, append_images=[second])


def _exif_jpeg(orientation) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _encode(Image.fromarray(_rgb()), "JPEG", exif=exif, quality=95)


def _turned():
    exif = Image.Exif()
    exif[0x0112] = 6  # shown turned 90° clockwise
    return exif


def _gif_with_screen(width, height) -> bytes:
    """A valid small GIF whose logical screen claims ``width``×``height``."""
    data = bytearray(_encode(Image.fromarray(_rgb()), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def _jpeg_with_size(width, height) -> bytes:
    data = bytearray(_encode(Image.fromarray(_rgb()), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _float_tiff() -> bytes:
    values = np.linspace(0, 1, W * H, dtype=np.float32).reshape(H, W)
    return _encode(Image.fromarray(values, "F"), "TIFF")


def _bmp_top_down() -> bytes:
    data = bytearray(_encode(Image.fromarray(_rgb()), "BMP"))
    rows = [data[54 + i * W * 3: 54 + (i + 1) * W * 3] for i in range(H)]  # 32×3 bytes: no padding
    data[22:26] = struct.pack("<i", -H)  # negative height: rows stored top first
    data[54:] = b"".join(reversed(rows))
    return bytes(data)


def _png_text_bomb() -> bytes:
    good = _encode(Image.fromarray(_rgb()), "PNG")
    bomb = _chunk(b"zTXt", b"parameters\0\0" + zlib.compress(b"A" * 8_000_000, 9))
    return good[:33] + bomb + good[33:]


def _png_short_idat() -> bytes:
    raw = b"".join(b"\0" + bytes(W * 3) for _ in range(H // 2))  # half the rows, cleanly compressed
    return _png_header(W, H, idat=raw)


def _interlaced_png(missing_bytes=0) -> bytes:
    """An Adam7-interlaced PNG (Pillow cannot write one), optionally with its last bytes of
    pixel data left out of an otherwise well-formed stream."""
    image, raw = _rgb(13, 7), b""
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):
        raw += b"".join(b"\0" + row.tobytes() for row in image[y0::dy, x0::dx] if row.size)
    ihdr = struct.pack(">IIBBBBB", 13, 7, 8, 2, 0, 0, 1)
    idat = zlib.compress(raw[: len(raw) - missing_bytes])
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _png_bad_crc() -> bytes:
    data = bytearray(_encode(Image.fromarray(_rgb()), "PNG"))
    data[29] ^= 0xFF  # the IHDR checksum
    return bytes(data)


def _dds_unknown_pixel_format() -> bytes:
    """A DDS file whose pixel format Pillow's DDS plugin does not implement: opening it raises
    NotImplementedError, not an OSError."""
    data = bytearray(_encode(Image.fromarray(_rgb()), "DDS"))
    data[80:88] = struct.pack("<I", 4) + b"ZZZZ"  # DDPF_FOURCC with an unknown FourCC
    return bytes(data)


def _noisy(w=400, h=300):
    """A photo-like picture that compresses poorly, so damage lands in its pixel data."""
    rng = np.random.default_rng(7)
    return (np.asarray(Image.fromarray(_rgb(w, h)).resize((w, h))) // 2 + rng.integers(0, 120, (h, w, 3))).astype(np.uint8)


def _jpeg_half_with_end_marker(**options) -> bytes:
    """A JPEG cut at half its length with an end-of-image marker appended: libjpeg decodes it
    "successfully" with the bottom filled grey."""
    data = _encode(Image.fromarray(_noisy()), "JPEG", quality=90, **options)
    return data[: len(data) // 2] + b"\xff\xd9"


def _png_zero_tail(zero_bytes) -> bytes:
    """A PNG whose last ``zero_bytes`` bytes were overwritten with zeros (a disk or transfer
    error): the length stays, the pixel data's end and its checksum are lost."""
    data = _encode(Image.fromarray(_noisy()), "PNG")
    return data[:-zero_bytes] + bytes(zero_bytes)


@dataclass(frozen=True)
class Loads:
    size: tuple[int, int]  # (width, height) as shown
    note: str | None = None  # a regex one note must match; None: no notes at all
    pixel: tuple[int, int, tuple[int, int, int], int] | None = None  # (x, y, rgb, tolerance)


@dataclass(frozen=True)
class Refused:
    error: type
    message: str  # a regex the message must match


TOO_LARGE = r"over Kiln's limit of 200 megapixels: .*KILN_MAX_MEGAPIXELS=\d+"
DAMAGED = r"damaged or truncated|is damaged|header is damaged"
NOT_IMAGE = r"not an image Kiln can read \(PNG, JPEG, WebP, TIFF, BMP or GIF\)"
WHITE = (255, 255, 255)

# name → (file bytes, or a maker of them, expected outcome). The file name's extension is
# what the user sees; content decides how it is read.
CORPUS = {
    # --- loads as expected -------------------------------------------------------------------
    "plain.png": (lambda: _encode(Image.fromarray(_rgb()), "PNG"), Loads((W, H))),
    "tiny-1x1.png": (lambda: _encode(Image.new("RGB", (1, 1), (9, 8, 7)), "PNG"), Loads((1, 1), pixel=(0, 0, (9, 8, 7), 0))),
    "wide-70000x1.png": (lambda: _encode(Image.new("L", (70000, 1), 200), "PNG"), Loads((70000, 1))),
    "png-named.jpg": (lambda: _encode(Image.fromarray(_rgb()), "PNG"), Loads((W, H))),
    "jpeg-named.png": (lambda: _encode(Image.fromarray(_rgb()), "JPEG"), Loads((W, H))),
    "webp-named.tif": (lambda: _encode(Image.fromarray(_rgb()), "WEBP", lossless=True), Loads((W, H))),
    "no-extension": (lambda: _encode(Image.fromarray(_rgb()), "BMP"), Loads((W, H))),
    "animated-12.gif": (lambda: _encode(_frames(12)[0], "GIF", save_all=True, append_images=_frames(12)[1:], loop=0),
                        Loads((W, H), note=r"animated: Kiln opened the first frame only \(frame 1 of 12\)")),
    "animated-3.png": (lambda: _encode(_frames(3)[0], "PNG", save_all=True, append_images=_frames(3)[1:]),
                       Loads((W, H), note=r"frame 1 of 3")),
    "animated-4.webp": (lambda: _encode(_frames(4)[0], "WEBP", save_all=True, append_images=_frames(4)[1:], lossless=True),
                        Loads((W, H), note=r"frame 1 of 4")),
    "pages-3.tif": (lambda: _encode(_frames(3)[0], "TIFF", save_all=True, append_images=_frames(3)[1:]),
                    Loads((W, H), note=r"has 3 pages: Kiln opened the first page only")),
    "pages-3-turned.tif": (lambda: _encode(_frames(3)[0], "TIFF", save_all=True, append_images=_frames(3)[1:], exif=_turned()),
                           Loads((H, W), note=r"has 3 pages: Kiln opened the first page only",
                                 pixel=(H - 1, 0, tuple(int(v) for v in _rgb()[0, 0]), 0))),
    "interlaced.png": (_interlaced_png, Loads((13, 7), pixel=(12, 6, tuple(int(v) for v in _rgb(13, 7)[6, 12]), 0))),
    "static.gif": (lambda: _encode(Image.fromarray(_rgb()), "GIF"), Loads((W, H))),
    "phone-mpo.jpg": (_mpo, Loads((W, H))),  # the second picture is a preview: no note
    "palette-transparent.png": (lambda: _encode(Image.new("P", (W, H), 0), "PNG", transparency=0),
                                Loads((W, H), pixel=(5, 5, WHITE, 0))),
    "transparent.gif": (lambda: _encode(Image.new("P", (W, H), 0), "GIF", transparency=0), Loads((W, H), pixel=(5, 5, WHITE, 0))),
    "gray-transparent.png": (lambda: _encode(Image.new("L", (W, H), 10), "PNG", transparency=10), Loads((W, H), pixel=(1, 1, WHITE, 0))),
    "half-alpha.png": (lambda: _encode(Image.new("RGBA", (W, H), (0, 0, 0, 128)), "PNG"), Loads((W, H), pixel=(3, 3, (127, 127, 127), 1))),
    "gray16.png": (lambda: _encode(Image.fromarray(np.full((H, W), 65535, np.uint16)), "PNG"), Loads((W, H), pixel=(0, 0, WHITE, 0))),
    "gray16.tif": (lambda: _encode(Image.fromarray(np.full((H, W), 32768, np.uint16)), "TIFF"), Loads((W, H), pixel=(0, 0, (128, 128, 128), 0))),
    "float-0to1.tif": (_float_tiff, Loads((W, H), pixel=(W - 1, H - 1, WHITE, 0))),
    "one-bit.png": (lambda: _encode(Image.new("1", (W, H), 1), "PNG"), Loads((W, H), pixel=(0, 0, WHITE, 0))),
    "lab.tif": (lambda: _encode(Image.new("LAB", (W, H), (255, 128, 128)), "TIFF"), Loads((W, H), pixel=(0, 0, WHITE, 2))),
    "cmyk-profile.jpg": (lambda: _cmyk_block(cmyk_profile()), Loads((W, H), pixel=(4, 4, (255, 255, 0), 12))),  # cyan, R↔B by the profile
    "cmyk-no-profile.jpg": (lambda: _cmyk_block(None), Loads((W, H), note=r"CMYK .*without a colour profile", pixel=(4, 4, (0, 255, 255), 3))),
    "cmyk-bad-profile.jpg": (lambda: _cmyk_block(b"not an icc profile" * 10),
                             Loads((W, H), note=r"colour profile Kiln cannot use", pixel=(4, 4, (0, 255, 255), 3))),
    "cmyk-profile.tif": (lambda: _cmyk_block(cmyk_profile(), "TIFF"), Loads((W, H), pixel=(4, 4, (255, 255, 0), 12))),
    "exif-rotated.jpg": (lambda: _exif_jpeg(6), Loads((H, W))),
    "exif-nonsense-orientation.jpg": (lambda: _exif_jpeg(77), Loads((W, H))),
    "noisy.jpg": (lambda: _encode(Image.fromarray(_noisy()), "JPEG", quality=90), Loads((400, 300))),
    "noisy-progressive.jpg": (lambda: _encode(Image.fromarray(_noisy()), "JPEG", quality=90, progressive=True), Loads((400, 300))),
    "noisy-trailing-bytes.jpg": (lambda: _encode(Image.fromarray(_noisy()), "JPEG", quality=90) + b"camera trailer", Loads((400, 300))),
    "noisy.png": (lambda: _encode(Image.fromarray(_noisy()), "PNG"), Loads((400, 300))),
    "top-down.bmp": (_bmp_top_down, Loads((W, H), pixel=(W - 1, H - 1, tuple(int(v) for v in _rgb()[-1, -1]), 0))),
    # --- refused, with a message ---------------------------------------------------------------
    "empty.png": (b"", Refused(ImageFileError, r"is empty \(0 bytes\)")),
    "notes.png": (b"just some notes, not a picture\n", Refused(UnsupportedImage, NOT_IMAGE)),
    "page.jpg": (b"<!doctype html><html><body>404 Not Found</body></html>", Refused(UnsupportedImage, NOT_IMAGE)),
    "document.pdf": (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n", Refused(UnsupportedImage, NOT_IMAGE)),
    "archive.zip": (b"PK\x03\x04" + bytes(26) + b"PK\x05\x06" + bytes(18), Refused(UnsupportedImage, NOT_IMAGE)),
    "pixmap.ppm": (lambda: _encode(Image.fromarray(_rgb()), "PPM"), Refused(UnsupportedImage, r"is a Pbmplus image file, which Kiln does not read: save it as PNG")),
    "unknown-pixel-format.dds": (_dds_unknown_pixel_format,
                                 Refused(UnsupportedImage, r"is a DirectDraw Surface file, which Kiln does not read: save it as PNG")),
    "icon.ico": (lambda: _encode(Image.fromarray(_rgb(16, 16)), "ICO"), Refused(UnsupportedImage, r"Windows Icon file, which Kiln does not read")),
    "bomb-100000x100000.png": (lambda: _png_header(100_000, 100_000), Refused(ImageTooLarge, r"is 100,000×100,000 pixels \(10,000 megapixels\), " + TOO_LARGE)),
    "bomb-15000x15000.png": (lambda: _png_header(15_000, 15_000), Refused(ImageTooLarge, r"225 megapixels.*KILN_MAX_MEGAPIXELS=300")),
    "bomb-1x300M.png": (lambda: _png_header(1, 300_000_000, depth=1, color=0), Refused(ImageTooLarge, TOO_LARGE)),
    "bomb-screen.gif": (lambda: _gif_with_screen(65535, 65535), Refused(ImageTooLarge, TOO_LARGE)),
    "bomb-65000.jpg": (lambda: _jpeg_with_size(65000, 65000), Refused(ImageTooLarge, TOO_LARGE)),
    "png-zero-width.png": (lambda: _png_header(0, 10), Refused(DamagedImage, DAMAGED)),
    "truncated.png": (lambda: _cut(_encode(Image.fromarray(_rgb(200, 200)), "PNG"), 0.5), Refused(DamagedImage, DAMAGED)),
    "truncated.jpg": (lambda: _cut(_encode(Image.fromarray(_rgb(200, 200)), "JPEG"), 0.6), Refused(DamagedImage, DAMAGED)),
    "truncated-progressive.jpg": (lambda: _cut(_encode(Image.fromarray(_rgb(200, 200)), "JPEG", progressive=True), 0.8), Refused(DamagedImage, DAMAGED)),
    "truncated.gif": (lambda: _cut(_encode(Image.fromarray(_rgb(200, 200)), "GIF"), 0.6), Refused(DamagedImage, DAMAGED)),
    "truncated.webp": (lambda: _cut(_encode(Image.fromarray(_rgb(200, 200)), "WEBP"), 0.6), Refused(DamagedImage, DAMAGED)),
    "truncated.tif": (lambda: _cut(_encode(Image.fromarray(_rgb(200, 200)), "TIFF"), 0.6), Refused(DamagedImage, DAMAGED)),
    "truncated.bmp": (lambda: _cut(_encode(Image.fromarray(_rgb(200, 200)), "BMP"), 0.6), Refused(DamagedImage, DAMAGED)),
    "header-only.png": (lambda: _encode(Image.fromarray(_rgb()), "PNG")[:33], Refused(DamagedImage, DAMAGED)),
    "short-idat.png": (_png_short_idat, Refused(DamagedImage, r"pixel data ends before the last row")),
    "interlaced-short.png": (lambda: _interlaced_png(missing_bytes=1), Refused(DamagedImage, r"pixel data ends before the last row|damaged or truncated")),
    "bad-crc.png": (_png_bad_crc, Refused(DamagedImage, r"starts like a PNG file but its header is damaged")),
    "jpeg-magic-only.jpg": (b"\xff\xd8\xff\xe0" + b"\0" * 40, Refused(DamagedImage, r"starts like a JPEG file but its header is damaged|damaged or truncated")),
    "half-with-end-marker.jpg": (_jpeg_half_with_end_marker, Refused(DamagedImage, r"is damaged: its picture data ends early")),
    "half-with-end-marker-progressive.jpg": (lambda: _jpeg_half_with_end_marker(progressive=True),
                                             Refused(DamagedImage, r"is damaged: its picture data ends early")),
    "zero-tail-16.png": (lambda: _png_zero_tail(16), Refused(DamagedImage, r"is damaged: .*checksum")),
    "zero-tail-100.png": (lambda: _png_zero_tail(100), Refused(DamagedImage, r"is damaged: the checksum of its pixel data")),
    "zero-tail-5000.png": (lambda: _png_zero_tail(5000), Refused(DamagedImage, r"is damaged: the checksum of its pixel data")),
    "text-bomb.png": (_png_text_bomb, Refused(DamagedImage, DAMAGED)),
}


def write_corpus_file(tmp_path, name):
    """Write the corpus file ``name`` into ``tmp_path``; returns its path."""
    data, _ = CORPUS[name]
    path = tmp_path / name
    path.write_bytes(data() if callable(data) else data)
    return path
