"""The start-up probe the packaging smoke test relies on (gui.startup_probe), and the app's icon.

``run_app`` with KILN_SMOKE_EXIT_AFTER_SHOWN=1 opens a photo, reports "window shown after X s"
once the window is up, closes it and returns 0; without the variable the probe does nothing."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox

import gui.app
from gui import startup_probe
from photos import scan


@pytest.fixture
def watchdog(qapp):
    """Ends a hung event loop with status 99, so a broken probe fails the test instead of hanging."""
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(lambda: qapp.exit(99))
    timer.start(60_000)
    yield timer
    timer.stop()


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "old farm.jpg"
    Image.fromarray(scan(1)).save(path, quality=90)
    return path


def test_probe_is_inert_without_the_variable(qapp, monkeypatch):
    monkeypatch.delenv(startup_probe.ENV, raising=False)
    window = QMainWindow()
    assert startup_probe.arm_startup_probe(qapp, window) is False
    monkeypatch.setenv(startup_probe.ENV, "0")
    assert startup_probe.arm_startup_probe(qapp, window) is False


def test_run_app_reports_the_shown_window_then_quits(qapp, watchdog, monkeypatch, tmp_path, photo, capsys):
    monkeypatch.setenv(startup_probe.ENV, "1")
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)
    monkeypatch.setattr(startup_probe, "last_report", None)
    windows = []

    def arm(app, window):
        windows.append(window)
        return startup_probe.arm_startup_probe(app, window)

    monkeypatch.setattr(gui.app, "arm_startup_probe", arm)

    assert gui.app.run_app(image=str(photo), settings_path=str(tmp_path / "settings.ini")) == 0

    report = startup_probe.last_report
    assert report is not None and 0 < report.seconds < 24 * 3600
    assert "old farm.jpg" in report.title and report.width > 0 and report.height > 0
    out = capsys.readouterr().out
    assert re.search(r"window shown after [0-9]+\.[0-9]{2} s \('.*old farm\.jpg.*', \d+x\d+\)", out)
    window = windows[0]
    assert not window.isVisible()  # closed by the probe
    # The app's icon (resources/icons/kiln.png) is set, and the window shows it.
    assert not QApplication.windowIcon().isNull()
    assert not window.windowIcon().isNull()
    assert window.windowIcon().availableSizes()


def test_probe_exits_3_when_the_window_is_not_shown(qapp, watchdog, monkeypatch, capsys):
    monkeypatch.setenv(startup_probe.ENV, "1")
    window = QMainWindow()  # never shown
    assert startup_probe.arm_startup_probe(qapp, window) is True
    assert qapp.exec() == 3
    assert "window NOT shown" in capsys.readouterr().out


def test_process_age_counts_from_process_start():
    age = startup_probe.process_age()
    assert 0 < age < 24 * 3600
