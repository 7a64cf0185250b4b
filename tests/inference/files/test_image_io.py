"""Opening what people bring: every common format and pixel layout becomes the RGB they see."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from inference.core.errors import ImageFileError
from inference.files.image_io import load_mask, load_rgb, read_parameters
from inference.files.image_save import save_image


def _gradient(h=40, w=60):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 4, yy * 6, (xx + yy) * 2], -1).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif", ".webp"])
def test_lossless_formats_round_trip(tmp_path, suffix):
    rgb = _gradient()
    path = tmp_path / f"photo{suffix}"
    Image.fromarray(rgb).save(path, **({"lossless": True} if suffix == ".webp" else {}))
    assert np.array_equal(load_rgb(path), rgb)


def test_jpeg_loads_close_to_the_original(tmp_path):
    rgb = _gradient()
    Image.fromarray(rgb).save(tmp_path / "p.jpg", quality=95)
    loaded = load_rgb(tmp_path / "p.jpg")
    assert loaded.shape == rgb.shape and np.abs(loaded.astype(int) - rgb).mean() < 3


def test_exif_orientation_is_applied(tmp_path):
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, :10] = 255  # a white band on the left of the stored pixels
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    Image.fromarray(rgb).save(tmp_path / "turned.jpg", exif=exif, quality=100)
    loaded = load_rgb(tmp_path / "turned.jpg")
    assert loaded.shape == (40, 20, 3)  # shown upright: taller than wide
    assert loaded[:8].mean() > 200 and loaded[-8:].mean() < 50  # the band is now at the top


def test_grayscale_and_palette_expand_to_rgb(tmp_path):
    gray = _gradient()[..., 0]
    Image.fromarray(gray, "L").save(tmp_path / "gray.png")
    loaded = load_rgb(tmp_path / "gray.png")
    assert np.array_equal(loaded[..., 0], gray) and np.array_equal(loaded[..., 1], gray)
    Image.fromarray(_gradient()).quantize(16).save(tmp_path / "palette.png")
    palette = load_rgb(tmp_path / "palette.png")
    assert palette.shape == (40, 60, 3) and palette.dtype == np.uint8


def test_16_bit_is_scaled_not_clipped(tmp_path):
    values = np.linspace(0, 65535, 64 * 8).astype(np.uint16).reshape(8, 64)
    Image.fromarray(values).save(tmp_path / "deep.png")
    loaded = load_rgb(tmp_path / "deep.png")[..., 0]
    assert loaded.min() == 0 and loaded.max() == 255
    assert len(np.unique(loaded)) > 200  # the whole tonal range survives, not a clipped few values
    expected = (values.astype(np.float64) / 65535 * 255 + 0.5).astype(np.uint8)
    assert np.abs(loaded.astype(int) - expected).max() <= 1


def test_16_bit_tiff_scans(tmp_path):
    values = np.linspace(0, 65535, 32 * 4).astype(np.uint16).reshape(4, 32)
    Image.fromarray(values).save(tmp_path / "scan.tif")
    loaded = load_rgb(tmp_path / "scan.tif")
    assert loaded[..., 0].max() == 255 and loaded[..., 0].min() == 0


def test_transparency_is_flattened_on_white_and_masks_use_alpha(tmp_path):
    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:5, :, 3] = 255  # top half opaque red, bottom half transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    loaded = load_rgb(tmp_path / "alpha.png")
    assert tuple(loaded[0, 0]) == (200, 0, 0) and tuple(loaded[9, 9]) == (255, 255, 255)
    mask = load_mask(tmp_path / "alpha.png")
    assert mask[0, 0] == 255 and mask[9, 9] == 0


@pytest.mark.parametrize("name, data, message", [
    ("empty.png", b"", "is empty"),
    ("text.png", b"just some notes", "not an image"),
    ("cut.png", None, "damaged or truncated"),
])
def test_unreadable_files_raise_clear_errors(tmp_path, name, data, message):
    path = tmp_path / name
    if data is None:
        Image.fromarray(_gradient(200, 200)).save(path)
        path.write_bytes(path.read_bytes()[:300])
    else:
        path.write_bytes(data)
    with pytest.raises(ImageFileError, match=message):
        load_rgb(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageFileError, match="does not exist"):
        load_rgb(tmp_path / "nope.png")
    with pytest.raises(ImageFileError, match="is a folder"):
        load_rgb(tmp_path)


def test_save_is_atomic_and_keeps_parameters(tmp_path):
    path = tmp_path / "out.png"
    save_image(path, _gradient(), "a prompt\nSteps: 3, Seed: 1")
    assert read_parameters(path) == "a prompt\nSteps: 3, Seed: 1"
    before = path.read_bytes()
    with pytest.raises(ImageFileError, match="use .png"):
        save_image(tmp_path / "out.xyz", _gradient())
    with pytest.raises(ImageFileError, match="does not exist"):
        save_image(tmp_path / "missing" / "out.png", _gradient())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no temp files left behind


def test_failed_write_leaves_the_existing_file(tmp_path, monkeypatch):
    path = tmp_path / "keep.png"
    save_image(path, _gradient())
    before = path.read_bytes()

    def full_disk(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", full_disk)
    with pytest.raises(ImageFileError, match="No space left"):
        save_image(path, np.zeros((40, 60, 3), np.uint8))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.png"]


def test_notes_are_empty_for_an_ordinary_photo_and_the_old_signatures_still_work(tmp_path):
    from inference.files.image_io import LoadedImage, load_rgb_with_notes, open_image

    Image.fromarray(_gradient()).save(tmp_path / "p.png")
    loaded = load_rgb_with_notes(tmp_path / "p.png")
    assert isinstance(loaded, LoadedImage) and loaded.notes == ()
    rgb, notes = loaded  # unpacks like a pair
    assert notes == ()
    assert np.array_equal(rgb, load_rgb(tmp_path / "p.png")) and np.array_equal(rgb, _gradient())
    assert open_image(str(tmp_path / "p.png")).size == (60, 40)
    assert load_mask(tmp_path / "p.png").shape == (40, 60)


_PEAK_RSS = """
import struct, sys, zlib
import numpy as np
sys.path.insert(0, sys.argv[1])
from inference.files.image_io import load_rgb

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

