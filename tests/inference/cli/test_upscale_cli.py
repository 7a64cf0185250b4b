"""``main.py upscale`` and the old-photo recipe of ``main.py restore`` as a user runs them.

The batch on a folder runs ``main.py`` as a process, as a user does; the other cases call
``main.main`` in this process (the same code, without paying for importing torch each time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photos import scan

ROOT = Path(__file__).resolve().parents[3]


def kiln(*args, timeout=600):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture
def kiln_here(capsys):
    """``kiln_here(*args)`` runs ``main.main`` in this process → (returncode, stdout, stderr)."""
    import main

    def run(*args):
        capsys.readouterr()
        code = main.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


def test_upscale_a_folder_with_a_broken_photo(kiln_here, tmp_path, compact_upscaler):
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(scan(0, gray=False)).save(photos / "colour.png")
    Image.fromarray(scan(1)[..., 0]).save(photos / "gray.png")  # a one-channel scan
    (photos / "torn.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    done = kiln_here("upscale", photos, "--model", compact_upscaler, "--scale", 2, "--out", tmp_path / "out")
    assert done.returncode == 1
    assert "torn.png" in done.stderr and "enlarged 2 of 3 photos ×2" in done.stdout
    colour = np.array(Image.open(tmp_path / "out" / "colour-x2.png"))
    assert colour.shape == (240, 320, 3)
    gray = np.array(Image.open(tmp_path / "out" / "gray-x2.png").convert("RGB"))
    assert gray.shape == (240, 320, 3) and np.array_equal(gray[..., 0], gray[..., 2])
    assert sorted(p.name for p in photos.iterdir()) == ["colour.png", "gray.png", "torn.png"]


def test_wrong_kind_and_too_large_are_said_before_work(kiln_here, tmp_path, face_model, compact_upscaler):
    Image.fromarray(scan(0)).save(tmp_path / "p.png")
    done = kiln_here("upscale", tmp_path / "p.png", "--model", face_model, "--out", tmp_path / "out")
    assert done.returncode == 1 and "face restorer (GFPGAN), not an upscaler" in done.stderr
    Image.new("RGB", (6000, 4000)).save(tmp_path / "big.png")
    done = kiln_here("upscale", tmp_path / "big.png", "--model", compact_upscaler, "--scale", 4, "--out", tmp_path / "o2")
    assert done.returncode == 1 and "×4 of 6000×4000 is 384 megapixels" in done.stderr
    assert not (tmp_path / "o2" / "big-x4.png").exists()


def test_make_test_model_writes_each_kind(kiln_here, tmp_path):
    done = kiln_here("make-test-model", tmp_path / "up.safetensors", "--restoration", "upscale")
    assert done.returncode == 0, done.stderr
    assert "RRDBNet ×4" in done.stdout
    from inference.restoration_models.model_file import load_restoration_model

    model = load_restoration_model(tmp_path / "up.safetensors")
    assert (model.kind, model.scale, model.architecture) == ("upscale", 4, "ESRGAN")


def test_fill_keeps_every_pixel_outside_the_mask(kiln_here, tmp_path, fill_model):
    photo = scan(2, gray=False)
    Image.fromarray(photo).save(tmp_path / "p.png")
    mask = np.zeros(photo.shape[:2], np.uint8)
    mask[30:80, 40:120] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    done = kiln_here("restore", tmp_path / "p.png", "--mask", tmp_path / "m.png", "--fill", fill_model, "--out", tmp_path / "out")
    assert done.returncode == 0, done.stderr
    out = np.array(Image.open(tmp_path / "out" / "p-restored.png"))
    assert np.array_equal(out[mask == 0], photo[mask == 0])
    assert not np.array_equal(out[mask > 0], photo[mask > 0])


def test_the_recipe_on_a_folder_with_a_corrupt_file(tmp_path, fill_model, face_model, compact_upscaler):
    scans = tmp_path / "scans"
    scans.mkdir()
    for i in range(2):
        Image.fromarray(scan(i)).save(scans / f"photo{i}.png")
    (scans / "photo0.faces.json").write_text(json.dumps({"faces": [[40, 30, 48, 56]]}))
    (scans / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    done = kiln("restore", scans, "--out", tmp_path / "out", "--detect", "--fill", fill_model, "--faces", face_model,
                "--fidelity", "0.6", "--upscale", compact_upscaler, "--scale", 2)
    assert done.returncode == 1
    assert "broken.jpg" in done.stderr and "restored 2 of 3" in done.stdout
    assert "no photo1.faces.json" in done.stderr
    for i in range(2):
        out = np.array(Image.open(tmp_path / "out" / f"photo{i}-restored.png").convert("RGB"))
        assert out.shape == (240, 320, 3)
        assert np.array_equal(out[..., 0], out[..., 1])  # gray scans stay gray through every step


def test_recipe_flags_are_checked_before_work(kiln_here, tmp_path, face_model):
    Image.fromarray(scan(0)).save(tmp_path / "p.png")
    done = kiln_here("restore", tmp_path / "p.png", "--out", tmp_path / "o", "--fill", face_model)
    assert done.returncode == 1 and "--mask MASK.png or --detect" in done.stderr
    done = kiln_here("restore", tmp_path / "p.png", "--out", tmp_path / "o", "--detect", "--fill", face_model)
    assert done.returncode == 1 and "not a fill (inpainting) model" in done.stderr
    done = kiln_here("restore", tmp_path / "p.png", "--out", tmp_path / "o", "--faces", "diffusion")
    assert done.returncode == 1 and "--model" in done.stderr


def test_faces_found_by_a_detector_are_restored_and_nothing_else(kiln_here, tmp_path, face_model, firing_finder,
                                                                  tiny_model_dir):
    from inference.restoration_models.face_finder import face_boxes_to_propose, load_face_finder

    photo = scan(5, size=(320, 240), gray=False)
    Image.fromarray(photo).save(tmp_path / "p.png")  # no p.faces.json beside it
    done = kiln_here("restore", tmp_path / "p.png", "--out", tmp_path / "o", "--find-faces", firing_finder)
    assert done.returncode == 1 and "add --faces MODEL" in done.stderr
    done = kiln_here("restore", tmp_path / "p.png", "--out", tmp_path / "o", "--faces", face_model,
                     "--find-faces", face_model)
    assert done.returncode == 1 and "not an ONNX file" in done.stderr
    done = kiln_here("restore", tmp_path / "p.png", "--out", tmp_path / "o", "--faces", "diffusion",
                     "--model", tiny_model_dir, "--steps", 2, "--find-faces", firing_finder)
    assert done.returncode == 0, done.stderr
    boxes = face_boxes_to_propose(load_face_finder(firing_finder).find(photo), 320, 240)
    inside = np.zeros(photo.shape[:2], bool)
    for x, y, w, h in boxes:
        inside[y:y + h, x:x + w] = True
    assert boxes and (~inside).any()
    out = np.array(Image.open(tmp_path / "o" / "p-restored.png").convert("RGB"))
    assert np.array_equal(out[~inside], photo[~inside])
    assert not np.array_equal(out[inside], photo[inside])


def test_the_diffusion_model_inpaints_from_the_learned_fill(kiln_here, tmp_path, tiny_model_dir, fill_model):
    photo = scan(3, size=(96, 64), gray=False)
    Image.fromarray(photo).save(tmp_path / "p.png")
    mask = np.zeros((64, 96), np.uint8)
    mask[20:44, 30:70] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    outs = {}
    for name, extra in (("plain", []), ("filled", ["--fill", fill_model])):
        done = kiln_here("restore", tmp_path / "p.png", "--out", tmp_path / name, "--mask", tmp_path / "m.png",
                    "--model", tiny_model_dir, "--steps", 2, "--strength", 0.5, *extra)
        assert done.returncode == 0, done.stderr
        outs[name] = np.array(Image.open(tmp_path / name / "p-restored.png"))
    far = np.ones(mask.shape, bool)
    far[8:56, 18:82] = False  # beyond the feather
    for out in outs.values():
        assert np.array_equal(out[far], photo[far])
    assert not np.array_equal(outs["plain"][mask > 0], outs["filled"][mask > 0])  # it started from the fill


def test_add_detail_works_tile_by_tile_at_full_resolution(kiln_here, tmp_path, compact_upscaler, tiny_model_dir):
    photo = scan(4, size=(300, 140))  # ×2 → 600×280: two tiles of the model's 512 px side
    Image.fromarray(photo).save(tmp_path / "p.png")
    plain = kiln_here("upscale", tmp_path / "p.png", "--model", compact_upscaler, "--out", tmp_path / "plain")
    done = kiln_here("upscale", tmp_path / "p.png", "--model", compact_upscaler, "--out", tmp_path / "detail",
                "--detail", tiny_model_dir, "--steps", 4, "--detail-strength", 0.5)
    assert plain.returncode == 0 and done.returncode == 0, done.stderr
    a = np.array(Image.open(tmp_path / "plain" / "p-x2.png").convert("RGB"))
    b = np.array(Image.open(tmp_path / "detail" / "p-x2.png").convert("RGB"))
    assert a.shape == b.shape == (280, 600, 3)
    assert np.abs(a.astype(int) - b.astype(int)).mean() > 1  # the model worked on it
    assert np.array_equal(b[..., 0], b[..., 1])  # a gray scan stays gray
    assert "parameters" in Image.open(tmp_path / "detail" / "p-x2.png").text
