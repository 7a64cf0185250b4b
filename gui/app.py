"""Building the editor: the objects, their wiring, the command-line image and model."""

from __future__ import annotations

import sys
from dataclasses import dataclass

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QMessageBox, QVBoxLayout, QWidget

from gui.session.autosave import AutoSaver, find_recoverable, restore_session
from gui.canvas.view import CanvasView
from gui.panels.device_panel import DevicePanel
from gui.session.server_connection import ServerConnection
from gui.session.document import Document
from gui.actions.face_actions import FaceActions, install_faces
from gui.actions.file_actions import FileActions
from gui.panels.forward_view_panel import ForwardViewPanel
from gui.session.generation import GenerationController, format_eta
from gui.panels.generation_panel import GenerationPanel
from gui.panels.history_panel import HistoryStrip
from gui.session.live_mode import LiveMode
from gui.session.overlay import CanvasOverlay
from gui.session.results import ResultsModel
from gui.session.training import TrainingSession
from gui.panels.lora_panel import LoraPanel
from gui.main_window import MainWindow
from gui.actions.outpaint_actions import OutpaintActions
from gui.panels.paint_panel import PaintPanel
from gui.actions.project_actions import ProjectActions
from gui.actions.restore_actions import RestoreActions
from gui.actions.upscale_actions import UpscaleActions, install_restoration
from gui.panels.restore_panel import RestorePanel
from gui.session.settings import Settings
from gui.startup_probe import arm_startup_probe
from gui.panels.timeline_panel import TimelinePanel
from gui.session.restoration_jobs import RestorationJobs
from gui.session.restoration_worker import RestorationWorker
from gui.session.worker import WorkerClient
from inference.files.resources import resources_dir


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
    lora_panel: LoraPanel
    device_panel: DevicePanel
    timeline: TimelinePanel
    forward_view: ForwardViewPanel
    projects: ProjectActions
    autosave: AutoSaver
    overlay: CanvasOverlay
    results: ResultsModel
    training: TrainingSession
    restoration: RestorationJobs  # Upscale and Fill (learned restoration models)
    upscale: UpscaleActions
    faces: FaceActions  # face boxes, Restore faces and the face pass (Image → Faces)


def build_editor(settings: Settings, engine_factory=None) -> Editor:
    """Create and wire one editor. ``engine_factory`` replaces the real engine (tests)."""
    params = settings.load_params()
    params.fill_model = settings.restoration_choice("fill")  # Pre-fill with Fill hole uses the chosen fill model
    document = Document()
    document.new_blank(params.width_px, params.height_px)
    overlay, results = CanvasOverlay(), ResultsModel()  # what is drawn over the picture; the results
    canvas = CanvasView(document, overlay=overlay)
    panel = GenerationPanel(params)
    panel.set_recent_models(settings.recent_models())
    history = HistoryStrip(results)
    worker = RestorationWorker(engine_factory)  # a WorkerClient that also runs upscale, face and fill jobs
    controller = GenerationController(document, overlay, params, worker, results)
    history.entry_selected.connect(controller.show_result)
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
    lora_panel, device_panel = LoraPanel(params), DevicePanel(*settings.device_choices())
    window.add_side_panel(lora_panel)
    window.add_side_panel(device_panel)
    worker.configure(device_panel.precision, device_panel.memory_mode)
    device_panel.changed.connect(lambda precision, memory: _set_device(settings, worker, precision, memory))
    worker.device.connect(device_panel.show_device)
    server = _add_server_choice(device_panel, settings, worker)
    worker.problem.connect(window.show_error)
    window.add_menu_action("&File", "&Models…", lambda: _open_models(window, settings, panel), ["Ctrl+Shift+M"],
                           tip="Download recommended models, or add a folder or .safetensors file")
    training = _add_teaching(window, worker, params, lora_panel)
    timeline, forward_view = _add_timeline(window, panel, controller, overlay, document, params, worker)
    projects, autosave = _add_projects(window, document, results, controller, panel, files)
    controller.awaits_accept.connect(lambda: _leave_text_box(window))
    restoration, upscale = install_restoration(window, document, overlay, worker, controller, settings, panel,
                                               restore_panel)
    faces = install_faces(window, document, canvas, controller, worker, params, settings)
    for owned in (document, overlay, results, worker, controller, files, restore, live, outpaint, projects,
                  autosave, training, restoration, upscale):
        owned.setParent(window)  # destroyed with the window, after its connections are gone

    # Remember what matters across restarts; stop the worker before the window goes.
    def on_closing():
        panel.set_fast(False)  # remember the user's own steps and guidance, not the preset's
        settings.remember_model(params.model_ref)
        settings.save_params(params)
        worker.shutdown()
        restore.shutdown()
        faces.finding.shutdown()
        server.shutdown()
        autosave.close()  # a clean quit leaves nothing to recover

    window.closing.connect(on_closing)
    files.parameters_found.connect(lambda found: _reuse_parameters(panel, found))
    panel.size_changed.connect(lambda w, h: document.new_blank(w, h) if document.is_blank and not document.dirty else None)
    return Editor(document, canvas, panel, history, worker, controller, files, restore, window, settings,
                  paint_panel, live, outpaint, lora_panel, device_panel, timeline, forward_view, projects, autosave,
                  overlay, results, training, restoration, upscale, faces)


