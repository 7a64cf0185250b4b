"""Building the editor: the objects, their wiring, the command-line image and model."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from PySide6.QtWidgets import QApplication

from gui.canvas import CanvasView
from gui.document import Document
from gui.file_actions import FileActions
from gui.generation import GenerationController
from gui.generation_panel import GenerationPanel
from gui.history import HistoryStrip
from gui.live_mode import LiveMode
from gui.main_window import MainWindow
from gui.outpaint import OutpaintActions
from gui.paint_panel import PaintPanel
from gui.restore_actions import RestoreActions
from gui.restore_panel import RestorePanel
from gui.settings import Settings
from gui.worker import WorkerClient


@dataclass
class Editor:
    """Everything one editor window is made of (tests drive these directly)."""

    document: Document
    canvas: CanvasView
    panel: GenerationPanel
    history: HistoryStrip
    worker: WorkerClient
    controller: GenerationController
    files: FileActions
    restore: RestoreActions
    window: MainWindow
    settings: Settings
    paint_panel: PaintPanel
    live: LiveMode
    outpaint: OutpaintActions


def build_editor(settings: Settings, engine_factory=None) -> Editor:
    """Create and wire one editor. ``engine_factory`` replaces the real engine (tests)."""
    params = settings.load_params()
    document = Document()
    document.new_blank(params.width_px, params.height_px)
    canvas = CanvasView(document)
    panel = GenerationPanel(params)
    panel.set_recent_models(settings.recent_models())
    history = HistoryStrip()
    worker = WorkerClient(engine_factory)
    controller = GenerationController(document, canvas, params, worker, history)
    files = FileActions(document, lambda: controller.last_applied.parameters if controller.last_applied else None)
    restore = RestoreActions(document)
    restore_panel = RestorePanel(restore)
    paint_panel = PaintPanel(canvas, document)
    live = LiveMode(document, controller)
    outpaint = OutpaintActions(document)
    window = MainWindow(document, canvas, panel, history, controller, files, restore_panel, restore,
                        paint_panel, live, outpaint)
    files.set_window(window)
    outpaint.set_window(window)
    for owned in (document, worker, controller, files, restore, live, outpaint):
        owned.setParent(window)  # destroyed with the window, after its connections are gone

    # Remember what matters across restarts; stop the worker before the window goes.
    def on_closing():
        panel.set_fast(False)  # remember the user's own steps and guidance, not the preset's
        settings.remember_model(params.model_ref)
        settings.save_params(params)
        worker.shutdown()

    window.closing.connect(on_closing)
    files.parameters_found.connect(lambda found: _reuse_parameters(panel, found))
    panel.size_changed.connect(lambda w, h: document.new_blank(w, h) if document.is_blank and not document.dirty else None)
    return Editor(document, canvas, panel, history, worker, controller, files, restore, window, settings,
                  paint_panel, live, outpaint)


def _reuse_parameters(panel: GenerationPanel, found: dict) -> None:
    """Copy parameters read from a PNG into the panel (the model only if the name matches a file)."""
    params = panel.params
    for name in ("prompt", "negative_prompt", "steps", "guidance", "strength", "scheduler", "width_px", "height_px"):
        if name in found:
            setattr(params, name, found[name])
    if "seed" in found:
        params.seed, params.random_seed = found["seed"], False
    panel.show_params(params)


def run_app(image: str | None = None, model: str | None = None, settings_path: str | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Kiln")
    app.setOrganizationName("Kiln")
    editor = build_editor(Settings(settings_path))
    if model:
        editor.panel.model_combo.setEditText(model)
    editor.window.show()
    if image:
        editor.files.open_path(image)
    return app.exec()