side = 2000  # a 16-bit RGBA PNG, written row by row so that making it costs little memory
row = np.zeros((side, 4), ">u2")
row[:, 0] = np.arange(side) * 30
row[:, 3] = 40000
packer = zlib.compressobj(1)
idat = b"".join(packer.compress(b"\\0" + row.tobytes()) for _ in range(side)) + packer.flush()
with open(sys.argv[2], "wb") as fh:
    fh.write(b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0))
             + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
del idat, packer
def peak_kb():  # this process's own high-water mark (getrusage's keeps the parent's across exec)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))

before = peak_kb()
rgb = load_rgb(sys.argv[2])
print((peak_kb() - before) * 1024 / (side * side))
"""


def test_opening_a_16_bit_rgba_png_costs_about_8_bytes_a_pixel(tmp_path):
    """The decoded picture (4 bytes a pixel) plus its RGB array (3): no whole-image copies in
    between (there were five: 22 bytes a pixel, 4.1 GB for 14000×14000)."""
    import subprocess
    import sys
    from pathlib import Path

    if not Path("/proc/self/status").exists():
        pytest.skip("peak memory is read from /proc (Linux)")
    done = subprocess.run([sys.executable, "-c", _PEAK_RSS, str(Path(__file__).resolve().parents[3]), str(tmp_path / "big.png")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    bytes_per_pixel = float(done.stdout.strip())
    assert bytes_per_pixel < 11, bytes_per_pixel  # the README promises about 10
