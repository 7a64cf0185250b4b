"""The one owner of what is drawn over the canvas: a result, a timeline step and the strength view
in any order leave the canvas showing the newest; taking a frame away shows what is underneath;
accept and discard give the picture back. Checked on the pixels the real canvas shows."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PySide6.QtCore import QRect

from gui.session.document import Document
from gui.session.overlay import CanvasOverlay, Layer
from pointer import screen_rgb, shown_canvas

PICTURE = (90, 90, 90)
COLORS = {Layer.RESULT: (200, 40, 40), Layer.TIMELINE: (40, 200, 40), Layer.STRENGTH: (40, 40, 200),
          Layer.STEP: (220, 220, 30), Layer.BEFORE: (30, 220, 220)}


@pytest.fixture
def canvas(qtbot):
    document = Document()
    document.load(np.full((60, 80, 3), PICTURE, np.uint8))
    return shown_canvas(qtbot, document)


def flat(layer):
    return np.full((30, 40, 3), COLORS[layer], np.uint8)


def center_color(view):
    rect = view.viewport().rect()
    return screen_rgb(view, (rect.width() / 2, rect.height() / 2))


def close(a, b):
    return max(abs(x - y) for x, y in zip(a, b)) <= 3


@pytest.mark.parametrize("order", list(itertools.permutations([Layer.RESULT, Layer.TIMELINE, Layer.STRENGTH])))
def test_in_any_order_the_newest_frame_shows_and_taking_it_away_shows_what_is_under_it(canvas, order):
    overlay = canvas.overlay
    withdrawn = []
    overlay.withdrawn.connect(withdrawn.append)
    for layer in order:
        overlay.set(layer, flat(layer))
        assert close(center_color(canvas), COLORS[layer]), (order, layer)
    # The result withdraws the transient frame set before it; a transient frame withdraws the other.
    last = order[-1]
    assert overlay.shown().layer is last
    if last is not Layer.RESULT:
        overlay.clear(last)  # its writer leaves (slider back to the end or to 0): the result is under it
        assert close(center_color(canvas), COLORS[Layer.RESULT])
    # Every step or strength frame something newer replaced was told so, in order; nothing else was.
    assert withdrawn == [layer for layer in order[:-1] if layer is not Layer.RESULT]
    overlay.clear(Layer.RESULT)  # accepted or discarded
    assert overlay.shown() is None and not canvas.preview_visible
    assert close(center_color(canvas), PICTURE)


def test_a_result_hidden_for_before_and_split_apply_to_the_result_only(canvas):
    overlay = canvas.overlay
    overlay.set(Layer.RESULT, flat(Layer.RESULT))
    overlay.set_split(0.5)
    width = canvas.viewport().width()
    left, right = canvas.mapFromScene(10, 30), canvas.mapFromScene(70, 30)
    assert close(screen_rgb(canvas, (left.x(), left.y())), COLORS[Layer.RESULT])
    assert close(screen_rgb(canvas, (right.x(), right.y())), PICTURE) and right.x() < width
    overlay.set(Layer.TIMELINE, flat(Layer.TIMELINE))  # a step over the result is drawn whole
    assert overlay.split is None and close(screen_rgb(canvas, (right.x(), right.y())), COLORS[Layer.TIMELINE])
    overlay.clear(Layer.TIMELINE)
    assert overlay.split == 0.5 and close(screen_rgb(canvas, (right.x(), right.y())), PICTURE)
    overlay.set_result_hidden(True)
    assert close(screen_rgb(canvas, (left.x(), left.y())), PICTURE)
    overlay.set_result_hidden(False)
    assert close(screen_rgb(canvas, (left.x(), left.y())), COLORS[Layer.RESULT])


def test_moving_the_split_uploads_nothing_and_an_unchanged_frame_is_not_uploaded_again(canvas, monkeypatch):
    uploads = []
    show = canvas.show_preview
    monkeypatch.setattr(canvas, "show_preview", lambda rgb, rect: (uploads.append(rgb.shape), show(rgb, rect)))
    overlay = canvas.overlay
    overlay.set(Layer.RESULT, flat(Layer.RESULT))
    for fraction in (0.2, 0.4, 0.9, None):
        overlay.set_split(fraction)
    assert len(uploads) == 1
    overlay.set(Layer.STEP, flat(Layer.STEP), QRect(0, 0, 40, 30))  # a step preview in place: its box only
    assert close(screen_rgb(canvas, tuple(canvas.mapFromScene(5, 5).toTuple())), COLORS[Layer.STEP])
    # One frame at a time: the result waits underneath, it is not drawn around the step's box.
    assert close(screen_rgb(canvas, tuple(canvas.mapFromScene(70, 50).toTuple())), PICTURE)
    assert len(uploads) == 2


def test_writers_hear_only_about_their_own_frame_going():
    overlay = CanvasOverlay()
    withdrawn = []
    overlay.withdrawn.connect(withdrawn.append)
    overlay.set(Layer.TIMELINE, flat(Layer.TIMELINE))
    overlay.clear(Layer.STRENGTH)  # not shown: nothing happens
    assert overlay.shown().layer is Layer.TIMELINE and withdrawn == []
    overlay.clear(Layer.TIMELINE)  # its own writer cleared it: no news to anyone
    assert withdrawn == [] and overlay.shown() is None
    overlay.set(Layer.BEFORE, flat(Layer.BEFORE))
    overlay.set(Layer.STEP, flat(Layer.STEP))  # a job's first step takes the canvas
    assert withdrawn == [Layer.BEFORE]
    overlay.clear_all()
    assert withdrawn == [Layer.BEFORE, Layer.STEP] and overlay.shown() is None
