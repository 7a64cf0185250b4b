"""The main window: layout, menus and shortcuts. Each action calls one method of the object
that owns the behaviour (document, canvas, controller, file, paint, live and outpaint actions)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QSlider,
    QPushButton,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from gui.panels.busy_indicator import BusyIndicator
from gui.session.compare import BeforeAfter
from gui.dialogs.model_prompt_dialog import ask_for_model, ask_for_model_file

class MainWindow(QMainWindow):
    """Signals ``closing`` before the window closes (the app stops the worker then)."""

    closing = Signal()

    def __init__(self, document, canvas, panel, history, controller, files, restore_panel, restore,
                 paint_panel, live, outpaint):
        super().__init__()
        self.document, self.canvas, self.panel = document, canvas, panel
        self.restore_panel, self.restore = restore_panel, restore
        self.paint_panel, self.live, self.outpaint = paint_panel, live, outpaint
        self.history, self.controller, self.files = history, controller, files
        self.save_project = None  # () -> bool, offered when quitting with unsaved changes (gui.app)
        self.background_work = []  # () -> object: each waits for work to finish before the window closes
        self.compare = BeforeAfter(document, controller, canvas.overlay, self)
        self.setWindowTitle("Kiln")
        self.setAcceptDrops(True)
        self.resize(1280, 860)
        self._build_layout()
        self._build_actions()
        self._wire()
        self._update_title()

    # --- layout -------------------------------------------------------------------------

    def _build_layout(self) -> None:
        self.setCentralWidget(self.canvas)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.restore_panel)
        side_layout.addWidget(self.paint_panel)
        side_layout.addWidget(self.panel, 1)
        self._side_layout = side_layout
        scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(side)  # small screens: the panels scroll instead of being squeezed
        self._side_scroll = scroll
        self._fit_side_width()
        dock_body = QWidget()
        dock_layout = QVBoxLayout(dock_body)
        dock_layout.setContentsMargins(0, 0, 0, 0)
        dock_layout.addWidget(scroll, 1)
        dock_layout.addWidget(self.panel.action_bar)  # Generate stays in sight below the scrolling panels
        panel_dock = QDockWidget("Restore, paint and generate", self, objectName="generateDock")
        panel_dock.setWidget(dock_body)
        panel_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, panel_dock)
        history_dock = QDockWidget("History", self, objectName="historyDock")
        history_dock.setWidget(self.history)
        history_dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, history_dock)

        self.progress_bar = QProgressBar(maximumWidth=220, textVisible=False)
        self.progress_label = QLabel()
        self.zoom_label = QLabel("100%")
        self.brush_label = QLabel()
        self.busy_indicator = BusyIndicator()  # saving, detecting: work that runs in the background
        bar = self.statusBar()
        bar.addPermanentWidget(self.busy_indicator)
        bar.addPermanentWidget(self.brush_label)
        bar.addPermanentWidget(self.zoom_label)
        bar.addPermanentWidget(self.progress_label)
        bar.addPermanentWidget(self.progress_bar)

        self.result_bar = QToolBar("Result", objectName="resultBar")
        self.accept_button = QPushButton("Accept (Enter)")
        self.discard_button = QPushButton("Discard")
        self.compare_button = QPushButton("Before / After (\\)", checkable=True)
        for button in (self.accept_button, self.discard_button, self.compare_button):
            self.result_bar.addWidget(button)
        self.split_slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100, value=100)
        self.split_slider.setFixedWidth(220)
        self.split_slider.setToolTip("Drag to compare: the result on the left, the original on the right")
        self.result_bar.addWidget(QLabel("  Split: result ◀"))
        self.result_bar.addWidget(self.split_slider)
        self.result_bar.addWidget(QLabel("▶ original"))
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, self.result_bar)
        self._show_result_bar(False)

    def add_side_panel(self, widget: QWidget) -> None:
        """Add ``widget`` below the generation panel in the side dock."""
        self._side_layout.addWidget(widget)
        self._fit_side_width()

    def _fit_side_width(self) -> None:
        # Wide enough for the panels and the scroll bar: nothing is cut off on the right.
        scroll = self._side_scroll
        scroll.setMinimumWidth(scroll.widget().sizeHint().width() + scroll.verticalScrollBar().sizeHint().width() + 4)

    def add_menu_action(self, menu_title: str, text: str, slot, shortcuts=(), tip: str = "",
                        before: QAction | None = None) -> QAction:
        """An action in the menu titled ``menu_title`` (e.g. "&File"), created if missing; placed
        before the action ``before`` when given, else last (in the File menu: above Quit)."""
        menu = next((a.menu() for a in self.menuBar().actions() if a.text() == menu_title), None)
        menu = menu or self.menuBar().addMenu(menu_title)
        action = self._action(menu, text, slot, shortcuts, tip=tip)
        before = before or (self._file_tail if menu_title == "&File" else None)
        if before is not None:
            menu.removeAction(action)
            menu.insertAction(before, action)
        return action

    def add_bottom_dock(self, title: str, widget: QWidget, object_name: str) -> QDockWidget:
        """A closable dock holding ``widget`` below the canvas, beside the history; the View menu
        gets its show/hide entry (named ``title``)."""
        dock = QDockWidget(title, self, objectName=object_name)
        dock.setWidget(widget)
        features = QDockWidget.DockWidgetFeature
        dock.setFeatures(features.DockWidgetMovable | features.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        history = self.findChild(QDockWidget, "historyDock")
        self.splitDockWidget(history, dock, Qt.Orientation.Horizontal)
        self.resizeDocks([history, dock], [3, 2], Qt.Orientation.Horizontal)  # thumbnails want the room
        view = next(a.menu() for a in self.menuBar().actions() if a.text() == "&View")
        view.addAction(dock.toggleViewAction())
        return dock

    def _action(self, menu, text: str, slot, shortcuts=(), checkable: bool = False, tip: str = "") -> QAction:
        action = QAction(text, self, checkable=checkable)
        if shortcuts:
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)  # shortcuts work wherever the focus is
        return action

    def _build_actions(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&New blank canvas…", self._new_blank, ["Ctrl+N"])
        self._action(file, "&Open…", self.files.open_dialog, [QKeySequence.StandardKey.Open])
        self.export_action = self._action(file, "Save &As / Export…", self.files.save_as_dialog, ["Ctrl+Shift+S"],
                                          tip="Write the picture as shown to an image file")
        self._action(file, "Also write a changed-pixels &map", self._set_export_changes, checkable=True)
        self._file_tail = file.addSeparator()  # actions added later go above it: Quit stays last
        self._action(file, "&Quit", self.close, [QKeySequence.StandardKey.Quit])

        edit = bar.addMenu("&Edit")
        undo = self.document.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence("Ctrl+Z"))
        redo = self.document.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for action in (undo, redo):
            edit.addAction(action)
            self.addAction(action)
        undo.triggered.connect(self._say_undone)  # after the stack's own slot: the step is undone
        redo.triggered.connect(self._say_redone)

        mask = bar.addMenu("&Mask")
        self._action(mask, "&Detect damage", self.restore.request_detection, ["Ctrl+D"])
        self._action(mask, "&Heal (no model)", self.restore.request_heal, ["Ctrl+H"])
        mask.addSeparator()
        self._action(mask, "&Grow", self.restore.grow, ["Ctrl+Alt+="])
        self._action(mask, "&Shrink", self.restore.shrink, ["Ctrl+Alt+-"])
        self._action(mask, "&Feather", self.restore.feather, ["Ctrl+Alt+F"])
        self._action(mask, "&Clear", self.document.clear_mask, ["Ctrl+Shift+D"])
        self._action(mask, "&Invert", self.document.invert_mask, ["Ctrl+I"])

        view = bar.addMenu("&View")
        self._action(view, "Zoom &in", self.canvas.zoom_in, ["Ctrl+=", "Ctrl++"])
        self._action(view, "Zoom &out", self.canvas.zoom_out, ["Ctrl+-"])
        self._action(view, "&Fit to window", self.canvas.fit, ["Ctrl+0"])

        image = bar.addMenu("&Image")
        self._action(image, "&Extend canvas…", self.outpaint.extend_dialog, ["Ctrl+Alt+C"],
                     tip="Add room on any side; Generate fills it to match the picture")
        for side, key in (("left", "Left"), ("right", "Right"), ("top", "Up"), ("bottom", "Down")):
            self._action(image, f"Extend {side} by 25%", lambda _=False, s=side: self.outpaint.extend_side(s),
                         [f"Ctrl+Alt+{key}"])
        self._action(image, "Colou&rise", lambda: self.controller.colorize(), ["Ctrl+Shift+K"],
                     tip="The model's colours (prompt, strength, seed; paint hints) on the photo's own tones")

        tools = bar.addMenu("&Tools")
        self._action(tools, "&Brush (paint the mask)", lambda: self.canvas.set_tool("brush"), ["B"])
        self._action(tools, "&Eraser", lambda: self.canvas.set_tool("eraser"), ["E"])
        self._action(tools, "&Paint brush (colour)", lambda: self.canvas.set_tool("paint"), ["P"])
        self._action(tools, "Paint eraser", lambda: self.canvas.set_tool("paint eraser"), ["Shift+P"])
        self._action(tools, "&Fill with colour", lambda: self.canvas.set_tool("fill"), ["G"])
        self._action(tools, "Bigger brush", self.canvas.grow_brush, ["]"])
        self._action(tools, "Smaller brush", self.canvas.shrink_brush, ["["])

        paint = bar.addMenu("&Paint")
        self._action(paint, "Paint &colour…", self.paint_panel.choose_color, ["C"])
        self.paint_visible_action = self._action(paint, "&Show paint layer", self.paint_panel.set_paint_visible,
                                                 ["Shift+H"], checkable=True)
        self._action(paint, "&Clear paint", self.paint_panel.clear_paint, ["Ctrl+Shift+P"])
        self._action(paint, "&Merge paint into the picture", self.paint_panel.merge_paint, ["Ctrl+M"])

        generate = bar.addMenu("&Generate")
        self.generate_action = self._action(generate, "&Generate", self.controller.generate, ["Ctrl+Return", "Ctrl+Enter"])
        self.cancel_action = self._action(generate, "&Stop", self.controller.cancel, ["Esc"])
        generate.addSeparator()
        self.accept_action = self._action(generate, "&Accept result", self.controller.accept, ["Return", "Enter"])
        self._action(generate, "&Discard result", self.controller.discard, ["Backspace"])
        self.compare_action = self._action(generate, "&Before / after", self._toggle_compare, ["\\"], checkable=True)
        self._action(generate, "Reuse this result's &seed", self._reuse_seed, ["Ctrl+R"])
        generate.addSeparator()
        self.live_action = self._action(generate, "&Live mode", self.live.set_enabled, ["Ctrl+L"], checkable=True,
                                        tip="Regenerate after every stroke")
        self.fast_action = self._action(generate, "&Fast settings (Turbo / LCM)", self.panel.set_fast,
                                        ["Ctrl+Shift+L"], checkable=True, tip="4 steps, guidance 1, LCM sampler")

    # --- wiring -------------------------------------------------------------------------

    def _wire(self) -> None:
        c = self.controller
        c.busy_changed.connect(self.panel.set_busy)
        c.progress.connect(self._show_progress)
        c.message.connect(self.show_message)
        c.error.connect(self.show_error)
        c.model_needed.connect(self.ask_for_model)
        c.mode_changed.connect(self.panel.set_mode)
        c.result_shown.connect(self._show_result_bar)
        for source in (self.files, self.restore, self.paint_panel, self.live, self.outpaint):
            source.message.connect(self.show_message)
        self.files.saved.connect(self._update_title)
        self.panel.generate_requested.connect(c.generate)
        self.panel.cancel_requested.connect(c.cancel)
        self.panel.browse_model_requested.connect(self.ask_for_model_file)
        self.panel.live_toggled.connect(self.live.set_enabled)
        self.panel.fast_changed.connect(self.fast_action.setChecked)
        self.live.enabled_changed.connect(self.live_action.setChecked)
        self.live.enabled_changed.connect(self.panel.set_live)
        self.document.paint_visibility_changed.connect(self.paint_visible_action.setChecked)
        self.document.replaced.connect(self._show_paint_visible)
        self.accept_button.clicked.connect(c.accept)
        self.discard_button.clicked.connect(c.discard)
        self.compare_button.toggled.connect(self._set_compare)
        self.compare.available.connect(self._show_compare_available)
        self.compare.ended.connect(lambda: self.compare_button.setChecked(False))
        self.compare.message.connect(self.show_message)
        self.restore.busy_changed.connect(
            lambda busy: self.busy_indicator.start("restore", self.restore.activity) if busy
            else self.busy_indicator.stop("restore"))
        self.split_slider.valueChanged.connect(self._set_split)
        self.canvas.zoom_changed.connect(self._show_zoom)
        self.canvas.brush_size_changed.connect(self._show_brush)
        self.canvas.tool_changed.connect(self._show_brush)
        self.canvas.paint_opacity_changed.connect(self._show_brush)
        self.document.replaced.connect(self._update_title)
        self.document.undo_stack.cleanChanged.connect(self._update_title)
        self._show_brush()
        self._show_paint_visible()
        self.compare.refresh()

    def show_message(self, text: str) -> None:
        self.statusBar().showMessage(text, 8000)

    def show_error(self, text: str) -> None:
        QMessageBox.warning(self, "Kiln", text)

    def _show_zoom(self, zoom: float) -> None:
        self.zoom_label.setText(f"{zoom * 100:.0f}%")

    def _show_progress(self, step: int, total: int, text: str) -> None:
        self.progress_bar.setRange(0, max(total, 1) if total else 0)  # 0..0 = busy indicator
        self.progress_bar.setValue(step)
        self.progress_label.setText(text)

    def _show_brush(self, *_args) -> None:
        tool, canvas = self.canvas.tool, self.canvas
        size = "" if tool == "fill" else f" {canvas.brush_size_px} px"
        opacity = f" · {canvas.paint_opacity:.0%}" if tool in ("paint", "paint eraser", "fill") else ""
        self.brush_label.setText(f"{tool.capitalize()}{size}{opacity}")

    def _show_paint_visible(self) -> None:
        self.paint_visible_action.setChecked(self.document.paint_visible)

    def _show_result_bar(self, shown: bool) -> None:
        # Always visible, enabled only with a result: the canvas must not jump when one arrives.
        # Before / After also compares changes without a result: gui.session.compare enables it.
        for widget in (self.accept_button, self.discard_button, self.split_slider):
            widget.setEnabled(shown)
        self.split_slider.setValue(100)
        self.compare_button.setChecked(False)

    def _show_compare_available(self, enabled: bool, reason: str) -> None:
        self.compare_button.setEnabled(enabled)  # the \ key stays on: it says why it cannot compare
        self.compare_button.setToolTip(reason)
        if not enabled:
            self.compare_button.setChecked(False)

    def _toggle_compare(self) -> None:
        if self.compare_button.isEnabled():
            self.compare_button.toggle()
        else:
            self.show_message(self.compare_button.toolTip())

    def _set_compare(self, before: bool) -> None:
        self.compare_button.setText("Showing before (\\)" if before else "Before / After (\\)")
        self.compare.set_before(before)

    def _say_undone(self) -> None:
        stack = self.document.undo_stack
        if stack.index() < stack.count():
            self.show_message(f"Undid “{stack.command(stack.index()).text()}”. Redo with Ctrl+Shift+Z.")

    def _say_redone(self) -> None:
        stack = self.document.undo_stack
        if stack.index() > 0:
            self.show_message(f"Redid “{stack.command(stack.index() - 1).text()}”.")

    def show_busy_save(self, text: str) -> None:
        """The status bar's busy indicator for a background save ("" when it ended)."""
        if text:
            self.busy_indicator.start("save", text)
        else:
            self.busy_indicator.stop("save")

    def _set_export_changes(self, checked: bool) -> None:
        self.files.export_changes_map = checked

    def _set_split(self, value: int) -> None:
        self.controller.set_split(value / 100)

    def _reuse_seed(self) -> None:
        entry = self.history.current_entry()
        if entry is not None:
            self.panel.use_seed(entry.seed)
            self.statusBar().showMessage(f"Seed locked to {entry.seed}", 5000)

    def _new_blank(self) -> None:
        size = self.files.new_blank_dialog(self.panel.params.width_px, self.panel.params.height_px)
        if size:
            self.panel.params.width_px, self.panel.params.height_px = size

    def _update_title(self, *_args) -> None:
        doc = self.document
        name = doc.project_path or doc.path or ("Untitled" if doc.is_blank else "Picture")
        self.setWindowTitle(f"{'*' if doc.dirty else ''}{name} — Kiln")

    def ask_for_model(self) -> None:
        ask_for_model(self, self.panel.model_combo.setEditText)

    def ask_for_model_file(self, kind: str) -> None:
        ask_for_model_file(self, kind, self.panel.model_combo.setEditText)

    # --- Qt overrides -------------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:  # noqa: N802 (Qt override)
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        urls = [u for u in event.mimeData().urls() if u.isLocalFile()]
        if urls:
            event.acceptProposedAction()
            self.files.open_path(urls[0].toLocalFile())

    def closeEvent(self, event) -> None:  # noqa: N802
        self.setEnabled(False)  # no new edits while a save finishes: it would leave them unsaved
        for wait in self.background_work:
            wait()
        self.setEnabled(True)
        if self.document.dirty:
            buttons = QMessageBox.StandardButton
            answer = QMessageBox.question(
                self, "Quit Kiln?", "The picture has changes that are not saved. Save them as a project first?",
                buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save,
            )
            saved = answer == buttons.Save and self.save_project is not None and self.save_project()
            if answer == buttons.Cancel or (answer == buttons.Save and not saved):
                event.ignore()
                return
        self.closing.emit()
        event.accept()
