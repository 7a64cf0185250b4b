"""16-bit and grayscale files keep their depth and channels through heal and export: every
pixel that was not changed comes back with all 16 bits, and a gray file stays one channel —
in the editor's export, in ``main.py restore`` and in ``save_image`` itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference.files import deep_image
from inference.files.image_io import load_picture_with_notes, load_rgb
from inference.files.image_save import save_image

ROOT = Path(__file__).resolve().parents[3]
W, H = 48, 36


def deep_rgb(w=W, h=H, seed=0) -> np.ndarray:
    """A 16-bit RGB scan whose low bytes matter: smooth gradients plus noise over all 16 bits."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx * 1300, yy * 1700, (xx + yy) * 700], -1) + rng.integers(0, 9000, (h, w, 3))
    return base.clip(0, 65535).astype(np.uint16)


def tiff16(path: Path, values: np.ndarray, byteorder="<") -> Path:
    """A baseline uncompressed 16-bit RGB TIFF, written byte by byte (Pillow cannot write one)."""
    from inference.files.deep_save import _write_tiff16

    assert byteorder == "<"
    with open(path, "wb") as fh:
        _write_tiff16(fh, values.shape[1], values.shape[0], iter([values]))
    return path


def png16_values(path: Path) -> np.ndarray:
    """A 16-bit RGB PNG's values, decoded here independently of Kiln (zlib + the five filters)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height = int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big")
    assert header[8:10] == bytes([16, 2]) and header[12] == 0  # 16-bit RGB, not interlaced
    raw, stride, bpp = zlib_inflate(idat), width * 6, 6
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return np.frombuffer(b"".join(rows), ">u2").reshape(height, width, 3).astype(np.uint16)


def zlib_inflate(data: bytes) -> bytes:
    import zlib

    return zlib.decompress(data)


def tiff16_values(path: Path) -> np.ndarray:
    tifffile = pytest.importorskip("tifffile")  # an independent reader
    return np.asarray(tifffile.imread(path))


def merged(values: np.ndarray, result: np.ndarray) -> np.ndarray:
    """The rule, per channel: the scan's value where its 8-bit level is unchanged, else level × 257."""
    return np.where(np.round(values / 257).astype(np.uint8) == result, values, result.astype(np.uint16) * 257)


def healed(rgb: np.ndarray) -> np.ndarray:
    """What a heal does to the 8-bit view: one region repainted, the rest untouched."""
    out = rgb.copy()
    out[10:20, 12:30] = (200, 40, 90)
    return out


# --- reading ----------------------------------------------------------------------------------------

def test_a_16_bit_rgb_file_keeps_its_16_bit_values_next_to_the_8_bit_view(tmp_path):
    values = deep_rgb()
    path = tiff16(tmp_path / "scan.tif", values)
    if (tifffile := pytest.importorskip("tifffile")) is not None:  # a file another writer made reads the same
        tifffile.imwrite(tmp_path / "other.tif", values)
        assert np.array_equal(load_picture_with_notes(tmp_path / "other.tif").source.deep, values)
    loaded = load_picture_with_notes(path)
    assert loaded.source is not None and loaded.source.bits == 16 and not loaded.source.gray
    assert np.array_equal(loaded.source.deep, values)
    expected_view = np.round(values / 257).astype(np.uint8)
    assert np.array_equal(loaded.rgb, expected_view)  # the nearest 8-bit level, where Pillow truncates
    assert np.abs(load_rgb(path).astype(int) - expected_view).max() <= 1


def test_8_bit_colour_files_keep_nothing_more(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (H, W, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    loaded = load_picture_with_notes(tmp_path / "photo.png")
    assert loaded.source is None and np.array_equal(loaded.rgb, rgb) and loaded.notes == ()
    assert deep_image.SourcePixels(gray=True).bits == 8


# --- save_image -------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_untouched_pixels_keep_all_16_bits_and_changed_ones_are_spread(tmp_path, suffix):
    values = deep_rgb()
    loaded = load_picture_with_notes(tiff16(tmp_path / "scan.tif", values))
    result = healed(loaded.rgb)
    out = save_image(tmp_path / f"out{suffix}", result, "a prompt", source=loaded.source)
    written = tiff16_values(out) if suffix == ".tif" else png16_values(out)
    assert written.dtype == np.uint16 and written.shape == values.shape
    untouched = np.ones((H, W), bool)
    untouched[10:20, 12:30] = False
    assert np.array_equal(written[untouched], values[untouched])  # every bit of the scan
    # The repainted values at 16 bits; a channel that happens to keep its old 8-bit level keeps its old value.
    assert np.array_equal(written, merged(values, result))
    assert (written[10:20, 12:30] == np.array([200, 40, 90]) * 257).mean() > 0.9
    assert out.stat().st_size >= values.nbytes // 3  # 16 bits really are in the file
    again = load_picture_with_notes(out)  # and Kiln reads its own file back at full depth
    assert np.array_equal(again.source.deep, written) and np.array_equal(again.rgb, result)


def test_a_16_bit_source_saved_as_jpeg_is_8_bit_and_a_resized_picture_falls_back(tmp_path):
    loaded = load_picture_with_notes(tiff16(tmp_path / "scan.tif", deep_rgb()))
    save_image(tmp_path / "out.jpg", loaded.rgb, source=loaded.source)
    assert Image.open(tmp_path / "out.jpg").mode == "RGB"
    bigger = np.zeros((H + 8, W, 3), np.uint8)  # an extended canvas no longer lines up with the scan
    save_image(tmp_path / "bigger.png", bigger, source=loaded.source)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "bigger.png")), bigger)


