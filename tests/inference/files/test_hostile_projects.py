"""Crafted projects (tests/hostile_projects.py): opening one costs the memory of the picture it
describes, never what its bombs claim; one pixel limit (Kiln's) applies inside projects; a
long history replays in linear time; nothing is half-read; texts reach the widgets cleaned."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hostile_projects import base_state, crafted, opening_peak_bytes, project_bytes, rezip
from inference.files import project_read
from inference.core.errors import ProjectFileError
from inference.files.project_file import Edit, save_project
from inference.files.project_read import load_project

ROOT = Path(__file__).resolve().parents[3]
H, W = 600, 800
LAYER_BYTES = H * W * 8  # what the editor holds for the picture: RGB, mask and RGBA paint
FIXED_BYTES = 12 << 20  # the interpreter's own work: the description parsed, zip directories, buffers


@pytest.fixture(scope="module")
def projects(tmp_path_factory):
    folder = tmp_path_factory.mktemp("crafted")
    made = {"legit": project_bytes(base_state(H, W, patches=12)), **crafted(H, W, bomb_bytes=64 << 20)}
    for name, data in made.items():
        (folder / f"{name}.kiln").write_bytes(data)
    return folder


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak memory is read from Linux's /proc")
@pytest.mark.parametrize("name", ["legit", "bombed-manifest", "bombed-patch-shape", "bombed-patch-tail", "bombed-mask",
                                  "shared-patch", "oversize-results", "huge-job-id", "huge-texts", "long-history",
                                  "many-steps"])
def test_opening_a_crafted_project_costs_at_most_twice_its_pictures_memory(projects, name):
    peak, outcome = opening_peak_bytes(projects / f"{name}.kiln", ROOT)
    assert not outcome.startswith("crashed"), outcome
    assert 0 <= peak <= 2 * LAYER_BYTES + FIXED_BYTES, f"{name}: {peak / 2**20:.0f} MiB, {outcome}"
    expected = {"legit": "opened", "huge-texts": "opened", "long-history": "opened with notes",
                "oversize-results": "opened with notes"}.get(name, "refused")
    assert outcome.startswith(expected), outcome


def test_crafted_projects_are_refused_with_what_is_wrong(projects):
    reasons = {"bombed-manifest": "description takes 67 MB, more than the 8 MB Kiln reads",
               "bombed-patch-shape": "not what its description says",
               "bombed-patch-tail": "not the 384 its header says", "bombed-mask": "not a size the picture has",
               "shared-patch": "is used twice", "huge-job-id": "a result's number",
               "many-steps": "description takes 43 MB, more than the 8 MB Kiln reads"}
    for name, reason in reasons.items():
        with pytest.raises(ProjectFileError, match=reason) as info:
            load_project(projects / f"{name}.kiln")
        assert f"{name}.kiln" in str(info.value) and "\n" not in str(info.value)


def test_results_of_another_size_than_the_pictures_are_left_out_with_a_note(projects):
    state = load_project(projects / "oversize-results.kiln")
    assert state.results == [] and state.notes == ["12 of its results could not be read and were left out."]
    assert len(state.edits) == 12


def test_texts_in_a_project_are_cleaned_and_cut(projects):
    state = load_project(projects / "huge-texts.kiln")
    prompt = state.params["prompt"]
    assert prompt.startswith("[31mred\nxxx") and len(prompt) <= 8_000
    assert state.results[0].parameters == "" and len(state.edits[0].text) <= 200


def test_a_history_longer_than_the_limit_is_folded_into_the_starting_picture(tmp_path, monkeypatch):
    monkeypatch.setattr(project_read, "MAX_UNDO_STEPS", 10)
    state = base_state(40, 56, patches=0, results=0)
    state.edits = [Edit("invert", "Invert mask")] * 25
    state.undo_index = 25
    state.mask = np.full((40, 56), 255, np.uint8)  # 25 inversions of an empty mask
    save_project(tmp_path / "long.kiln", state)
    read = load_project(tmp_path / "long.kiln")
    assert len(read.edits) == 10 and read.undo_index == 10
    assert (read.base_mask == 255).all()  # 15 inversions folded in; 10 more give 255 again
    assert "25 steps" in read.notes[0] and "oldest 15" in read.notes[0]


def test_kilns_pixel_limit_not_pillows_applies_inside_projects(tmp_path, monkeypatch):
    # A 200×200 picture (40,000 px): above Pillow's limit (lowered to 10,000 px, as a 180 MP photo
    # is above its real one), below Kiln's (0.05 MP, as such a photo is below its 200 MP).
    monkeypatch.setenv("KILN_MAX_MEGAPIXELS", "0.05")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)
    state = base_state(200, 200, patches=3)
    save_project(tmp_path / "big.kiln", state)
    read = load_project(tmp_path / "big.kiln")
    assert np.array_equal(read.image, state.image) and len(read.edits) == 3
    assert Image.MAX_IMAGE_PIXELS == 10_000  # Pillow's own setting is left as it was
    monkeypatch.setenv("KILN_MAX_MEGAPIXELS", "0.03")
    with pytest.raises(ProjectFileError, match="Kiln's limit of 0.03 megapixels"):
        load_project(tmp_path / "big.kiln")


def test_replaying_a_long_history_takes_linear_time(qapp):
    from gui.session.document import Document

    def replay(steps):
        edits = [Edit("patch", "Mask stroke", "mask", (i % 200, i % 150, 16, 16),
                      (np.zeros((16, 16), np.uint8), np.full((16, 16), 255, np.uint8))) for i in range(steps)]
        doc = Document()
        started = time.perf_counter()
        doc.restore((np.zeros((256, 256, 3), np.uint8), None, None, False), edits, steps, steps)
        elapsed = time.perf_counter() - started
        strokes = []
        for i in range(5):  # painting and erasing in turn: each stroke is one more undo step
            started = time.perf_counter()
            doc.begin_stroke(erase=i % 2 == 1)
            doc.paint_dab(240, 20, 5)  # beside every replayed patch
            assert doc.end_stroke()
            strokes.append(time.perf_counter() - started)
        return elapsed, sorted(strokes)[2]

    (small, stroke_small), (large, stroke_large) = replay(1000), replay(8000)
    assert large < 6.0, f"8,000 steps took {large:.1f} s"  # quadratic replay took 73 s here
    assert large < 16 * small + 1.0, (small, large)
    # A stroke's cost does not grow with the history (it grew by 21 ms at 8,000 steps)
    assert stroke_large < stroke_small + 0.005, (stroke_small, stroke_large)


def test_a_project_with_an_impossible_result_number_leaves_the_open_picture_alone(make_editor, projects):
    editor = make_editor()
    doc = editor.document
    doc.new_blank(64, 48)
    doc.begin_stroke()
    doc.paint_dab(20, 20, 6)
    doc.end_stroke()
    before = [np.array(a) for a in (doc.image, doc.mask)]
    assert not editor.projects.open_path(str(projects / "huge-job-id.kiln"))
    assert "a result's number" in editor.warnings[-1]
    assert all(np.array_equal(a, b) for a, b in zip(before, (doc.image, doc.mask))) and doc.undo_stack.count() == 1


def test_a_parameters_text_of_a_megabyte_reaches_the_prompt_field_cleaned_and_at_once(make_editor, tmp_path,
                                                                                      monkeypatch):
    from PIL.PngImagePlugin import PngInfo
    from PySide6.QtWidgets import QMessageBox

    info = PngInfo()
    info.add_text("parameters", "a cat\x07 " * 125_000 + "\nNegative prompt: blur\r\nSteps: 9, Seed: 3")
    Image.new("RGB", (64, 48)).save(tmp_path / "cat.png", pnginfo=info)
    shown = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda _p, _t, text, *a: shown.append(text) or QMessageBox.StandardButton.Yes)
    editor = make_editor()
    started = time.perf_counter()
    assert editor.files.open_path(str(tmp_path / "cat.png"))
    elapsed = time.perf_counter() - started
    prompt = editor.panel.prompt_edit.toPlainText()
    assert elapsed < 3.0, f"{elapsed:.1f} s"  # 300 kB took 10 s, 1 MB 113 s
    assert 0 < len(prompt) <= 8_000 and "\x07" not in prompt and prompt.startswith("a cat a cat")
    assert len(shown[0]) < 5_000 and editor.panel.params.steps == 9


def test_rezip_keeps_a_good_project_readable(tmp_path):
    data = rezip(project_bytes(base_state(40, 56)), lambda m, e: None)
    (tmp_path / "same.kiln").write_bytes(data)
    assert load_project(tmp_path / "same.kiln").image.shape == (40, 56, 3)


def test_a_history_past_the_limit_opens_in_the_editor_with_a_dialog_saying_so(make_editor, projects):
    editor = make_editor()
    started = time.perf_counter()
    assert editor.projects.open_path(str(projects / "long-history.kiln"))
    assert time.perf_counter() - started < 20
    doc = editor.document
    assert doc.undo_stack.count() == project_read.MAX_UNDO_STEPS and doc.undo_stack.index() == doc.undo_stack.count()
    assert "12,012 steps is longer than Kiln keeps" in editor.warnings[-1]
    assert np.array_equal(doc.mask, load_project(projects / "long-history.kiln").mask)
    undo = next(a for a in editor.window.actions() if a.text().startswith("&Undo"))
    assert undo.isEnabled()
    doc.undo_stack.undo()
    assert doc.undo_stack.index() == project_read.MAX_UNDO_STEPS - 1
