"""Hostile and unusual files: each either loads as a person expects (and says what it skipped)
or is refused with one clear ``ImageFileError`` — never a crash, never half an image, and in the
editor never a changed document.

The corpus is made by the tests themselves (tests/hostile_files.py: Pillow plus hand-built
bytes); ``CORPUS`` is the table: file → expected outcome.
"""

from __future__ import annotations

import builtins
import errno
import os
import re

import numpy as np
import pytest
from PIL import Image

from inference.files import image_io
from inference.core.errors import (
    DamagedImage,
    ImageFileError,
    ImageTooLarge,
    InvalidSetting,
)
from inference.files.image_io import (
    load_mask,
    load_rgb,
    load_rgb_with_notes,
    read_parameters,
)

from hostile_files import CORPUS, H, W, Refused, write_corpus_file


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus(tmp_path, name):
    path = write_corpus_file(tmp_path, name)
    expected = CORPUS[name][1]
    if isinstance(expected, Refused):
        with pytest.raises(expected.error, match=expected.message) as caught:
            load_rgb_with_notes(path)
        message = str(caught.value)
        assert str(path) in message and message.endswith(".") and "\n" not in message
        with pytest.raises(expected.error):
            load_mask(path)  # masks go through the same door
        return
    rgb, notes = load_rgb_with_notes(path)
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert (rgb.shape[1], rgb.shape[0]) == expected.size
    if expected.note is None:
        assert notes == ()
    else:
        assert any(re.search(expected.note, n) for n in notes), notes
        assert all(path.name in n for n in notes)
    if expected.pixel:
        x, y, colour, tolerance = expected.pixel
        assert np.abs(rgb[y, x].astype(int) - colour).max() <= tolerance, (rgb[y, x], colour)
    assert np.array_equal(load_rgb(path), rgb)  # the old signature gives the same pixels
    assert load_mask(path).shape == rgb.shape[:2]


def test_corpus_is_big_enough():
    assert len(CORPUS) >= 30
    assert sum(isinstance(e, Refused) for _, e in CORPUS.values()) >= 15


# --- paths that are not files ---------------------------------------------------------------------

