"""The opened photo is never written, renamed or deleted by Kiln — unless the user picks that
very file in a save dialog and then confirms replacing the original."""

from __future__ import annotations

import builtins
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog, QMessageBox

from gui.session.results import HistoryEntry
from inference.core.api import Mode
from inference.files.image_save import save_image
from photos import scan

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "scan.png"
    save_image(path, scan(2, size=(160, 120)))
    return path


class WriteWatch:
    """Records every path the process opens for writing, replaces, renames or deletes."""

    def __init__(self, monkeypatch):
        self.touched: list[str] = []
        real_open, real_os_open = builtins.open, os.open

        def watched_open(file, mode="r", *args, **kwargs):
            if isinstance(file, (str, os.PathLike)) and any(c in mode for c in "wax+"):
                self.touched.append(os.fspath(file))
            return real_open(file, mode, *args, **kwargs)

        def watched_os_open(path, flags, *args, **kwargs):
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_CREAT):
                self.touched.append(os.fspath(path))
            return real_os_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", watched_open)
        monkeypatch.setattr(os, "open", watched_os_open)
        for name in ("replace", "rename", "remove", "unlink"):
            real = getattr(os, name)
            monkeypatch.setattr(os, name, self._watch(real))
        monkeypatch.setattr(shutil, "move", self._watch(shutil.move))

    def _watch(self, real):
        def watched(src, *args, **kwargs):
            self.touched.extend(os.fspath(p) for p in (src, *args[:1]) if isinstance(p, (str, os.PathLike)))
            return real(src, *args, **kwargs)
        return watched

    def hit(self, original: Path) -> list[str]:
        return [p for p in self.touched if Path(p).resolve() == original.resolve()]


def test_a_whole_evening_of_work_never_touches_the_original(make_editor, photo, tmp_path, monkeypatch, qtbot):
    data, mtime = photo.read_bytes(), photo.stat().st_mtime_ns
    editor = make_editor()
    watch = WriteWatch(monkeypatch)
    assert editor.files.open_path(str(photo))
    doc = editor.document
    editor.restore.detect_damage()
    editor.restore.heal()
    doc.begin_stroke()
    doc.paint_segment(20, 20, 120, 90, 6)
    doc.end_stroke()
    result = np.ascontiguousarray(255 - np.array(doc.image))
    entry = HistoryEntry(1, result, Mode.INPAINT, 9, "restored")
    editor.results.add(entry)
    editor.controller.show_result(entry)
    editor.controller.accept()
    editor.files.export_changes_map = True
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (a[2], ""))  # accept the suggestions
    assert editor.files.save_as_dialog()  # Export, suggested name
    assert editor.projects.save()  # Save project, suggested name
    doc.begin_stroke(erase=True)
    doc.paint_dab(30, 30, 8)
    doc.end_stroke()
    editor.autosave.save_now()
    assert editor.autosave.wait_idle(10)
    editor.window.close()  # quitting: "discard" is answered in tests
    assert watch.touched, "the watch saw the exports"
    assert watch.hit(photo) == []
    assert photo.read_bytes() == data and photo.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".ini") == [
        "scan-kiln-changes.png", "scan-kiln.png", "scan.kiln", "scan.png"]


def test_choosing_the_original_in_the_save_dialog_asks_again_and_cancel_keeps_it(make_editor, photo, monkeypatch):
    data = photo.read_bytes()
    editor = make_editor()
    editor.files.open_path(str(photo))
    editor.document.begin_stroke(layer="paint", color=(255, 0, 0))
    editor.document.paint_dab(40, 40, 10)
    editor.document.end_stroke()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(photo), ""))
    asked = []

    def answer(choice):
        def exec_(box):
            asked.append(box.text())
            buttons = {b.text(): b for b in box.buttons()}
            target = buttons["Replace the original"] if choice == "replace" else box.button(QMessageBox.StandardButton.Cancel)
            box.clickedButton = lambda: target
            return 0
        return exec_

    monkeypatch.setattr(QMessageBox, "exec", answer("cancel"))
    assert not editor.files.save_as_dialog()
    assert photo.read_bytes() == data and "photo you opened" in asked[0]

    monkeypatch.setattr(QMessageBox, "exec", answer("replace"))
    assert editor.files.save_as_dialog()  # explicitly chosen and confirmed: the user's call
    assert photo.read_bytes() != data and len(asked) == 2


def test_no_other_path_writes_the_original(make_editor, photo, tmp_path):
    data = photo.read_bytes()
    editor = make_editor()
    editor.files.open_path(str(photo))
    assert not editor.files.save_to(str(photo))  # not without the confirmation
    same_file = tmp_path / "link.png"
    same_file.hardlink_to(photo)
    assert not editor.files.save_to(str(same_file))  # nor by another name
    assert not editor.projects.save_to(str(photo))  # a project never goes over a photo
    assert photo.read_bytes() == data
    assert len(editor.warnings) == 3 and all("photo you opened" in w for w in editor.warnings)


def test_the_changed_pixels_map_never_replaces_a_file(make_editor, photo, tmp_path):
    editor = make_editor()
    editor.files.open_path(str(photo))
    existing = tmp_path / "out-changes.png"
    existing.write_bytes(b"someone's file")
    editor.files.export_changes_map = True
    assert editor.files.save_to(str(tmp_path / "out.png"))
    assert existing.read_bytes() == b"someone's file"
    assert (tmp_path / "out-changes-2.png").is_file()


def test_restore_cli_never_writes_a_mask_over_an_input(tmp_path):
    import subprocess

    scans = tmp_path / "scans"
    scans.mkdir()
    save_image(scans / "a.png", scan(1))
    save_image(scans / "a-mask.png", scan(2))  # an input that happens to have the mask's name
    data = (scans / "a-mask.png").read_bytes()
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "restore", str(scans), "--out", str(scans),
                           "--detect", "--heal", "--save-mask"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert (scans / "a-mask.png").read_bytes() == data
    assert "never writes over an original" in done.stderr
