"""The recommended restoration models: complete entries, one of each use, non-commercial ones off."""

from __future__ import annotations

import re

from inference.restoration_models.catalog import RESTORATION_CATALOG, entries_for, find_entry
from inference.restoration_models.model_file import KIND_NAMES, NONCOMMERCIAL


def test_every_entry_says_what_it_is_where_it_is_and_under_which_licence():
    for entry in RESTORATION_CATALOG:
        assert entry.kind in KIND_NAMES and entry.licence and entry.size_mb > 0, entry
        assert (entry.scale > 1) == (entry.kind == "upscale"), entry
        assert re.fullmatch(r"[\w.-]+/[\w.-]+", entry.repo_id) and entry.filename.endswith(
            ".onnx" if entry.kind == "detect" else (".safetensors", ".pth"))
        assert entry.description and "\n" not in entry.description and len(entry.description) < 110, entry
        assert entry.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", entry.sha256), entry
        assert find_entry(entry.repo_id, entry.filename) is entry
    assert len({(e.repo_id, e.filename) for e in RESTORATION_CATALOG}) == len(RESTORATION_CATALOG)


def test_each_use_has_a_permissive_model_and_an_upscaler_for_each_factor():
    for kind in ("upscale", "face", "fill", "detect"):
        assert any(not e.noncommercial and e.offered(False) for e in entries_for(kind)), kind
    assert {e.scale for e in entries_for("upscale") if not e.noncommercial} >= {2, 4}


def test_no_non_commercial_model_is_on_by_default():
    non_commercial = [e for e in RESTORATION_CATALOG if e.noncommercial]
    assert {e.name for e in non_commercial} >= {"CodeFormer", "DDColor (ModelScope)"}
    for entry in RESTORATION_CATALOG:
        assert entry.noncommercial == ("non-commercial" in entry.licence), entry
        assert entry.offered(allow_noncommercial=True)
        assert entry.offered(allow_noncommercial=False) == (not entry.noncommercial)
    assert all(e.licence in NONCOMMERCIAL.values() for e in non_commercial)
