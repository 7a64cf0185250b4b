"""A project says which format it needs: one with face boxes needs format 2, so a Kiln from before
face boxes says "update Kiln" instead of calling it damaged; one without stays format 1."""

from __future__ import annotations

import dataclasses
import json
import zipfile

import pytest

from hostile_projects import base_state, project_bytes, rezip
from inference.core.errors import ProjectFileError
from inference.files.project_file import Edit, save_project
from inference.files.project_read import load_project


def _version(data: bytes) -> int:
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return json.loads(archive.read("project.json"))["version"]


def test_face_boxes_need_format_2_and_both_open(tmp_path):
    plain = base_state(40, 60)
    assert _version(project_bytes(plain)) == 1
    boxed = dataclasses.replace(plain, face_boxes=[(5, 5, 20, 20)])
    assert _version(project_bytes(boxed)) == 2
    moved = dataclasses.replace(plain, edits=[*plain.edits, Edit("boxes", "Add face box", boxes=((), ((1, 2, 30, 30),)))],
                                undo_index=len(plain.edits) + 1)
    assert _version(project_bytes(moved)) == 2
    save_project(tmp_path / "boxed.kiln", boxed)
    assert [tuple(box) for box in load_project(tmp_path / "boxed.kiln").face_boxes] == [(5, 5, 20, 20)]


def test_a_project_from_a_newer_kiln_says_update(tmp_path):
    newer = rezip(project_bytes(base_state(40, 60)), lambda manifest, _entries: manifest.update(version=3))
    (tmp_path / "newer.kiln").write_bytes(newer)
    with pytest.raises(ProjectFileError, match="saved by a newer Kiln; update Kiln"):
        load_project(tmp_path / "newer.kiln")
