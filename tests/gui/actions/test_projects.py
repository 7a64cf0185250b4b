"""Kiln projects (.kiln): save → reopen gives back the picture, its layers, its undo history,
its results and its settings exactly; a failed or interrupted save loses nothing; damaged
project files are refused with a message and leave the open picture alone."""

from __future__ import annotations

import errno
import io
import json
import os
import zipfile

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from gui.session.results import HistoryEntry
from inference.core.api import Mode
from inference.core.errors import ProjectFileError
from inference.files.image_save import save_image
from inference.files.project_read import load_project
from photos import scan


def _layers(doc):
    return [np.array(a) for a in (doc.image, doc.mask, doc.paint)]


def _same(a, b):
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


def _every_undo_state(doc):
    """The layers at every undo index (the stack is left where it was)."""
    stack, here = doc.undo_stack, doc.undo_stack.index()
    states = []
    for index in range(stack.count() + 1):
        stack.setIndex(index)
        states.append((_layers(doc), doc.is_blank, stack.text(index - 1) if index else ""))
    stack.setIndex(here)
    return states


def _work(editor, photo_path):
    """An evening in miniature: open a photo, mask, paint, accept a result, extend the canvas,
    invert the mask, undo one step; results and settings in place."""
    doc = editor.document
    assert editor.files.open_path(str(photo_path))
    doc.begin_stroke()
    doc.paint_segment(10, 10, 90, 60, 6, hardness=0.5)
    doc.end_stroke()
    doc.begin_stroke(layer="paint", color=(200, 30, 60), opacity=0.6)
    doc.paint_segment(30, 80, 120, 20, 4)
    doc.end_stroke()
    result = np.ascontiguousarray(255 - np.array(doc.image))
    entry = HistoryEntry(7, result, Mode.INPAINT, 1234, "a photo, restored\nSteps: 8, Seed: 1234")
    editor.results.add(entry)
    editor.controller.show_result(entry)
    assert editor.controller.accept()
    doc.fill_paint(5, 5, (10, 200, 10), 0.5)
    editor.outpaint.extend_side("right")
    doc.invert_mask()
    doc.begin_stroke(erase=True)
    doc.paint_segment(40, 40, 60, 60, 5)
    doc.end_stroke()
    doc.undo_stack.undo()  # a redo step remains: it must survive too
    params = editor.panel.params
    params.prompt, params.steps, params.seed, params.random_seed = "old photo, sharp", 13, 4242, False
    params.loras = [["/models/style.safetensors", 0.7]]
    doc.set_paint_visible(False)


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "grandma.png"
    save_image(path, scan(3, size=(160, 120), gray=False))
    return path


def test_save_and_reopen_restores_layers_history_results_and_settings_exactly(make_editor, photo, tmp_path):
    editor = make_editor()
    _work(editor, photo)
    doc = editor.document
    states, index, count = _every_undo_state(doc), doc.undo_stack.index(), doc.undo_stack.count()
    results = [(e.job_id, e.seed, e.mode, e.parameters, e.image.copy()) for e in editor.history.entries()]
    project = tmp_path / "grandma.kiln"
    assert editor.projects.save_to(str(project))
    assert not doc.dirty and "grandma.kiln" in editor.window.windowTitle()

    reopened = make_editor()  # a restart
    assert reopened.files.open_path(str(project))
    doc2 = reopened.document
    assert (doc2.undo_stack.index(), doc2.undo_stack.count()) == (index, count)
    assert _same(_layers(doc2), states[index][0])
    assert not doc2.paint_visible and not doc2.dirty
    assert doc2.path == str(photo) and doc2.project_path == str(project)
    # Every step of the history, undo and redo, gives the same pixels as before saving.
    for step, (layers, is_blank, text) in enumerate(states):
        doc2.undo_stack.setIndex(step)
        assert _same(_layers(doc2), layers), f"undo index {step} ({text})"
        assert doc2.is_blank == is_blank
        assert doc2.undo_stack.text(step - 1) == text if step else True
    doc2.undo_stack.setIndex(0)
    assert np.array_equal(doc2.image, np.asarray(states[0][0][0]))  # back to the photo as opened
    got = [(e.job_id, e.seed, e.mode, e.parameters, e.image) for e in reopened.history.entries()]
    assert [g[:4] for g in got] == [r[:4] for r in results]
    assert all(np.array_equal(g[4], r[4]) for g, r in zip(got, results))
    assert reopened.controller.last_applied.job_id == 7
    params = reopened.panel.params
    assert (params.prompt, params.steps, params.seed, params.random_seed) == ("old photo, sharp", 13, 4242, False)
    assert params.loras == [["/models/style.safetensors", 0.7]]
    assert reopened.panel.prompt_edit.toPlainText() == "old photo, sharp"
    assert reopened.warnings == []