def test_gray_files_stay_gray_at_their_depth(tmp_path):
    gray8 = (np.arange(W * H) % 251).astype(np.uint8).reshape(H, W)
    gray16 = (np.arange(W * H) * 37 % 65536).astype(np.uint16).reshape(H, W)
    Image.fromarray(gray8).save(tmp_path / "gray8.png")
    Image.fromarray(gray16).save(tmp_path / "gray16.tif")
    for name, values, mode in (("gray8.png", gray8, "L"), ("gray16.tif", gray16, "I;16")):
        loaded = load_picture_with_notes(tmp_path / name)
        assert loaded.source.gray and loaded.rgb.shape == (H, W, 3)
        result = loaded.rgb.copy()
        result[5:9, 5:9] = 17  # a gray repair
        for suffix in (".png", ".tif"):
            out = save_image(tmp_path / f"out-{name}{suffix}", result, source=loaded.source)
            with Image.open(out) as back:
                assert back.mode == mode, (name, suffix, back.mode)
                written = np.asarray(back)
            keep = np.ones((H, W), bool)
            keep[5:9, 5:9] = False
            assert np.array_equal(written[keep], values[keep])
            assert (written[5:9, 5:9] == (17 if mode == "L" else 17 * 257)).all()
        result[0, 0] = (255, 0, 0)  # colour painted in: the result is written in colour
        out = save_image(tmp_path / f"colour-{name}.png", result, source=loaded.source)
        assert Image.open(out).mode == "RGB"
        if mode == "I;16":
            colour = png16_values(out)
            assert tuple(colour[0, 0]) == (65535, 0, 0) and np.array_equal(colour[10:, :, 1], gray16[10:])


# --- the editor ---------------------------------------------------------------------------------------

@pytest.fixture
def editor(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from gui.app import build_editor
    from gui.session.settings import Settings

    monkeypatch.setattr(QMessageBox, "warning", lambda *a: pytest.fail(f"unexpected warning {a[1:]}"))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)  # closing at the end
    ed = build_editor(Settings(str(tmp_path / "settings.ini")), engine_factory=None)
    qtbot.addWidget(ed.window)
    yield ed
    ed.worker.shutdown()


@pytest.mark.parametrize("suffix", [".tif", ".png"])
def test_a_16_bit_scan_healed_and_exported_in_the_editor_keeps_every_untouched_bit(editor, tmp_path, suffix):
    from inference.restore.heal import heal

    values = deep_rgb(96, 64, seed=3)
    scan = tiff16(tmp_path / "scan.tif", values)
    assert editor.files.open_path(str(scan), ask_about_parameters=False)
    doc = editor.document
    mask = np.zeros((64, 96), np.uint8)
    mask[20:30, 10:60] = 255
    repaired = heal(doc.image.copy(), mask)
    assert doc.apply_image(repaired, "Heal")
    out = tmp_path / f"export{suffix}"
    assert editor.files.save_to(str(out))
    written = tiff16_values(out) if suffix == ".tif" else png16_values(out)
    changed = np.any(repaired != np.round(values / 257).astype(np.uint8), axis=2)
    assert changed.any() and not changed[:18].any() and not changed[32:].any()
    assert np.array_equal(written[~changed], values[~changed])
    assert np.array_equal(written, merged(values, repaired))
    if suffix == ".tif":
        assert out.stat().st_size > values.nbytes  # 16 bits a channel, like the scan (not half of it)


def test_a_gray_file_exported_from_the_editor_stays_one_channel(editor, tmp_path):
    gray = (np.arange(96 * 64) % 241).astype(np.uint8).reshape(64, 96)
    Image.fromarray(gray).save(tmp_path / "gray.png")
    assert editor.files.open_path(str(tmp_path / "gray.png"), ask_about_parameters=False)
    assert editor.files.save_to(str(tmp_path / "export.png"))
    with Image.open(tmp_path / "export.png") as back:
        assert back.mode == "L" and np.array_equal(np.asarray(back), gray)


def test_a_blank_canvas_and_an_ordinary_photo_export_as_before(editor, tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (64, 96, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    assert editor.files.open_path(str(tmp_path / "photo.png"), ask_about_parameters=False)
    assert editor.document.source is None
    assert editor.files.save_to(str(tmp_path / "export.tif"))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "export.tif")), rgb)


# --- main.py restore ----------------------------------------------------------------------------------

def _kiln(*args):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_restore_keeps_16_bits_and_gray(tmp_path):
    from photos import scan

    scans = tmp_path / "scans"
    scans.mkdir()
    values = scan(2).astype(np.uint16) * 257 + np.random.default_rng(1).integers(0, 200, (120, 160, 3)).astype(np.uint16)
    tiff16(scans / "deep.tif", values)
    gray = scan(4)[..., 0]
    Image.fromarray(gray).save(scans / "gray.png")
    done = _kiln("restore", scans, "--out", tmp_path / "out", "--detect")
    assert done.returncode == 0, done.stderr
    written = png16_values(tmp_path / "out" / "deep-restored.png")
    view = np.round(values / 257).astype(np.uint8)
    restored8 = np.round(written / 257).astype(np.uint8)
    changed = np.any(restored8 != view, axis=2)
    assert 0 < changed.mean() < 0.2  # the scratch was repaired…
    assert np.array_equal(written[~changed], values[~changed])  # …and everything else is the scan, to the bit
    with Image.open(tmp_path / "out" / "gray-restored.png") as back:
        assert back.mode == "L"
        kept = np.asarray(back)
    assert 0 < np.mean(kept != gray) < 0.2