def test_missing_folder_fifo_and_bad_names(tmp_path):
    with pytest.raises(ImageFileError, match="does not exist"):
        load_rgb(tmp_path / "gone.png")
    with pytest.raises(ImageFileError, match="is a folder"):
        load_rgb(tmp_path)
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageFileError, match="not a regular file"):
        load_rgb(fifo)  # refused without opening: opening a FIFO would block forever
    with pytest.raises(ImageFileError, match="not a valid file name"):
        load_rgb(str(tmp_path / "nul\0.png"))
    with pytest.raises(ImageFileError, match="does not exist"):
        (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere.png")
        load_rgb(tmp_path / "dangling.png")


def test_permission_denied_is_a_clear_error(tmp_path, monkeypatch):
    """Tests run as root, which chmod cannot stop: the denial is injected where the loader opens."""
    path = write_corpus_file(tmp_path, "plain.png")
    real_open = builtins.open

    def denied(file, *args, **kwargs):
        if os.fspath(file) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    with pytest.raises(ImageFileError, match="cannot be read: permission denied"):
        load_rgb(path)
    assert read_parameters(path) is None


def test_unreadable_folder_is_a_clear_error(tmp_path, monkeypatch):
    path = write_corpus_file(tmp_path, "plain.png")
    real_stat = os.stat

    def no_search(p, *a, **k):
        if os.fspath(p) == str(path):
            raise PermissionError(errno.EACCES, "Permission denied", str(p))
        return real_stat(p, *a, **k)

    monkeypatch.setattr(os, "stat", no_search)
    with pytest.raises(ImageFileError, match="permission denied"):
        load_rgb(path)


# --- the pixel limit ------------------------------------------------------------------------------

def test_the_limit_is_raisable_by_parameter_and_environment(tmp_path, monkeypatch):
    path = write_corpus_file(tmp_path, "plain.png")  # 32×24 = 768 pixels
    monkeypatch.delenv("KILN_MAX_MEGAPIXELS", raising=False)
    assert image_io.max_pixels() == 200_000_000
    with pytest.raises(ImageTooLarge, match=r"32×24 pixels \(0.00077 megapixels\), over Kiln's limit of 0.0005 megapixels"):
        load_rgb(path, max_megapixels=0.0005)
    assert load_rgb(path, max_megapixels=0.001).shape == (H, W, 3)
    monkeypatch.setenv("KILN_MAX_MEGAPIXELS", "0.0005")
    with pytest.raises(ImageTooLarge, match="KILN_MAX_MEGAPIXELS"):
        load_rgb(path)
    assert load_rgb(path, max_megapixels=1).shape == (H, W, 3)  # the parameter wins
    monkeypatch.setenv("KILN_MAX_MEGAPIXELS", "400")
    assert image_io.max_pixels() == 400_000_000
    for bad in ("lots", "-5", "0", "nan", "inf"):
        monkeypatch.setenv("KILN_MAX_MEGAPIXELS", bad)
        with pytest.raises(InvalidSetting, match="KILN_MAX_MEGAPIXELS must be a positive number"):
            load_rgb(path)


def test_a_raised_limit_lets_a_big_image_through_the_size_check(tmp_path, monkeypatch):
    """225 megapixels: refused by default, accepted at 400 — up to decoding, which is replaced
    here by a truncation so the test does not allocate the image."""
    from PIL import ImageFile

    bomb = write_corpus_file(tmp_path, "bomb-15000x15000.png")
    real_load = ImageFile.ImageFile.load

    def truncated(self):
        if self.size == (15_000, 15_000):
            raise OSError("image file is truncated")
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", truncated)
    monkeypatch.delenv("KILN_MAX_MEGAPIXELS", raising=False)
    with pytest.raises(ImageTooLarge, match="KILN_MAX_MEGAPIXELS=300"):
        load_rgb(bomb)
    monkeypatch.setenv("KILN_MAX_MEGAPIXELS", "400")
    with pytest.raises(DamagedImage, match="truncated"):
        load_rgb(bomb)
    with pytest.raises(ImageTooLarge, match="limit of 224 megapixels"):
        load_rgb(bomb, max_megapixels=224)


def test_pillow_globals_are_restored_and_truncated_loading_stays_off(tmp_path):
    from PIL import ImageFile

    before = Image.MAX_IMAGE_PIXELS
    path = write_corpus_file(tmp_path, "truncated.png")
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # some other code chose it…
    try:
        with pytest.raises(DamagedImage):
            load_rgb(path)  # …Kiln still refuses half an image
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    load_rgb(write_corpus_file(tmp_path, "plain.png"))
    assert Image.MAX_IMAGE_PIXELS == before


# --- in the editor --------------------------------------------------------------------------------

GUI_REFUSED = ["truncated.png", "bomb-100000x100000.png", "empty.png", "notes.png", "pixmap.ppm", "bad-crc.png", "text-bomb.png",
               "unknown-pixel-format.dds", "half-with-end-marker.jpg", "zero-tail-100.png"]


@pytest.fixture
def editor(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from gui.app import build_editor
    from gui.session.settings import Settings

    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, title, text, *a: warnings.append((title, text)))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    ed = build_editor(Settings(str(tmp_path / "settings.ini")), engine_factory=None)
    ed.warnings = warnings
    ed.messages = []
    ed.files.message.connect(ed.messages.append)
    qtbot.addWidget(ed.window)
    yield ed
    ed.worker.shutdown()


@pytest.mark.parametrize("name", GUI_REFUSED)
def test_a_refused_file_leaves_the_open_document_alone(editor, tmp_path, name):
    photo = write_corpus_file(tmp_path, "plain.png")
    assert editor.files.open_path(str(photo), ask_about_parameters=False)
    pixels, path = editor.document.image.copy(), editor.document.path
    expected = CORPUS[name][1]
    assert editor.files.open_path(str(write_corpus_file(tmp_path, name))) is False
    assert np.array_equal(editor.document.image, pixels) and editor.document.path == path
    assert len(editor.warnings) == 1
    title, text = editor.warnings[0]
    assert title == "Cannot open image" and re.search(expected.message, text)


def test_permission_denied_in_the_editor(editor, tmp_path, monkeypatch):
    photo = write_corpus_file(tmp_path, "plain.png")
    editor.files.open_path(str(photo), ask_about_parameters=False)
    pixels = editor.document.image.copy()
    locked = write_corpus_file(tmp_path, "animated-12.gif")
    real_open = builtins.open

    def denied(file, *args, **kwargs):
        if os.fspath(file) == str(locked):
            raise PermissionError(errno.EACCES, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    assert editor.files.open_path(str(locked)) is False
    assert np.array_equal(editor.document.image, pixels)
    assert [t for t, _ in editor.warnings] == ["Cannot open image"] and "permission denied" in editor.warnings[0][1]


@pytest.mark.parametrize("name, note", [("animated-12.gif", "frame 1 of 12"), ("pages-3.tif", "page 1 of 3"),
                                        ("cmyk-no-profile.jpg", "converted approximately")])
def test_what_was_skipped_is_said_in_the_status_message(editor, tmp_path, name, note):
    path = write_corpus_file(tmp_path, name)
    assert editor.files.open_path(str(path), ask_about_parameters=False)
    assert editor.document.image.shape == (H, W, 3) and editor.warnings == []
    assert editor.messages[-1].startswith(f"Opened {name} ({W}×{H}).") and note in editor.messages[-1]


def test_only_kiln_errors_escape(tmp_path):
    """A quick in-suite sample of the fuzzer (bench/fuzz_loader.py runs it for minutes)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
    try:
        import fuzz_loader
    finally:
        sys.path.pop(0)
    harness = fuzz_loader.Harness(tmp_path, tmp_path / "crashes", tmp_path / "slow", max_megapixels=4, slow_s=10)
    fuzz_loader.run_builtin(harness, seconds=60, seed=1234, max_inputs=1000)  # the same 1000 inputs everywhere
    assert harness.crashes == 0, harness.report(1, "builtin") + "\n" + "\n".join(
        p.read_text() for p in sorted((tmp_path / "crashes").glob("*.txt")))
    assert harness.loaded > 0 and harness.refused > 0


# --- on the command line ----------------------------------------------------------------------------

def _kiln(*args):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    return subprocess.run([sys.executable, str(root / "main.py"), *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=root, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def test_a_foreign_file_in_a_batch_is_skipped_with_a_message_and_the_rest_goes_on(tmp_path):
    scans = tmp_path / "scans"
    scans.mkdir()
    for name in ("a-plain.png", "b-unknown-pixel-format.dds", "c-half-with-end-marker.jpg", "d-zero-tail-100.png"):
        corpus_file = write_corpus_file(tmp_path, name[2:])
        (scans / name).write_bytes(corpus_file.read_bytes())
    (scans / "b-unknown-pixel-format.dds").rename(scans / "b-unknown-pixel-format.png")  # a name restore collects
    (scans / "e-plain.png").write_bytes((scans / "a-plain.png").read_bytes())
    done = _kiln("restore", scans, "--out", tmp_path / "out", "--detect")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "restored 2 of 5" in done.stdout
    assert "is a DirectDraw Surface file, which Kiln does not read" in done.stderr
    assert "its picture data ends early" in done.stderr and "checksum of its pixel data" in done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a-plain-restored.png", "e-plain-restored.png"]


@pytest.mark.parametrize("flag", ["--image", "--mask"])
def test_generate_refuses_a_foreign_file_in_one_line(tmp_path, flag):
    dds = write_corpus_file(tmp_path, "unknown-pixel-format.dds")
    image = write_corpus_file(tmp_path, "plain.png") if flag == "--mask" else dds
    args = ["generate", "--model", tmp_path / "no-model", "--prompt", "x", "--image", image, "--out", tmp_path / "o.png"]
    done = _kiln(*args, *(["--mask", dds] if flag == "--mask" else []))
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().startswith("kiln: error:") and "DirectDraw Surface" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
