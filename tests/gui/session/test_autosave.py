"""Autosave and crash recovery: edits reach the recovery folder a moment after they are made,
a killed Kiln's work is offered at the next start and comes back exactly, and a disk that
refuses the autosave is reported once while the editor carries on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gui.app import offer_recovery
from gui.session.autosave import DELAY_MS, find_recoverable
from inference.core.errors import ProjectFileError
from inference.files.image_save import save_image
from inference.files.project_file import MANIFEST
from inference.files.project_read import read_recovery
from photos import scan

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "wedding.png"
    save_image(path, scan(5, size=(200, 150), gray=True))
    return path


def _stroke(doc, y, erase=False):
    doc.begin_stroke(erase=erase)
    doc.paint_segment(10, y, 150, y + 20, 5)
    assert doc.end_stroke()


def _manifest_written(editor, qtbot):
    path = editor.autosave.folder / MANIFEST
    qtbot.waitUntil(lambda: path.is_file() and editor.autosave.wait_idle(0), timeout=10_000)
    return path


def test_an_edit_reaches_the_recovery_folder_a_moment_later(make_editor, photo, qtbot):
    editor = make_editor()
    editor.files.open_path(str(photo))
    doc = editor.document
    manifest = editor.autosave.folder / MANIFEST
    started = time.monotonic()
    _stroke(doc, 20)
    assert not manifest.exists()  # not in the stroke's own time: the GUI thread only schedules
    _manifest_written(editor, qtbot)
    assert DELAY_MS / 1000 - 0.05 <= time.monotonic() - started < 5
    _stroke(doc, 60)
    doc.undo_stack.undo()
    _stroke(doc, 90, erase=False)  # drops the redo step: its patches must go from the folder
    editor.autosave.save_now()
    assert editor.autosave.wait_idle(10)
    state = read_recovery(editor.autosave.folder)
    assert state.undo_index == 2 and len(state.edits) == 2 and state.original_path == str(photo)
    patches = sorted(p.name for p in (editor.autosave.folder / "undo").iterdir())
    assert len(patches) == 4  # two strokes × (before, after), nothing of the dropped one

    other = make_editor()
    assert offer_recovery(other, ask=lambda _text: "later") is False  # the first editor still runs: not offered
    other.projects.apply(state, "test")
    assert np.array_equal(other.document.mask, doc.mask) and np.array_equal(other.document.image, doc.image)


def test_nothing_unsaved_means_nothing_to_recover(make_editor, photo, qtbot, tmp_path):
    editor = make_editor()
    editor.files.open_path(str(photo))
    _stroke(editor.document, 30)
    manifest = _manifest_written(editor, qtbot)
    assert editor.projects.save_to(str(tmp_path / "saved.kiln"))  # clean now
    qtbot.waitUntil(lambda: not manifest.exists(), timeout=10_000)
    folder = editor.autosave.folder
    editor.autosave.close()  # a clean quit
    assert not folder.exists()


def test_a_refused_autosave_is_reported_once_and_the_editor_carries_on(make_editor, photo, qtbot, monkeypatch):
    import gui.session.autosave

    def full(*_a):
        raise ProjectFileError("cannot save 'x': the disk is full (No space left on device); free some space.")

    monkeypatch.setattr(gui.session.autosave, "write_recovery", full)
    editor = make_editor()
    editor.files.open_path(str(photo))
    problems = []
    editor.autosave.problem.connect(problems.append)
    doc = editor.document
    for y in (10, 40, 70):
        _stroke(doc, y)
        editor.autosave.save_now()
        assert editor.autosave.wait_idle(10)
        qtbot.wait(20)
    assert len(problems) == 1 and "disk is full" in problems[0]
    assert "Autosave failed" in editor.window.statusBar().currentMessage()
    assert doc.undo_stack.count() == 3 and doc.dirty


def _run_until_killed(photo, out, root, strokes, interval):
    env = {**os.environ, "KILN_RECOVERY_DIR": str(root), "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen([sys.executable, str(ROOT / "tests" / "crash_session.py"), str(photo), str(out),
                              str(strokes), str(interval)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, cwd=ROOT)
    times = {}
    try:
        for line in child.stdout:
            if line.startswith("STROKE"):
                _, n, t = line.split()
                times[int(n)] = float(t)
                if int(n) == strokes:
                    break
        else:
            pytest.fail(f"the editor process stopped early: {child.stderr.read()[-2000:]}")
        os.kill(child.pid, signal.SIGKILL)  # a crash: no clean-up runs
        killed_at = time.time()
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    return times, killed_at


def test_kill_9_loses_at_most_the_last_seconds_and_the_next_start_restores_the_strokes(
        make_editor, photo, tmp_path, recovery_folder):
    out = tmp_path / "child"
    out.mkdir()
    times, killed_at = _run_until_killed(photo, out, recovery_folder, strokes=16, interval=0.4)

    sessions = find_recoverable(recovery_folder)
    assert len(sessions) == 1 and "wedding.png" in sessions[0].describe()
    editor = make_editor()
    questions = []
    assert offer_recovery(editor, ask=lambda text: questions.append(text) or "restore")
    assert "wedding.png" in questions[0]
    doc = editor.document
    kept = doc.undo_stack.count()
    # Everything painted more than 5 s before the kill is back, exactly as it was.
    assert kept >= max([n for n, t in times.items() if t <= killed_at - 5], default=1)
    assert kept >= 1
    assert np.array_equal(doc.mask, np.load(out / f"mask-{kept}.npy"))
    lost = [n for n in times if n > kept]
    assert all(killed_at - times[n] <= 5 for n in lost), (lost, killed_at, times)
    assert doc.path == str(photo) and doc.dirty
    assert not sessions[0].folder.exists()  # restored: now in this session's own autosave
    assert find_recoverable(recovery_folder) == []


def test_restore_can_wait_or_be_discarded(make_editor, photo, tmp_path, recovery_folder):
    out = tmp_path / "child"
    out.mkdir()
    _run_until_killed(photo, out, recovery_folder, strokes=3, interval=0.8)
    time.sleep(0)
    editor = make_editor()
    assert not offer_recovery(editor, ask=lambda _t: "later")
    assert len(find_recoverable(recovery_folder)) == 1  # still there for the next start
    assert not offer_recovery(editor, ask=lambda _t: "discard")
    assert find_recoverable(recovery_folder) == []


def _crashed_session(recovery_folder, state, info=None):
    """A session folder a crashed Kiln left: its recovery files and no running owner."""
    from inference.files.project_file import write_recovery

    folder = recovery_folder / "session-20260101-000000-1"
    folder.mkdir()
    write_recovery(folder, state)
    (folder / "session.json").write_text(json.dumps(info or {"picture": "/photos/wedding.png", "project": None}))
    return folder


def _recovery_state(patches):
    from hostile_projects import base_state

    state = base_state(48, 64, patches=patches)
    state.image = state.mask = state.paint = None  # a recovery folder keeps the history, not the layers
    return state


def test_a_missing_undo_patch_costs_only_the_steps_from_it_on_and_says_so(make_editor, recovery_folder):
    folder = _crashed_session(recovery_folder, _recovery_state(patches=3))
    manifest = json.loads((folder / MANIFEST).read_text())
    (folder / manifest["edits"][2]["arrays"][1]).unlink()
    editor = make_editor()
    assert offer_recovery(editor, ask=lambda _t: "restore")
    doc = editor.document
    assert doc.undo_stack.count() == 2 and doc.dirty
    undo = next(a for a in editor.window.actions() if a.text().startswith("&Undo"))
    assert undo.isEnabled() and undo.text() == "&Undo Mask stroke"  # the menu follows the restored stack
    expected = np.zeros((48, 64), np.uint8)
    expected[0:16, 0:16] = expected[1:17, 1:17] = 255
    assert np.array_equal(doc.mask, expected)
    assert "The last 1 edits could not be recovered" in editor.warnings[-1]
    assert len(editor.history.entries()) == 1


def test_an_impossible_result_number_or_a_damaged_session_file_costs_only_itself(make_editor, recovery_folder):
    state = _recovery_state(patches=2)
    state.results[0].job_id = 2**70  # past int64
    _crashed_session(recovery_folder, state, {"picture": ["not", "a", "path"], "project": [1, 2]})
    editor = make_editor()
    assert offer_recovery(editor, ask=lambda _t: "restore")
    assert editor.document.undo_stack.count() == 2 and editor.history.entries() == []
    assert "1 of its results could not be read" in editor.warnings[-1]
    assert editor.document.project_path is None
    assert find_recoverable(recovery_folder) == []


def test_a_full_disk_is_reported_as_a_full_disk_with_where(make_editor, photo, qtbot, tmp_path, monkeypatch):
    disk = tmp_path / "small-disk"
    disk.mkdir()
    if os.name != "posix" or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                                            capture_output=True).returncode != 0:
        pytest.skip("needs a small file system (mount as root)")
    try:
        monkeypatch.setenv("KILN_RECOVERY_DIR", str(disk))
        editor = make_editor()
        problems = []
        editor.autosave.problem.connect(problems.append)
        editor.files.open_path(str(photo))  # 200×150: its copy alone needs 90 kB
        _stroke(editor.document, 10)
        editor.autosave.save_now()
        assert editor.autosave.wait_idle(10)
        qtbot.waitUntil(lambda: bool(problems), timeout=5_000)
        assert "disk is full" in problems[0] and str(disk) in problems[0] and "requested" not in problems[0]
        editor.autosave.close()
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
