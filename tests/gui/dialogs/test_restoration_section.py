"""The Models dialog's Restoration tab: files opened off the GUI thread and shown with their kind and
scale (or why they were refused), a choice per use, downloads from a loopback hub, and the
non-commercial switch."""

from __future__ import annotations

import dataclasses
import hashlib
import threading

import pytest
import torch
from hub_server import HubServer, point_hub_at
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QFileDialog, QMessageBox, QPushButton

from gui.dialogs import restoration_section
from gui.dialogs.restoration_section import RestorationSection
from gui.session.settings import Settings
from inference.restoration_models import jobs as restoration_jobs
from inference.restoration_models.catalog import RESTORATION_CATALOG

UPSCALER = RESTORATION_CATALOG[0]  # Real-ESRGAN x4plus: a .pth inside a folder of its repo
WAIT_MS = 120_000  # opening a model on two shared cores


@pytest.fixture
def warnings(monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text, *a: shown.append(text))
    return shown


@pytest.fixture
def make_section(qtbot, tmp_path, monkeypatch, warnings):
    """Sections on one settings file (a second one sees what the first stored), offline cache in tmp."""
    point_hub_at(monkeypatch, "http://127.0.0.1:9", tmp_path / "hf-cache")  # nothing listens there
    monkeypatch.setattr(restoration_jobs._CACHE, "allow_noncommercial", False)  # restored afterwards
    made = []

    def make(catalog=RESTORATION_CATALOG):
        section = RestorationSection(Settings(str(tmp_path / "settings.ini")), catalog=catalog)
        qtbot.addWidget(section)
        section.resize(900, 440)
        section.show()
        made.append(section)
        return section

    yield make
    for section in made:
        section.shutdown()


def _add_and_wait(section, qtbot, path):
    with qtbot.waitSignal(section.checked, timeout=WAIT_MS, check_params_cb=lambda p: p == str(path)):
        section.add_local(str(path))


def test_an_added_upscaler_shows_its_scale_and_kind_and_is_offered_for_upscale_only(make_section, qtbot, tiny_upscaler):
    section = make_section()
    with qtbot.waitSignal(section.checked, timeout=WAIT_MS):
        section.add_local(str(tiny_upscaler))
        assert section.status_of(str(tiny_upscaler)) == "Opening…"  # the GUI thread did not open it
    assert section.status_of(str(tiny_upscaler)) == "ESRGAN ×4 — an upscaler"
    assert section.selected_row().path == str(tiny_upscaler)
    assert section.settings.restoration_models() == [str(tiny_upscaler)]
    assert section.use_buttons["upscale"].isEnabled()
    assert not section.use_buttons["face"].isEnabled() and not section.use_buttons["fill"].isEnabled()
    assert "face restorer" in section.use_buttons["face"].toolTip()

    with qtbot.waitSignal(section.model_chosen) as chosen:
        section.use_buttons["upscale"].click()
    assert chosen.args == ["upscale", str(tiny_upscaler)]
    assert section.settings.restoration_choice("upscale") == str(tiny_upscaler)
    assert section.settings.restoration_choice("face") == ""
    section.use_selected("face")  # not offered: nothing changes
    assert section.settings.restoration_choice("face") == ""
    assert section.used_for(str(tiny_upscaler)) == "Upscale"


def test_each_kind_is_recognised_and_a_reopened_section_remembers(make_section, qtbot, compact_upscaler, face_model,
                                                                  fill_model):
    section = make_section()
    for path in (compact_upscaler, face_model, fill_model):
        _add_and_wait(section, qtbot, path)
    assert "×2 — an upscaler" in section.status_of(str(compact_upscaler))
    assert section.status_of(str(face_model)) == "GFPGAN — a face restorer"
    assert section.status_of(str(fill_model)).startswith("LaMa — a fill")
    section.select(str(face_model))
    assert section.use_buttons["face"].isEnabled() and not section.use_buttons["upscale"].isEnabled()
    section.use_buttons["face"].click()

    again = make_section()
    assert set(again.settings.restoration_models()) == {str(compact_upscaler), str(face_model), str(fill_model)}
    assert again.used_for(str(face_model)) == "Faces"


