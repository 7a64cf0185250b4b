"""The editor against a Kiln server (Ray Serve on a local Ray): Run on in the Device panel, previews
drawn in place from the server, Stop restoring the canvas, a server that dies mid-job reported with
the canvas as it was, and the next job working once the server is back."""

from __future__ import annotations

import numpy as np
import pytest

from gui.session.server_connection import ServerConnection
from gui.session.settings import Settings
from kiln_server import TOKEN, free_port, replica_actors

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def editor(make_editor):
    return make_editor()


def _connect(editor, qtbot, url, token=TOKEN):
    panel = editor.device_panel
    connection = panel.findChild(ServerConnection)
    panel.url_edit.setText(url)
    panel.token_edit.setText(token)
    if panel.on_server:
        panel.connect_button.click()
    else:
        panel.run_on_combo.setCurrentIndex(panel.run_on_combo.findData(True))  # connects at once
    assert panel.server_row.isVisible() and not panel.precision_combo.isVisible()
    assert connection.wait(30)
    qtbot.waitUntil(lambda: not panel.server_status.text().startswith("Checking"), timeout=30_000)
    return connection


def test_the_editor_generates_on_a_server_with_previews_and_stop(editor, qtbot, kiln_server, tmp_path):
    panel = editor.device_panel
    _connect(editor, qtbot, f"127.0.0.1:{free_port()}")
    assert "unreachable" in panel.server_status.text()  # a wrong address says so at once
    _connect(editor, qtbot, kiln_server)
    assert panel.server_status.text().startswith(f"Connected to the Kiln server at {kiln_server} — models: "
                                                 "compact-x2.safetensors, tiny")

    editor.document.new_blank(64, 64)
    editor.panel.model_combo.setEditText("tiny")  # the server's name for its model
    editor.panel.prompt_edit.setPlainText("a lighthouse")
    editor.panel.steps_spin.setValue(3)
    original = editor.document.image.copy()
    shown, steps = [], []
    real_show = editor.canvas.show_preview
    editor.canvas.show_preview = lambda rgb, rect: (shown.append(rect), real_show(rgb, rect))
    editor.worker.step.connect(lambda event: steps.append(event.step))
    editor.controller.generate()
    qtbot.waitUntil(lambda: editor.history.count() == 1, timeout=120_000)
    assert steps == [1, 2, 3] and len(shown) >= 3  # every step drawn on the canvas, from the server

    # Stop in the middle: the canvas is as it was, and nothing new is in the history
    editor.controller.discard()
    editor.panel.steps_spin.setValue(300)
    editor.worker.step.connect(lambda event: event.step == 2 and editor.controller.cancel())
    editor.controller.generate()
    qtbot.waitUntil(lambda: not editor.controller.busy, timeout=60_000)
    assert editor.history.count() == 1 and not editor.canvas.preview_visible
    assert np.array_equal(editor.document.image, original)


def test_a_server_that_dies_mid_job_leaves_the_canvas_and_the_next_job_works(editor, qtbot, kiln_server):
    import ray

    _connect(editor, qtbot, kiln_server)
    editor.document.new_blank(64, 64)
    editor.panel.model_combo.setEditText("tiny")
    editor.panel.prompt_edit.setPlainText("a storm")
    editor.panel.steps_spin.setValue(300)
    original = editor.document.image.copy()
    failures = []
    editor.worker.failed.connect(lambda event: failures.append(event.message))
    killed = []

    def crash(event):
        if event.step == 2 and not killed:
            killed.append(True)
            for actor in replica_actors():
                ray.kill(actor, no_restart=False)

    editor.worker.step.connect(crash)
    editor.controller.generate()
    qtbot.waitUntil(lambda: not editor.controller.busy, timeout=60_000)
    assert failures and "stopped answering in the middle of the job" in failures[0]
    assert np.array_equal(editor.document.image, original) and editor.history.count() == 0

    editor.panel.steps_spin.setValue(2)
    for _attempt in range(60):  # the server brings the replica back; the next Generate works
        editor.controller.generate()
        qtbot.waitUntil(lambda: not editor.controller.busy, timeout=60_000)
        if editor.history.count() == 1:
            break
        qtbot.wait(1000)
    assert editor.history.count() == 1


