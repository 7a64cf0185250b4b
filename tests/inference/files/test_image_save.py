"""Saving safely: a full disk or a read-only folder gives a clear message, leaves the previous
file intact and no temporary file behind; saved files get normal permissions."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from PIL import Image

from inference.files import image_save
from inference.core.errors import ImageSaveError
from inference.files.image_save import save_image

W, H = 32, 24


def _rgb(w=W, h=H):
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 8, yy * 10, (xx + yy) * 4], -1).clip(0, 255).astype(np.uint8)


def _saved_state(tmp_path):
    path = tmp_path / "keep.png"
    save_image(path, _rgb())
    return path, path.read_bytes()


@pytest.mark.parametrize("where", ["write", "fsync", "replace"])
def test_full_disk_keeps_the_previous_file(tmp_path, monkeypatch, where):
    path, before = _saved_state(tmp_path)

    def full(*_a, **_k):
        raise OSError(errno.ENOSPC, "No space left on device")

    if where == "write":
        def half_then_full(self, fp, *a, **k):
            fp.write(b"\x89PNG half of it")
            full()

        monkeypatch.setattr(Image.Image, "save", half_then_full)
    else:
        monkeypatch.setattr(image_save.os, where, full)
    with pytest.raises(ImageSaveError, match=r"the disk is full .*free some space"):
        save_image(path, np.zeros((H, W, 3), np.uint8))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


@pytest.mark.parametrize("code, message", [
    (errno.EACCES, r"Kiln may not write there .*save to another folder"),
    (errno.EROFS, r"is on a read-only drive; save to another folder"),
])
def test_read_only_folder_is_a_clear_error(tmp_path, monkeypatch, code, message):
    path, before = _saved_state(tmp_path)
    real_open = os.open

    def refuse_create(file, flags, *a, **k):
        if flags & os.O_CREAT:
            raise OSError(code, os.strerror(code), file)
        return real_open(file, flags, *a, **k)

    monkeypatch.setattr(image_save.os, "open", refuse_create)
    with pytest.raises(ImageSaveError, match=message):
        save_image(path, np.zeros((H, W, 3), np.uint8))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_a_failure_that_is_not_an_os_error_still_removes_the_temporary_file(tmp_path):
    path, before = _saved_state(tmp_path)
    with pytest.raises(TypeError):
        save_image(path, np.zeros((H, W, 3), np.complex64))  # a caller's bug, not a user's problem
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.png"]


def test_saved_files_get_normal_permissions_and_replacements_keep_theirs(tmp_path):
    umask = os.umask(0o022)
    try:
        fresh = save_image(tmp_path / "new.png", _rgb())
        assert fresh.stat().st_mode & 0o777 == 0o644  # not 0600 as a tempfile would be
        os.chmod(fresh, 0o640)
        save_image(fresh, _rgb())
        assert fresh.stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(umask)


def test_saving_onto_a_folder_name(tmp_path):
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(ImageSaveError, match="a folder has that name"):
        save_image(tmp_path / "taken.png", _rgb())


# --- killed saves leave no lasting temporary files ---------------------------------------------------

_SLOW_WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from inference.files.image_save import write_atomically

def slow(fh):
    fh.write(b"x" * 4_000_000)
    fh.flush()
    print("writing", flush=True)
    time.sleep(60)

write_atomically({target!r}, slow)
"""


def test_a_save_killed_mid_write_leaves_a_temporary_file_that_the_next_save_removes(tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    target = tmp_path / "photo.png"
    code = _SLOW_WRITER.format(root=str(Path(__file__).resolve().parents[3]), target=str(target))
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "writing"
        temps = [p.name for p in tmp_path.iterdir()]
        assert len(temps) == 1 and temps[0].startswith(".photo.png.") and temps[0].endswith(".tmp")
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
    finally:
        writer.kill()
        writer.stdout.close()
    assert (tmp_path / temps[0]).stat().st_size == 4_000_000  # what a killed save leaves behind
    save_image(tmp_path / "other.png", _rgb())  # any later save into that folder cleans up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.png"]


def test_only_stale_temporary_files_are_removed(tmp_path):
    import time

    running = tmp_path / f".a.png.kiln-{os.getpid()}-0123abcd.tmp"  # a save in progress (this process)
    old_naming = tmp_path / ".keep.png.89abcdef.tmp"  # the older naming, from an earlier run
    old_naming_other = tmp_path / ".other.png.89abcdef.tmp"  # the older naming, another file: not ours to judge
    foreign = tmp_path / ".notes.txt.swp.tmp"
    for planted in (running, old_naming, old_naming_other, foreign):
        planted.write_bytes(b"partial")
        os.utime(planted, (time.time() - 3600, time.time() - 3600))
    save_image(tmp_path / "keep.png", _rgb())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([running.name, old_naming_other.name, foreign.name, "keep.png"])
    os.utime(running, (time.time() - 2 * image_save.STALE_AFTER_S,) * 2)  # a reused process id cannot keep it for ever
    save_image(tmp_path / "keep.png", _rgb())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([old_naming_other.name, foreign.name, "keep.png"])


# --- names a file system refuses ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a" * 252 + ".png", "é" * 130 + ".png"])
def test_a_file_name_over_255_bytes_is_a_clear_error(tmp_path, name):
    with pytest.raises(ImageSaveError, match=r"the file name is \d+ bytes long, over the 255 bytes .*choose a shorter name"):
        save_image(tmp_path / name, _rgb())
    assert list(tmp_path.iterdir()) == []


def test_a_long_name_under_the_limit_saves(tmp_path):
    name = "字" * 83 + ".png"  # 253 bytes: the temporary file's name must fit too
    save_image(tmp_path / name, _rgb())
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert np.array_equal(np.asarray(Image.open(tmp_path / name)), _rgb())


def test_generate_out_with_a_too_long_name_is_one_line(tmp_path, tiny_model_dir):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    out = tmp_path / ("x" * 300 + ".png")
    done = subprocess.run([sys.executable, str(root / "main.py"), "generate", "--model", str(tiny_model_dir), "--prompt", "a",
                           "--steps", "1", "--width", "64", "--height", "64", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=root, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("kiln: error: cannot save")
    assert "choose a shorter name" in done.stderr