def _add_projects(window: MainWindow, document: Document, results: ResultsModel, controller: GenerationController,
                  panel: GenerationPanel, files: FileActions) -> tuple[ProjectActions, AutoSaver]:
    """File → Save project (Ctrl+S) / Save project as… (Ctrl+Alt+S), .kiln files in Open and drag
    and drop, the offer to save when quitting, and autosave into the recovery folder."""
    projects = ProjectActions(document, results, controller, panel.params, files)
    projects.set_window(window)
    tip = "Keep the layers, mask, undo history, results and settings in one .kiln file"
    window.add_menu_action("&File", "&Save project", projects.start_save, ["Ctrl+S"], tip=tip,
                           before=window.export_action)
    window.add_menu_action("&File", "Save project as…", projects.start_save_as, ["Ctrl+Alt+S"], tip=tip,
                           before=window.export_action)
    window.save_project = projects.save  # waits for the file: the window closes after it
    window.background_work.append(projects.wait_saved)
    files.save_project = projects.save
    projects.busy.connect(window.show_busy_save)
    projects.message.connect(window.show_message)
    projects.saved.connect(window._update_title)
    projects.opened.connect(window._update_title)
    autosave = AutoSaver(document, results, controller, panel.params)
    autosave.problem.connect(window.show_message)
    return projects, autosave


def offer_recovery(editor: Editor, ask=None) -> bool:
    """After a crash: offer the newest session with unsaved work. ``ask(text) -> "restore" |
    "discard" | "later"`` (a dialog by default). Returns whether work was restored."""
    sessions = find_recoverable(editor.autosave.folder.parent)
    if not sessions:
        return False
    session = sessions[0]
    text = (f"Kiln closed without saving your work ({session.describe()}). Restore it? "
            "Discarding deletes the autosaved copy.")
    answer = (ask or (lambda t: _ask_recovery(editor.window, t)))(text)
    if answer == "restore":
        restored = restore_session(session, editor.projects, editor.document)
        editor.window._update_title()  # the recovered work may belong to a project file
        return restored
    if answer == "discard":
        session.discard()
    return False