def test_run_on_is_remembered_and_this_computer_is_the_default(make_editor, tmp_path):
    settings = Settings(str(tmp_path / "settings.ini"))  # the file make_editor's editors use
    assert settings.server_choice() == (False, "", "")
    settings.save_server_choice(True, " http://gpu-box:7860 ", "secret-token-0123456789")
    ed = make_editor()
    panel = ed.device_panel
    assert panel.on_server and panel.url_edit.text() == "http://gpu-box:7860"
    assert ed.worker.server_url == "http://gpu-box:7860"
    panel.run_on_combo.setCurrentIndex(panel.run_on_combo.findData(False))
    assert ed.worker.server_url == "" and Settings(str(tmp_path / "settings.ini")).server_choice()[0] is False


def test_live_mode_runs_on_the_server_and_the_last_stroke_wins(editor, qtbot, kiln_server, tmp_path):
    from PIL import Image

    from painting import gradient, paint_stroke
    from submissions import record_submissions

    _connect(editor, qtbot, kiln_server)
    Image.fromarray(gradient(64, 96)).save(tmp_path / "photo.png")
    editor.files.open_path(str(tmp_path / "photo.png"), ask_about_parameters=False)
    editor.panel.model_combo.setEditText("tiny")
    editor.panel.prompt_edit.setPlainText("a bird on a branch")
    editor.panel.steps_spin.setValue(30)
    submitted, steps, cancelled = record_submissions(editor), [], []
    editor.worker.step.connect(steps.append)
    editor.worker.cancelled.connect(cancelled.append)
    editor.live.set_enabled(True)
    qtbot.waitUntil(lambda: bool(steps), timeout=60_000)  # the first live job denoises on the server
    for i in range(3):
        paint_stroke(editor.document, [(10 + 20 * i, 10), (10 + 20 * i, 50)], color=(60 * i, 200, 90), radius_px=4)
        qtbot.wait(30)
    final_state = editor.document.composite()
    qtbot.waitUntil(lambda: not editor.controller.busy and not editor.live._dirty
                    and not editor.live._timer.isActive() and editor.controller.shown_entry() is not None,
                    timeout=120_000)
    assert cancelled  # a stale job on the server was stopped for the newer stroke
    assert not any(in_flight for _request, in_flight in submitted)  # never two jobs at once
    last = submitted[-1][0]
    assert np.array_equal(last.image, final_state) and editor.controller.shown_entry().job_id == last.job_id
    editor.live.set_enabled(False)


def test_upscale_runs_on_the_server_when_it_has_the_same_model_file(editor, qtbot, kiln_server, compact_upscaler,
                                                                     monkeypatch):
    import gui.session.restoration_worker as restoration_worker
    from photos import scan

    ran_here = []
    real = restoration_worker.run_engine_job
    monkeypatch.setattr(restoration_worker, "run_engine_job", lambda *a: (ran_here.append(a[1]), real(*a)))
    _connect(editor, qtbot, kiln_server)
    assert "and so do Upscale, faces and Fill hole" in editor.device_panel.server_status.text()
    editor.settings.choose_restoration_model("upscale", str(compact_upscaler))  # the server has compact-x2 too
    picture = scan(2, size=(80, 60), gray=False)
    editor.document.load(picture)
    assert editor.restoration.upscale(2)
    qtbot.waitUntil(lambda: not editor.restoration.busy, timeout=60_000)
    assert (editor.document.width_px, editor.document.height_px) == (160, 120) and not ran_here
    editor.settings.choose_restoration_model("upscale", str(compact_upscaler.with_name("elsewhere.safetensors")))
    compact_upscaler.with_name("elsewhere.safetensors").write_bytes(compact_upscaler.read_bytes())
    assert editor.restoration.upscale(2)  # a file the server does not have: it runs here
    qtbot.waitUntil(lambda: not editor.restoration.busy, timeout=60_000)
    assert (editor.document.width_px, editor.document.height_px) == (320, 240) and ran_here
