"""The Models dialog against a loopback hub: download with progress through the real worker thread,
cancel and resume, use-this-model, adding local models."""

from __future__ import annotations

import time

import pytest
from hub_server import HubServer, point_hub_at
from PySide6.QtWidgets import QFileDialog, QMessageBox

from gui.dialogs.model_manager_dialog import ModelManagerDialog
from gui.session.settings import Settings
from inference.models.catalog import CATALOG

REPO = CATALOG[0].repo_id  # served by the loopback hub under a catalog name, so it is listed


@pytest.fixture
def hub(monkeypatch, tmp_path, tiny_model_dir):
    with HubServer(chunk_bytes=64 * 1024) as server:
        server.add_folder(REPO, tiny_model_dir)
        point_hub_at(monkeypatch, server.endpoint, tmp_path / "hf-cache")
        yield server


@pytest.fixture
def dialog(qtbot, tmp_path, monkeypatch, hub):
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text, *a: warnings.append(text))
    settings = Settings(str(tmp_path / "settings.ini"))
    dlg = ModelManagerDialog(settings)
    dlg.warnings = warnings
    qtbot.addWidget(dlg)
    dlg.show()
    yield dlg
    dlg.shutdown()


def test_lists_the_catalog_by_purpose_with_status_and_the_cache_location(dialog, tmp_path):
    headings = [dialog.tree.topLevelItem(i).text(0) for i in range(dialog.tree.topLevelItemCount())]
    assert headings == ["Photo restoration", "General", "Fast and live"]
    assert all(dialog.status_of(entry.repo_id) == "Not downloaded" for entry in CATALOG)
    assert str(tmp_path / "hf-cache") in dialog.cache_label.text()
    dialog.select_ref(REPO)
    assert dialog.download_button.isEnabled() and not dialog.use_button.isEnabled()
    dialog.select_ref("latent-consistency/lcm-lora-sdv1-5")
    assert not dialog.use_button.isEnabled()  # a LoRA is not a model of its own


def test_download_shows_progress_then_use_this_model_emits_and_remembers(dialog, qtbot, tiny_model_dir):
    from inference.models.downloads import format_bytes

    total = format_bytes(sum(f.stat().st_size for f in tiny_model_dir.rglob("*") if f.is_file()))
    texts, values = [], []
    dialog.progress_label.setText = _spy(dialog.progress_label.setText, texts)
    dialog.progress_bar.setValue = _spy(dialog.progress_bar.setValue, values)
    dialog.select_ref(REPO)
    with qtbot.waitSignal(dialog.download_ended, timeout=60000) as ended:
        dialog.download_button.click()
        assert dialog.cancel_button.isEnabled() and not dialog.download_button.isEnabled()
    assert ended.args == [REPO, "done"] and not dialog.warnings
    assert any(f" of {total}" in t for t in texts) and values[-1] == 1000  # the served model's size
    assert dialog.status_of(REPO) == "Downloaded"

    dialog.select_ref(REPO)
    assert dialog.use_button.isEnabled()
    with qtbot.waitSignal(dialog.model_chosen) as chosen:
        dialog.use_button.click()
    assert chosen.args == [REPO]
    assert dialog.settings.recent_models()[0] == REPO
    assert dialog.result() == ModelManagerDialog.DialogCode.Accepted


def test_cancel_stops_the_download_and_resume_finishes_it(dialog, qtbot, hub):
    hub.chunk_delay_s = 0.003  # ~20 MB/s: time to press Cancel mid-file
    dialog.select_ref(REPO)
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.progress_bar.value() > 300, timeout=30000)
    with qtbot.waitSignal(dialog.download_ended, timeout=10000) as ended:
        pressed = time.perf_counter()
        dialog.cancel_button.click()
    print(f"GUI cancel → ended signal: {(time.perf_counter() - pressed) * 1000:.0f} ms")
    assert ended.args == [REPO, "cancelled"] and not dialog.warnings
    assert dialog.status_of(REPO) == "Partly downloaded"
    dialog.select_ref(REPO)
    assert dialog.download_button.text() == "Resume download"

    hub.chunk_delay_s = 0.0
    with qtbot.waitSignal(dialog.download_ended, timeout=60000) as ended:
        dialog.download_button.click()
    assert ended.args == [REPO, "done"]
    assert any(r.range for r in hub.requests("GET", "/resolve/"))  # resumed, not restarted
    assert dialog.status_of(REPO) == "Downloaded"


def test_a_failed_download_is_explained(dialog, qtbot, hub):
    del hub.repos[REPO]
    dialog.select_ref(REPO)
    with qtbot.waitSignal(dialog.download_ended, timeout=30000) as ended:
        dialog.download_button.click()
    assert ended.args == [REPO, "failed"]
    assert "Check the name" in dialog.warnings[0]


def test_add_folder_and_file_list_them_and_refuse_what_is_not_a_model(dialog, qtbot, monkeypatch, tiny_model_dir, tmp_path):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(tiny_model_dir))
    dialog.add_folder_button.click()
    assert dialog.selected_row().ref == str(tiny_model_dir) and dialog.status_of(str(tiny_model_dir)) == "Ready"
    assert dialog.settings.local_models() == [str(tiny_model_dir)]
    with qtbot.waitSignal(dialog.model_chosen) as chosen:
        dialog.use_button.click()
    assert chosen.args == [str(tiny_model_dir)]

    pickle = tmp_path / "model.safetensors"
    pickle.write_bytes(b"\x80\x04\x95 not a safetensors header")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(pickle), ""))
    dialog.add_file_button.click()
    assert dialog.warnings and str(pickle) not in dialog.settings.local_models()


def test_closing_during_a_download_cancels_it_and_stops_the_thread(dialog, qtbot, hub):
    hub.chunk_delay_s = 0.003
    dialog.select_ref(REPO)
    dialog.download_button.click()
    qtbot.waitUntil(lambda: dialog.progress_bar.value() > 100, timeout=30000)
    started = time.perf_counter()
    dialog.reject()
    assert time.perf_counter() - started < 2.0 and dialog._thread is None


def _spy(real, calls):
    def record(value):
        calls.append(value)
        real(value)

    return record


def test_what_its_for_is_shown_whole_and_an_error_neither_widens_the_dialog_nor_outlives_add_folder(
        dialog, qtbot, tiny_model_dir):
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtWidgets import QPushButton

    tree = dialog.tree
    qtbot.waitUntil(lambda: tree.header().sectionSize(1) > 0)
    metrics, width = tree.fontMetrics(), tree.header().sectionSize(1) - 8
    for item in dialog._items():
        needed = metrics.boundingRect(QRect(0, 0, width, 10_000), Qt.TextFlag.TextWordWrap, item.text(1)).height()
        assert tree.visualItemRect(item).height() >= needed, item.text(1)
    size = dialog.size()
    error = ("Cannot reach the Hugging Face hub (huggingface.co): this computer seems to be offline, or a firewall "
             "blocks it. Connect to the internet and press Resume download, or download the model elsewhere.")
    dialog._on_ended(REPO, "failed", error)
    qtbot.wait(50)
    assert dialog.size() == size
    close = next(b for b in dialog.findChildren(QPushButton) if b.text() == "Close")
    assert dialog.rect().contains(QRect(close.mapTo(dialog, close.rect().topLeft()), close.size()))
    assert dialog.add_local(str(tiny_model_dir))
    assert "Cannot reach" not in dialog.progress_label.text()
