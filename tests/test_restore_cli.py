"""``main.py restore`` as a user runs it on a folder of scans."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from photos import scan

ROOT = Path(__file__).resolve().parent.parent


def kiln(*args, timeout=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def test_folder_with_a_corrupt_file_restores_the_rest_and_says_so(tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    originals = {}
    for i in range(3):
        originals[f"photo{i}"] = scan(i)
        Image.fromarray(originals[f"photo{i}"]).save(scans / f"photo{i}.png")
    (scans / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    done = kiln("restore", scans, "--out", out, "--detect", "--heal", "--changes")
    assert done.returncode == 1
    assert "broken.jpg" in done.stderr and "restored 3 of 4" in done.stdout
    for name, original in originals.items():
        restored = np.array(Image.open(out / f"{name}-restored.png"))
        changed = np.any(restored != original, axis=2)
        assert changed.any() and changed.mean() < 0.2  # the scratch, not the photo
        assert np.array_equal(restored[..., 0], restored[..., 1])  # grayscale stays grayscale
        changes = np.array(Image.open(out / f"{name}-changes.png"))[..., 0]
        assert np.array_equal(changes == 255, changed)
    assert sorted(p.name for p in scans.iterdir()) == ["broken.jpg", "photo0.png", "photo1.png", "photo2.png"]


def test_given_mask_with_the_tiny_model_keeps_everything_else(tmp_path, tiny_model_dir):
    photo = scan(1, size=(96, 64), gray=False)
    Image.fromarray(photo).save(tmp_path / "p.png")
    mask = np.zeros((64, 96), np.uint8)
    mask[20:40, 30:60] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    done = kiln("restore", tmp_path / "p.png", "--out", tmp_path / "out", "--mask", tmp_path / "m.png",
                "--model", tiny_model_dir, "--steps", 2, "--save-mask")
    assert done.returncode == 0, done.stderr
    restored = np.array(Image.open(tmp_path / "out" / "p-restored.png"))
    assert restored.shape == photo.shape
    assert np.array_equal(restored[:8], photo[:8]) and np.array_equal(restored[-8:], photo[-8:])
    assert not np.array_equal(restored[25:35, 35:55], photo[25:35, 35:55])
    assert "parameters" in Image.open(tmp_path / "out" / "p-restored.png").text
    assert np.array_equal(np.array(Image.open(tmp_path / "out" / "p-mask.png"))[..., 0], mask)


def test_16_bit_tiff_in_gives_a_full_range_result(tmp_path):
    photo = scan(2)[..., 0].astype(np.uint16) * 257  # 8-bit values spread over 16 bits
    Image.fromarray(photo).save(tmp_path / "deep.tif")
    done = kiln("restore", tmp_path / "deep.tif", "--out", tmp_path / "out", "--detect")
    assert done.returncode == 0, done.stderr
    with Image.open(tmp_path / "out" / "deep-restored.png") as written:
        assert written.mode == "I;16"  # a 16-bit gray scan comes back 16-bit gray
        restored = np.asarray(written).astype(np.uint16)
    # Clipping (16-bit values forced into 0–255) would make almost every pixel 255.
    assert np.mean(restored == photo) > 0.8  # only the scratch changed, every other pixel to the bit
    assert restored.max() > 255


def test_restore_needs_to_know_what_to_repair(tmp_path):
    Image.fromarray(scan(0)).save(tmp_path / "p.png")
    done = kiln("restore", tmp_path / "p.png", "--out", tmp_path / "out")
    assert done.returncode == 1
    assert done.stderr.strip().startswith("kiln: error: say what to repair") and "Traceback" not in done.stderr
