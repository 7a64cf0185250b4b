"""Starting the editor: the QApplication, the main window, the command-line image and model."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication, QLabel, QMainWindow


def run_app(image: str | None = None, model: str | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Kiln")
    app.setOrganizationName("Kiln")
    window = QMainWindow()
    window.setWindowTitle("Kiln")
    window.setCentralWidget(QLabel("Kiln"))
    window.resize(1200, 800)
    window.show()
    return app.exec()