def test_a_project_is_a_zip_of_png_layers_and_json(make_editor, photo, tmp_path):
    editor = make_editor()
    _work(editor, photo)
    project = tmp_path / "p.kiln"
    assert editor.projects.save_to(str(project))
    with zipfile.ZipFile(project) as archive:
        manifest = json.loads(archive.read("project.json"))
        layers = {name: np.array(__import__("PIL.Image").Image.open(io.BytesIO(archive.read(path))))
                  for name, path in manifest["layers"].items()}
    assert manifest["format"] == "kiln-project" and manifest["version"] == 1
    assert _same([layers["image"], layers["mask"], layers["paint"]], _layers(editor.document))


def test_saving_again_keeps_one_file_and_ctrl_s_uses_it(make_editor, photo, tmp_path, monkeypatch):
    editor = make_editor()
    editor.files.open_path(str(photo))
    project = tmp_path / "chosen.kiln"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "chosen"), ""))
    assert editor.projects.save()  # first time: asks, adds .kiln
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: pytest.fail("asked again"))
    doc = editor.document
    doc.begin_stroke()
    doc.paint_dab(50, 50, 10)
    doc.end_stroke()
    assert doc.dirty
    assert editor.projects.save()
    assert not doc.dirty
    assert np.array_equal(load_project(project).mask, doc.mask)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".ini") == ["chosen.kiln", "grandma.png"]


def _write_fails(monkeypatch, after_entries: int, error: BaseException):
    """Make the project writer fail when it starts entry number ``after_entries + 1``."""
    real = zipfile.ZipFile.open
    count = [0]

    def open_entry(self, name, mode="r", *args, **kwargs):
        if mode == "w":
            count[0] += 1
            if count[0] > after_entries:
                raise error
        return real(self, name, mode, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", open_entry)


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"),
                                   OSError(errno.EIO, "Input/output error")])
def test_a_save_interrupted_midway_leaves_the_previous_project_intact(make_editor, photo, tmp_path, monkeypatch, error):
    editor = make_editor()
    _work(editor, photo)
    project = tmp_path / "p.kiln"
    assert editor.projects.save_to(str(project))
    saved_bytes = project.read_bytes()
    doc = editor.document
    doc.begin_stroke(erase=True)  # the mask is inverted: erasing changes it
    assert doc.paint_dab(20, 20, 12) and doc.end_stroke()
    before, index = _layers(doc), doc.undo_stack.index()

    with pytest.MonkeyPatch.context() as patch:
        _write_fails(patch, after_entries=3, error=error)
        assert not editor.projects.save_to(str(project))

    assert project.read_bytes() == saved_bytes  # the previous version, byte for byte
    assert load_project(project).undo_index == index - 1
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert _same(_layers(doc), before) and doc.dirty and doc.undo_stack.index() == index
    assert len(editor.warnings) == 1 and "Nothing was lost" in editor.warnings[0]
    if error.errno == errno.ENOSPC:
        assert "disk is full" in editor.warnings[0]


def test_a_crash_during_save_leaves_the_previous_project_loadable(make_editor, photo, tmp_path, monkeypatch):
    """A crash is not an exception Kiln can catch: simulate one by stopping the writer dead,
    and check what is on disk then."""
    editor = make_editor()
    _work(editor, photo)
    project = tmp_path / "p.kiln"
    editor.projects.save_to(str(project))
    saved = load_project(project)

    class Crash(BaseException):
        pass

    with pytest.MonkeyPatch.context() as patch, pytest.raises(Crash):
        _write_fails(patch, after_entries=5, error=Crash())
        editor.projects.save_to(str(project))
    again = load_project(project)
    assert again.undo_index == saved.undo_index and np.array_equal(again.mask, saved.mask)
    assert not list(tmp_path.glob(".p.kiln.*.tmp"))  # the half-written temporary file is removed