def test_a_face_detector_is_recognised_and_offered_for_find_faces_only(make_section, qtbot, firing_finder, tmp_path):
    section = make_section()
    _add_and_wait(section, qtbot, firing_finder)
    assert section.status_of(str(firing_finder)) == "YuNet — a face detector"
    assert section.use_buttons["detect"].isEnabled() and not section.use_buttons["face"].isEnabled()
    section.use_buttons["detect"].click()
    assert section.settings.restoration_choice("detect") == str(firing_finder)
    assert section.used_for(str(firing_finder)) == "Find faces"
    assert any(e.kind == "detect" and section.status_of(e) == "Not downloaded" for e in section.catalog)
    other = tmp_path / "other.onnx"
    other.write_bytes(b"\x08\x07not a graph")
    _add_and_wait(section, qtbot, other)
    assert section.status_of(str(other)) == "Refused" and not section.use_buttons["detect"].isEnabled()


class _Payload:
    marker = None

    def __reduce__(self):
        return (open, (str(_Payload.marker), "w"))


def test_a_pth_with_a_pickle_payload_is_refused_with_the_reason_and_never_runs(make_section, qtbot, tmp_path,
                                                                              monkeypatch):
    _Payload.marker = tmp_path / "payload-ran"
    evil = tmp_path / "upscaler.pth"
    torch.save({"body.0.weight": torch.zeros(2), "surprise": _Payload()}, evil)
    section = make_section()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(evil), ""))
    with qtbot.waitSignal(section.checked, timeout=WAIT_MS):
        section.add_file_button.click()
    assert section.status_of(str(evil)) == "Refused"
    assert "could run code" in section.details.text() and "Kiln refuses it" in section.details.text()
    assert not any(button.isEnabled() for button in section.use_buttons.values())
    assert str(evil) not in section.settings.restoration_models()  # shown with its reason, not remembered
    assert not _Payload.marker.exists()


def test_a_file_that_is_not_a_restoration_model_says_so(make_section, qtbot, tmp_path):
    from safetensors.torch import save_file

    other = tmp_path / "text-encoder.safetensors"
    save_file({"encoder.weight": torch.zeros(4, 4)}, str(other))
    section = make_section()
    _add_and_wait(section, qtbot, other)
    assert section.status_of(str(other)) == "Refused"
    assert "not a restoration model Kiln recognises" in section.details.text()


@pytest.fixture
def hub(monkeypatch, tmp_path, tiny_upscaler):
    """The recommended upscaler's repo on a loopback hub, holding a random-weight ×4 model as a
    plain-weights .pth (Real-ESRGAN's own layout)."""
    from safetensors.torch import load_file

    weights = tmp_path / "served.pth"
    torch.save({"params_ema": load_file(str(tiny_upscaler))}, weights)
    with HubServer(chunk_bytes=16 * 1024) as server:
        server.add_repo(UPSCALER.repo_id, {UPSCALER.filename: weights.read_bytes(), "README.md": b"# upscalers"})
        server.served_sha256 = hashlib.sha256(weights.read_bytes()).hexdigest()
        yield server


def _served_catalog(hub):
    """The catalog with the upscaler pinned to what the loopback hub serves."""
    return (dataclasses.replace(UPSCALER, sha256=hub.served_sha256), *RESTORATION_CATALOG[1:])


def test_a_download_lands_in_the_hub_cache_and_is_opened_and_added(make_section, qtbot, monkeypatch, tmp_path, hub,
                                                                   warnings):
    section = make_section(_served_catalog(hub))
    point_hub_at(monkeypatch, hub.endpoint, tmp_path / "hf-cache")
    entry = section.catalog[0]
    assert section.status_of(entry) == "Not downloaded"
    section.select(entry)
    values = []
    section.progress_bar.setValue = lambda value, real=section.progress_bar.setValue: (values.append(value), real(value))
    with qtbot.waitSignal(section.checked, timeout=WAIT_MS):
        with qtbot.waitSignal(section.download_ended, timeout=60_000) as ended:
            section.download_button.click()
            assert section.cancel_button.isEnabled() and not section.download_button.isEnabled()
        assert ended.args == [entry.name, "done"] and not warnings
    assert values and values[-1] == 1000
    path = section.selected_row().path
    assert path.startswith(str(tmp_path / "hf-cache")) and path.endswith(entry.filename)
    assert hub.fetched_files() == {entry.filename}  # the one file, not the README
    assert section.settings.restoration_models() == [path]
    assert section.status_of(entry) == "ESRGAN ×4 — an upscaler"
    assert section.use_buttons["upscale"].isEnabled() and not section.download_button.isEnabled()


