"""A test picture and paint strokes on a document, shared by the paint and editor tests."""

from __future__ import annotations

import numpy as np

RED = (200, 30, 60)


def gradient(height=120, width=160):
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([xx, yy, xx + yy], axis=-1).astype(np.uint8)


def paint_stroke(document, points, color=RED, opacity=1.0, radius_px=6.0, hardness=1.0, erase=False):
    document.begin_stroke(erase=erase, layer="paint", color=color, opacity=opacity)
    document.paint_dab(*points[0], radius_px, hardness)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        document.paint_segment(x0, y0, x1, y1, radius_px, hardness)
    return document.end_stroke()


def photo_editor(make_editor, tmp_path, model_dir, steps: int):
    """An editor with a 96×64 gradient photo open and the tiny model, ``steps`` steps, seed 5 and a
    prompt set: Generate runs image-to-image on it."""
    from PIL import Image

    editor = make_editor()
    path = tmp_path / "photo.png"
    Image.fromarray(gradient(64, 96)).save(path)
    editor.files.open_path(str(path), ask_about_parameters=False)
    editor.panel.model_combo.setEditText(str(model_dir))
    editor.panel.steps_spin.setValue(steps)
    editor.panel.use_seed(5)
    editor.panel.prompt_edit.setPlainText("a farmhouse")
    return editor