def test_a_full_disk_on_project_save_keeps_the_project_open(make_editor, photo, tmp_path, monkeypatch):
    editor = make_editor()
    _work(editor, photo)
    doc = editor.document
    before, title = _layers(doc), editor.window.windowTitle()

    def no_space(*_a):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "fsync", no_space)
        assert not editor.projects.save_to(str(tmp_path / "full.kiln"))
    assert not (tmp_path / "full.kiln").exists()
    assert _same(_layers(doc), before) and doc.dirty and doc.project_path is None
    assert editor.window.windowTitle() == title
    assert "disk is full" in editor.warnings[-1]


def _damaged_projects(tmp_path, good):
    """(name, bytes) of files that must be refused."""
    data = good.read_bytes()

    def rezip(change):
        out = io.BytesIO()
        with zipfile.ZipFile(good) as src, zipfile.ZipFile(out, "w") as dst:
            manifest = json.loads(src.read("project.json"))
            entries = {n: src.read(n) for n in src.namelist() if n != "project.json"}
            change(manifest, entries)
            for name, blob in entries.items():
                dst.writestr(name, blob)
            dst.writestr("project.json", json.dumps(manifest))
        return out.getvalue()

    def first_patch(manifest):
        return next(e for e in manifest["edits"] if e["kind"] == "patch")

    def pickled(manifest, entries):
        name = first_patch(manifest)["arrays"][0]
        buffer = io.BytesIO()
        np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
        entries[name] = buffer.getvalue()

    def huge_header(manifest, entries):
        name = first_patch(manifest)["arrays"][0]
        entries[name] = entries[name].replace(b"'shape': (", b"'shape': (900000, 900000, ", 1)

    return [
        ("empty.kiln", b""),
        ("text.kiln", b"just some words"),
        ("truncated.kiln", data[: len(data) // 2]),
        ("photo.kiln", (tmp_path / "grandma.png").read_bytes()),
        ("no-manifest.kiln", rezip(lambda m, e: m.clear() or m.update(format="something-else"))),
        ("newer.kiln", rezip(lambda m, e: m.update(version=99))),
        ("missing-layer.kiln", rezip(lambda m, e: e.pop(m["layers"]["mask"]))),
        ("outside.kiln", rezip(lambda m, e: first_patch(m).update(rect=[5000, 5000, 1, 1]))),
        ("bad-index.kiln", rezip(lambda m, e: m.update(undo_index=999))),
        ("escape.kiln", rezip(lambda m, e: m["layers"].update(mask="../../etc/passwd"))),
        ("pickled-patch.kiln", rezip(pickled)),
        ("huge-patch.kiln", rezip(huge_header)),
        ("bad-json.kiln", rezip(lambda m, e: m.update(edits=[{"kind": "teleport", "text": "?"}]))),
    ]


def test_damaged_projects_are_refused_and_the_open_picture_stays(make_editor, photo, tmp_path):
    editor = make_editor()
    _work(editor, photo)
    good = tmp_path / "good.kiln"
    editor.projects.save_to(str(good))
    doc = editor.document
    doc.begin_stroke(erase=True)
    assert doc.paint_dab(30, 30, 9) and doc.end_stroke()
    before, index, path = _layers(doc), doc.undo_stack.index(), doc.project_path
    for name, blob in _damaged_projects(tmp_path, good):
        bad = tmp_path / name
        bad.write_bytes(blob)
        with pytest.raises(ProjectFileError) as info:
            load_project(bad)
        assert name in str(info.value) and "\n" not in str(info.value)
        count = len(editor.warnings)
        assert not editor.files.open_path(str(bad)), name
        assert len(editor.warnings) == count + 1, name
        assert _same(_layers(doc), before) and doc.undo_stack.index() == index and doc.project_path == path, name
    (tmp_path / "folder.kiln").mkdir()
    with pytest.raises(ProjectFileError, match="folder"):
        load_project(tmp_path / "folder.kiln")


def test_an_untitled_sketch_round_trips_as_a_blank_canvas(make_editor, tmp_path):
    editor = make_editor()
    doc = editor.document
    doc.new_blank(96, 64)
    doc.begin_stroke(layer="paint", color=(0, 0, 255))
    doc.paint_segment(10, 10, 80, 50, 6)
    doc.end_stroke()
    assert editor.projects.suggested_path() == "untitled.kiln"
    assert editor.projects.save_to(str(tmp_path / "sketch.kiln"))
    other = make_editor()
    assert other.files.open_path(str(tmp_path / "sketch.kiln"))
    assert other.document.is_blank and other.document.path is None
    assert _same(_layers(other.document), _layers(doc))
    other.document.undo_stack.undo()
    assert not other.document.paint.any()