def test_a_changed_file_on_the_hub_is_refused_before_it_is_fetched(make_section, qtbot, monkeypatch, tmp_path, hub,
                                                                  warnings):
    section = make_section()  # the real pin: the loopback hub's file is not Real-ESRGAN's
    point_hub_at(monkeypatch, hub.endpoint, tmp_path / "hf-cache")
    section.select(UPSCALER)
    with qtbot.waitSignal(section.download_ended, timeout=60_000) as ended:
        section.download_button.click()
    assert ended.args == [UPSCALER.name, "failed"]
    assert "not the file Kiln recommends" in warnings[0] and not hub.fetched_files()
    assert section.status_of(UPSCALER) == "Not downloaded" and section.download_button.isEnabled()


def test_cancel_keeps_the_partial_file_and_an_unreachable_hub_is_explained(make_section, qtbot, monkeypatch, tmp_path,
                                                                          hub, warnings):
    section = make_section(_served_catalog(hub))
    point_hub_at(monkeypatch, hub.endpoint, tmp_path / "hf-cache")
    entry = section.catalog[0]
    hub.chunk_delay_s = 0.01
    section.select(entry)
    section.download_button.click()
    qtbot.waitUntil(lambda: section.progress_bar.value() > 0, timeout=30_000)
    with qtbot.waitSignal(section.download_ended, timeout=10_000) as ended:
        section.cancel_button.click()
    assert ended.args == [entry.name, "cancelled"] and not warnings
    assert section.status_of(entry) == "Partly downloaded" and "continues where it stopped" in section.details.text()

    point_hub_at(monkeypatch, "http://127.0.0.1:9", tmp_path / "hf-cache")  # the hub is gone
    section.select(entry)
    with qtbot.waitSignal(section.download_ended, timeout=60_000) as ended:
        section.download_button.click()
    assert ended.args == [entry.name, "failed"] and "Could not reach" in warnings[0]

    point_hub_at(monkeypatch, hub.endpoint, tmp_path / "hf-cache")  # back: the next try resumes
    hub.chunk_delay_s = 0.0
    section.select(entry)
    with qtbot.waitSignal(section.checked, timeout=WAIT_MS):
        section.download_button.click()
    assert any(r.range for r in hub.requests("GET", "/resolve/")) and section.status_of(entry).startswith("ESRGAN")


def test_non_commercial_models_are_off_by_default_and_the_choice_persists(make_section, qtbot, monkeypatch, tmp_path):
    section = make_section()
    codeformer = next(e for e in section.catalog if e.name == "CodeFormer")
    assert not section.allow_box.isChecked() and not section.settings.allow_noncommercial()
    assert "CodeFormer" in section.allow_box.text() and "S-Lab License 1.0" in section.allow_note.text()
    assert "CC BY-NC-SA 4.0" in section.allow_note.text()
    assert section.status_of(codeformer) == "Off: non-commercial"
    section.select(codeformer)
    assert not section.download_button.isEnabled()
    assert restoration_jobs._CACHE.allow_noncommercial is False

    monkeypatch.setattr(restoration_section, "noncommercial_extras_installed", lambda: True)
    section.allow_box.click()
    assert section.settings.allow_noncommercial() and restoration_jobs._CACHE.allow_noncommercial is True
    assert section.status_of(codeformer) == "Not downloaded" and section.download_button.isEnabled()
    again = make_section()
    assert again.allow_box.isChecked()

    monkeypatch.setattr(restoration_section, "noncommercial_extras_installed", lambda: False)
    again.set_allow_noncommercial(True)  # allowed, but the architectures are not installed
    assert restoration_jobs._CACHE.allow_noncommercial is False  # so permissive models still open
    assert "spandrel_extra_arches" in again.allow_note.text()
    again.allow_box.click()
    assert not Settings(str(tmp_path / "settings.ini")).allow_noncommercial()


def test_the_models_dialog_has_a_restoration_tab_whose_buttons_fit(qtbot, tmp_path, monkeypatch, warnings):
    from gui.dialogs.model_manager_dialog import ModelManagerDialog

    point_hub_at(monkeypatch, "http://127.0.0.1:9", tmp_path / "hf-cache")
    dialog = ModelManagerDialog(Settings(str(tmp_path / "settings.ini")))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.tabs.setCurrentWidget(dialog.restoration)
    qtbot.wait(50)
    section = dialog.restoration
    close = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Close")
    for button in (section.download_button, section.add_file_button, *section.use_buttons.values(), close):
        assert button.isVisible() and dialog.rect().contains(QRect(button.mapTo(dialog, QPoint(0, 0)), button.size()))
    closed = threading.Event()
    dialog.finished.connect(lambda _result: closed.set())
    close.click()  # one Close for both tabs; closing stops the section's threads too
    assert closed.is_set() and dialog.result() == ModelManagerDialog.DialogCode.Rejected
