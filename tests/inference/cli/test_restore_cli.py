"""``main.py restore`` as a user runs it on a folder of scans."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from photos import scan

ROOT = Path(__file__).resolve().parents[3]


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


def _mask_file(path, shape, box=(10, 30, 20, 60)):
    mask = np.zeros(shape, np.uint8)
    top, bottom, left, right = box
    mask[top:bottom, left:right] = 255
    Image.fromarray(mask).save(path)
    return mask


def test_photos_with_the_same_name_each_get_their_own_result(tmp_path):
    """a.png and a.jpg: two results under two names, and the summary counts both files written."""
    folder = tmp_path / "dup"
    folder.mkdir()
    photos = {"a.jpg": scan(0, gray=False), "a.png": scan(3, gray=False)}
    for name, photo in photos.items():
        Image.fromarray(photo).save(folder / name, quality=100)
    _mask_file(tmp_path / "m.png", (120, 160))
    out = tmp_path / "out"
    done = kiln("restore", folder, "--out", out, "--mask", tmp_path / "m.png", "--save-mask")
    assert done.returncode == 0, done.stderr
    assert "restored 2 of 2" in done.stdout
    assert sorted(p.name for p in out.iterdir()) == ["a-mask-2.png", "a-mask.png", "a-restored-2.png", "a-restored.png"]
    assert "a-restored-2.png" in done.stderr  # the renamed one is named
    first, second = (np.array(Image.open(out / n)) for n in ("a-restored.png", "a-restored-2.png"))
    for result, source in ((first, np.array(Image.open(folder / "a.jpg"))), (second, photos["a.png"])):
        assert np.array_equal(result[40:], source[40:])  # each is its own photo, outside the mask


def test_save_mask_never_replaces_the_given_mask(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.fromarray(scan(1)).save(tmp_path / "photo.png")
    mask = _mask_file(folder / "photo-mask.png", (120, 160))
    given = (folder / "photo-mask.png").read_bytes()
    done = kiln("restore", tmp_path / "photo.png", "--mask", folder / "photo-mask.png", "--save-mask", "--out", folder)
    assert done.returncode == 0, done.stderr
    assert (folder / "photo-mask.png").read_bytes() == given
    assert np.array_equal(np.array(Image.open(folder / "photo-mask-2.png"))[..., 0], mask)
    assert (folder / "photo-restored-2.png").is_file() and "never writes over an original" in done.stderr


def test_an_over_long_name_is_reported_and_skipped(tmp_path):
    Image.fromarray(scan(0)).save(tmp_path / "ok.png")
    too_long = tmp_path / ("x" * 300 + ".png")
    done = kiln("restore", tmp_path / "ok.png", too_long, "--out", tmp_path / "out", "--detect")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "restored 1 of 2" in done.stdout and "name too long" in done.stderr
    assert (tmp_path / "out" / "ok-restored.png").is_file()


def test_unreadable_files_and_folders_are_reported_and_skipped(tmp_path, monkeypatch, capsys):
    """As root every file is readable, so the operating system's refusal is simulated."""
    import main

    good, locked_dir = tmp_path / "good", tmp_path / "locked"
    good.mkdir()
    locked_dir.mkdir()
    Image.fromarray(scan(0)).save(good / "ok.png")
    inside_locked = locked_dir / "inside.png"
    real_is_dir, real_iterdir = Path.is_dir, Path.iterdir

    def is_dir(path):
        if path == inside_locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_is_dir(path)

    def iterdir(path):
        if path == locked_dir:
            raise PermissionError(13, "Permission denied", str(path))
        return real_iterdir(path)

    monkeypatch.setattr(Path, "is_dir", is_dir)
    monkeypatch.setattr(Path, "iterdir", iterdir)
    status = main.main(["restore", str(good), str(inside_locked), str(locked_dir), "--out", str(tmp_path / "out"),
                        "--detect"])
    captured = capsys.readouterr()
    assert status == 1
    assert "restored 1 of 3" in captured.out
    assert captured.err.count("permission denied") >= 2 and str(locked_dir) in captured.err
    assert (tmp_path / "out" / "ok-restored.png").is_file()


def test_colorize_a_folder_of_gray_scans_keeps_their_luminance(tmp_path, tiny_model_dir):
    from inference.restore.tone_match import luminance

    scans = tmp_path / "scans"
    scans.mkdir()
    grays = {}
    for i in range(2):
        grays[f"g{i}"] = scan(i, size=(96, 64), gray=True)
        Image.fromarray(grays[f"g{i}"]).save(scans / f"g{i}.png")
    (scans / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    done = kiln("restore", scans, "--out", tmp_path / "out", "--detect", "--colorize", "--model", tiny_model_dir,
                "--prompt", "a colour photo", "--steps", 3, "--save-mask")
    assert done.returncode == 1 and "broken.jpg" in done.stderr  # the others are done, the corrupt one said
    for name, gray in grays.items():
        out = np.array(Image.open(tmp_path / "out" / f"{name}-restored.png").convert("RGB"))
        assert out.shape == gray.shape
        assert not (np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2]))
        # Healed where damage was found (the saved mask), elsewhere the scan's own luminance to the level
        healed = np.array(Image.open(tmp_path / "out" / f"{name}-mask.png"))[..., 0] > 0
        assert 0 < healed.mean() < 0.2
        assert np.abs(luminance(out).astype(int) - gray[..., 0])[~healed].max() <= 1
    assert sorted(p.name for p in scans.iterdir()) == ["broken.jpg", "g0.png", "g1.png"]


def test_colorize_needs_a_model(tmp_path):
    Image.fromarray(scan(1)).save(tmp_path / "p.png")
    done = kiln("restore", tmp_path / "p.png", "--out", tmp_path / "out", "--colorize")
    assert done.returncode == 1 and "--colorize needs a model" in done.stderr
