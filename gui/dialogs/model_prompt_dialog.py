"""Asking for a model when Generate has none: the explanation and the file or folder choice."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

NO_MODEL_TEXT = (
    "Kiln needs a diffusion model to generate.\n\n"
    "• Type a Hugging Face hub id in the Model box, e.g. stable-diffusion-v1-5/stable-diffusion-inpainting "
    "for photo restoration: it is downloaded once into the Hugging Face cache.\n"
    "• Or choose a local diffusers folder or a .safetensors checkpoint you downloaded.\n"
    "• To try Kiln without a download, build a tiny test model: python main.py make-test-model tiny-model"
)


def ask_for_model(parent: QWidget, use) -> None:
    """Explain what a model is and offer to choose one; ``use(path)`` gets the choice."""
    box = QMessageBox(QMessageBox.Icon.Information, "Choose a model", NO_MODEL_TEXT, parent=parent)
    file_button = box.addButton("Choose a .safetensors file…", QMessageBox.ButtonRole.AcceptRole)
    folder_button = box.addButton("Choose a folder…", QMessageBox.ButtonRole.AcceptRole)
    box.addButton(QMessageBox.StandardButton.Close)
    box.exec()
    if box.clickedButton() in (file_button, folder_button):
        ask_for_model_file(parent, "file" if box.clickedButton() is file_button else "folder", use)


def ask_for_model_file(parent: QWidget, kind: str, use) -> None:
    """A file dialog for a checkpoint (``kind`` "file") or a diffusers folder; ``use(path)``."""
    if kind == "folder":
        path = QFileDialog.getExistingDirectory(parent, "Choose a diffusers model folder")
    else:
        path, _ = QFileDialog.getOpenFileName(parent, "Choose a checkpoint", "", "Checkpoints (*.safetensors);;All files (*)")
    if path:
        use(path)
