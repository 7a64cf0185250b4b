"""Faces in the editor: Image → Faces (the face box tool, F; Find faces, Shift+F; Delete face box;
Restore faces; the face pass) and the Faces panel, wired to the window. The state lives in ``gui.session.face_boxes``
and ``gui.session.face_restore``; the pointer in ``gui.canvas.face_box_tool``."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QBoxLayout

from gui.canvas.face_box_tool import FaceBoxTool
from gui.panels.faces_panel import FacesPanel
from gui.session.face_boxes import FaceBoxes, face_boxes_of
from gui.session.face_finding import FaceFinding
from gui.session.face_restore import FaceRestoration

TOOL_TIP = ("Face box tool: drag over a face to box it; drag a box to move it, its edge to resize it. "
            "Delete removes the selected box; F leaves the tool.")
STATUS_TIP = "Face box tool: drag over a face; Delete removes; F leaves"  # fits the status bar


class FaceActions(QObject):
    """The faces of one editor: ``boxes`` (the model), ``faces`` (Restore faces, the face pass),
    ``finding`` (Find faces), ``tool`` (on the canvas), ``panel`` and the menu ``actions`` by name."""

    def __init__(self, boxes: FaceBoxes, faces: FaceRestoration, finding: FaceFinding, tool: FaceBoxTool,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.boxes, self.faces, self.finding, self.tool = boxes, faces, finding, tool
        self.panel: FacesPanel | None = None
        self.actions: dict[str, QAction] = {}

    def toggle_tool(self, on: bool | None = None) -> None:
        self.tool.set_active(not self.tool.active if on is None else on)

    def delete_selected(self) -> bool:
        if self.boxes.selected is None:
            self.faces.message.emit("Select a face box first: click it with the face box tool (F).")
            return False
        return self.boxes.remove()


def install_faces(window, document, canvas, controller, worker, params, settings) -> FaceActions:
    """Make the faces of an editor and wire them into ``window`` (a ``MainWindow``): the Image →
    Faces menu, the Faces panel (under the Restore panel, so Restore faces is in sight without
    scrolling), messages, errors and the status bar's busy indicator, Esc and the Stop button, and
    Generate waiting while the faces are restored."""
    boxes = face_boxes_of(document)
    faces = FaceRestoration(document, boxes, canvas.overlay, worker, controller, params, settings, window)
    finding = FaceFinding(document, boxes, settings, window)
    tool = FaceBoxTool(canvas, boxes, window)
    actions = FaceActions(boxes, faces, finding, tool, window)

    # 1. Image → Faces
    image = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Image")
    menu = image.addMenu("&Faces")

    def add(name: str, text: str, slot, shortcut: str = "", tip: str = "", checkable: bool = False) -> QAction:
        action = QAction(text, window, checkable=checkable)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.setToolTip(tip or text)
        action.triggered.connect(slot)
        menu.addAction(action)
        window.addAction(action)  # the shortcut works wherever the focus is
        actions.actions[name] = action
        return action

    tool_action = add("tool", "Face box &tool", lambda checked: actions.toggle_tool(checked), "F", TOOL_TIP, True)
    tool.active_changed.connect(tool_action.setChecked)
    find = add("find", "&Find faces", finding.find, "Shift+F",
               "Propose a box around each face with the face detector chosen in File → Models… → Restoration")
    delete = add("delete", "&Delete face box", actions.delete_selected, "Delete", "Remove the selected face box")
    add("clear", "&Clear face boxes", boxes.clear, tip="Remove every face box (one undo step)")
    menu.addSeparator()
    restore = add("restore", "&Restore faces", faces.restore, tip="Restore the boxed faces with the face model")
    face_pass = add("pass", "Face &pass with the diffusion model", faces.face_pass,
                    tip="Inpaint the boxed faces at a low strength with the diffusion model")

    def follow() -> None:
        delete.setEnabled(boxes.selected is not None)  # Delete goes on to other widgets otherwise
        restore.setEnabled(not faces.busy)
        face_pass.setEnabled(not faces.busy)
        find.setEnabled(not finding.busy)

    for signal in (boxes.changed, faces.state_changed, finding.state_changed):
        signal.connect(follow)
    follow()

    # 2. Another tool leaves the face box tool.
    canvas.tool_changed.connect(lambda _name: tool.set_active(False))
    tools = next((a.menu() for a in window.menuBar().actions() if a.text() == "&Tools"), None)
    for action in tools.actions() if tools is not None else ():
        action.triggered.connect(lambda _checked=False: tool.set_active(False))
    tool.active_changed.connect(lambda on: window.show_message(STATUS_TIP if on else ""))

    # 3. The panel, right under the Restore panel.
    panel = FacesPanel(boxes, faces, finding, tool_action)
    window.add_side_panel(panel)
    layout = panel.parentWidget().layout() if panel.parentWidget() is not None else None
    if isinstance(layout, QBoxLayout) and layout.indexOf(window.restore_panel) >= 0:
        layout.removeWidget(panel)
        layout.insertWidget(layout.indexOf(window.restore_panel) + 1, panel)
    actions.panel = panel

    # 4. What it says, and Esc.
    boxes.message.connect(window.show_message)
    faces.message.connect(window.show_message)
    faces.error.connect(window.show_error)
    finding.message.connect(window.show_message)
    finding.error.connect(window.show_error)
    faces.progress.connect(lambda text: window.busy_indicator.start("faces", text) if text
                           else window.busy_indicator.stop("faces"))
    window.cancel_action.triggered.connect(faces.cancel)
    # Generate waits while the faces are restored, and the panel's Stop stops them (as for Upscale).
    window.panel.cancel_requested.connect(faces.cancel)
    faces.busy_changed.connect(lambda busy: window.panel.set_busy(busy or controller.busy))
    return actions