def _ask_recovery(window: MainWindow, text: str) -> str:
    box = QMessageBox(QMessageBox.Icon.Question, "Restore unsaved work?", text, parent=window)
    restore = box.addButton("Restore", QMessageBox.ButtonRole.AcceptRole)
    discard = box.addButton("Discard", QMessageBox.ButtonRole.DestructiveRole)
    box.addButton("Not now", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(restore)
    box.exec()
    return {restore: "restore", discard: "discard"}.get(box.clickedButton(), "later")


def _add_timeline(window: MainWindow, panel: GenerationPanel, controller: GenerationController,
                  overlay: CanvasOverlay, document: Document, params, worker: WorkerClient
                  ) -> tuple[TimelinePanel, ForwardViewPanel]:
    """The Timeline dock (View → Timeline): the step timeline over the strength view, Generate →
    Branch from this step (Ctrl+B). Both draw on the overlay (the newest frame wins), and hiding
    the dock gives the canvas back to the result."""
    timeline = TimelinePanel(controller, overlay, document)
    forward_view = ForwardViewPanel(document, overlay, params, worker, controller)
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(timeline)
    layout.addWidget(forward_view)
    layout.addStretch(1)
    dock = window.add_bottom_dock("Timeline", box, "timelineDock")
    for overlay in (timeline, forward_view):
        dock.toggleViewAction().toggled.connect(overlay.set_in_view)
    branch = window.add_menu_action("&Generate", "&Branch from this step", timeline.branch, ["Ctrl+B"],
                                    tip="Continue the last result from the timeline's step with the panel's "
                                        "prompt and seed")
    branch.setEnabled(False)
    timeline.branch_available.connect(branch.setEnabled)
    forward_view.strength_chosen.connect(panel.strength_spin.setValue)
    forward_view.message.connect(window.show_message)
    return timeline, forward_view


def _add_teaching(window: MainWindow, worker: WorkerClient, params, lora_panel: LoraPanel) -> TrainingSession:
    """File → Teach the model… (Ctrl+Shift+T): a LoRA from the user's photos; a finished one
    joins the LoRA list. The dialog is made on first use and kept (it shows the run)."""
    training = TrainingSession(worker, params)
    training.finished.connect(lora_panel.add)
    training.message.connect(window.show_message)
    # The status bar shows the run with the dialog closed, too.
    training.progress.connect(lambda step, total, _loss, eta: window.busy_indicator.start(
        "teach", f"Teaching the model: step {step}/{total}, {format_eta(eta)} left"))
    training.state_changed.connect(lambda state: None if state == "running" else window.busy_indicator.stop("teach"))

    def open_dialog() -> None:
        from gui.dialogs.teach_dialog import TeachDialog

        if getattr(window, "teach_dialog", None) is None:
            window.teach_dialog = TeachDialog(training, window)
        window.teach_dialog.show()
        window.teach_dialog.raise_()

    window.add_menu_action("&File", "&Teach the model…", open_dialog, ["Ctrl+Shift+T"],
                           tip="Teach the model a person, place or style from your photos (a LoRA)")
    return training


def _add_server_choice(device_panel: DevicePanel, settings: Settings, worker: WorkerClient) -> ServerConnection:
    """Run on: this computer or a Kiln server — the Device panel bound to the connection."""
    server = ServerConnection(settings, worker, device_panel)
    device_panel.set_server(server.on, server.url, server.token)
    device_panel.server_changed.connect(server.apply)
    server.status_changed.connect(device_panel.show_server_status)
    server.start()
    return server


def _set_device(settings: Settings, worker: WorkerClient, precision: str, memory_mode: str) -> None:
    settings.save_device_choices(precision, memory_mode)
    worker.configure(precision, memory_mode)


def _leave_text_box(window: MainWindow) -> None:
    """A finished result waits for Enter: if the prompt box has the keyboard (the user typed, then
    pressed Ctrl+Enter), Enter would add a line there instead, so the canvas takes the keyboard."""
    from PySide6.QtWidgets import QApplication, QLineEdit, QPlainTextEdit, QTextEdit

    if isinstance(QApplication.focusWidget(), (QPlainTextEdit, QTextEdit, QLineEdit)):
        window.canvas.setFocus()


def _open_models(window: MainWindow, settings: Settings, panel: GenerationPanel) -> None:
    """The Models dialog; a chosen model goes into the Model box. Imported on first use: the
    hub client it needs takes about a second to import."""
    from gui.dialogs.model_manager_dialog import ModelManagerDialog

    dialog = ModelManagerDialog(settings, parent=window)
    dialog.model_chosen.connect(panel.model_combo.setEditText)
    dialog.exec()
    panel.params.fill_model = settings.restoration_choice("fill")  # it may have been chosen there


def _reuse_parameters(panel: GenerationPanel, found: dict) -> None:
    """Copy parameters read from a PNG into the panel (the model only if the name matches a file)."""
    params = panel.params
    for name in ("prompt", "negative_prompt", "steps", "guidance", "strength", "scheduler", "width_px", "height_px"):
        if name in found:
            setattr(params, name, found[name])
    if "seed" in found:
        params.seed, params.random_seed = found["seed"], False


def run_app(image: str | None = None, model: str | None = None, settings_path: str | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Kiln")
    app.setOrganizationName("Kiln")
    app.setWindowIcon(QIcon(str(resources_dir() / "icons" / "kiln.png")))
    editor = build_editor(Settings(settings_path))
    if model:
        editor.panel.model_combo.setEditText(model)
    editor.window.show()
    if not offer_recovery(editor) and image:
        editor.files.open_path(image)
    arm_startup_probe(app, editor.window)
    return app.exec()
