"""Saving safely: a full disk or a read-only folder gives a clear message, leaves the previous
file intact and no temporary file behind; saved files get normal permissions."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from PIL import Image

from inference import image_save
from inference.errors import ImageSaveError
from inference.image_save import save_image

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
