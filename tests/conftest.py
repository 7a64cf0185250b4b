"""Shared fixtures: tiny real-architecture models built once per test session, offline."""

from __future__ import annotations

import os

# No test may reach a model hub; set before huggingface_hub / diffusers are imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

import inference  # noqa: F401,E402 - first: lets torchvision import with a CPU torch (torchvision_compat)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny SD1.5-architecture diffusers folder (random weights)."""
    from inference.models.tiny_model import make_test_model

    return make_test_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_upscaler(tmp_path_factory):
    """A small ESRGAN (RRDBNet, 8 filters, 1 block) ×4 upscaler, random weights, .safetensors."""
    from inference.restoration_models.random_models import make_restoration_test_model

    return make_restoration_test_model(tmp_path_factory.mktemp("restoration") / "rrdb-x4.safetensors", "upscale", "tiny")


@pytest.fixture(scope="session")
def compact_upscaler(tmp_path_factory):
    """A small Real-ESRGAN Compact (SRVGG) ×2 upscaler, random weights: the fastest real architecture."""
    from inference.restoration_models.random_models import make_restoration_test_model

    return make_restoration_test_model(tmp_path_factory.mktemp("restoration") / "compact-x2.safetensors", "compact",
                                       "tiny", scale=2)


@pytest.fixture(scope="session")
def face_model(tmp_path_factory):
    """GFPGAN v1.4 (clean) at full size, random weights (332 MB in the test session's temp folder)."""
    from inference.restoration_models.random_models import make_restoration_test_model

    return make_restoration_test_model(tmp_path_factory.mktemp("restoration") / "gfpgan.safetensors", "face")


@pytest.fixture(scope="session")
def fill_model(tmp_path_factory):
    """LaMa at full size, random weights."""
    from inference.restoration_models.random_models import make_restoration_test_model

    return make_restoration_test_model(tmp_path_factory.mktemp("restoration") / "lama.safetensors", "fill")


@pytest.fixture(scope="session")
def firing_finder(tmp_path_factory):
    """A YuNet-architecture face detector (ONNX) that proposes a known grid of 192-px faces (at its input scale)."""
    from tests.face_finders import firing_face_finder

    return firing_face_finder(tmp_path_factory.mktemp("restoration") / "yunet-firing.onnx")


@pytest.fixture(scope="session")
def kiln_server(tiny_model_dir, compact_upscaler):
    """The URL of a Kiln server (Ray Serve on a local Ray, one CPU replica) offering the tiny model
    and the Compact ×2 upscaler, token required (``kiln_server.TOKEN``). Started once per session:
    Ray and Serve take ~30 s."""
    from kiln_server import start_kiln_server, stop_kiln_server

    url = start_kiln_server([tiny_model_dir, compact_upscaler])
    yield url
    stop_kiln_server()


@pytest.fixture(scope="session")
def tiny_inpaint_dir(tmp_path_factory):
    """The 9-channel inpainting variant as a diffusers folder."""
    from inference.models.tiny_model import make_test_model

    return make_test_model(tmp_path_factory.mktemp("models") / "tiny-inpaint", inpainting=True)


@pytest.fixture(scope="session")
def tiny_single_file(tmp_path_factory):
    """The tiny model as one original-layout .safetensors (same weights as tiny_model_dir)."""
    from inference.models.tiny_model import make_test_model

    return make_test_model(tmp_path_factory.mktemp("models") / "tiny.safetensors", single_file=True)


@pytest.fixture(scope="session")
def tiny_inpaint_single_file(tmp_path_factory):
    from inference.models.tiny_model import make_test_model

    path = tmp_path_factory.mktemp("models") / "tiny-inpaint.safetensors"
    return make_test_model(path, inpainting=True, single_file=True)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op torch thread for a module: two threads on two busy cores stall for seconds
    (field notes). Use with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def make_editor(qtbot, tmp_path, monkeypatch):
    """``make_editor(engine_factory=None)`` builds an editor as the app does, with a temporary
    settings file (the same one for every editor of a test, so a second one is a restart).
    Warnings are collected in ``editor.warnings`` instead of shown; "quit anyway?" answers
    Discard. Workers are shut down at the end."""
    from PySide6.QtWidgets import QMessageBox

    from gui.app import build_editor
    from gui.session.settings import Settings

    warnings, editors = [], []
    monkeypatch.setattr(QMessageBox, "warning", lambda _parent, _title, text, *a: warnings.append(text))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Discard)

    def make(engine_factory=None):
        editor = build_editor(Settings(str(tmp_path / "settings.ini")), engine_factory=engine_factory)
        editor.warnings = warnings
        qtbot.addWidget(editor.window)
        editor.window.show()
        editors.append(editor)
        return editor

    yield make
    for editor in editors:
        editor.worker.shutdown()
        editor.autosave.close()


@pytest.fixture(autouse=True)
def recovery_folder(tmp_path_factory, monkeypatch):
    """Every test autosaves into a folder of its own, never the user's."""
    folder = tmp_path_factory.mktemp("recovery")
    monkeypatch.setenv("KILN_RECOVERY_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def collect_qt_garbage_in_the_gui_thread(request):
    """After a GUI test, collect its reference cycles here, in the GUI thread. Left for later,
    the next test's inference thread can be the one whose allocation triggers the collection,
    and Qt objects deleted from that thread crash the process (seen as a rare segfault)."""
    yield
    if "qtbot" in request.fixturenames:
        import gc

        gc.collect()
