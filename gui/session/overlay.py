"""What is drawn over the picture on the canvas: one owner, one rule.

Writers set a frame of their kind; the canvas (``gui.canvas.overlay_view``) draws what
``shown()`` says; nobody else draws over the picture. The kinds:

  * ``RESULT`` — a finished result, not yet applied (with its split compare and its before/after
    toggle). It stays underneath until it is accepted, discarded or another is picked.
  * ``STEP`` (a running job's step preview), ``TIMELINE`` (a scrubbed step of the last job),
    ``STRENGTH`` (the strength view), ``BEFORE`` (the picture before its last change) — the
    transient frames.

The rule: at most one transient frame exists, and the newest wins — setting one withdraws the
other (``withdrawn(kind)`` tells its writer, which resets its slider). A transient frame is drawn
instead of the result, which waits underneath; without one the result is drawn (unless hidden:
"before"); without either, the picture itself. A result that is set or cleared withdraws the transient frame: picking, accepting
or discarding a result gives the canvas to that decision.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QObject, QRect, Signal


class Layer(enum.Enum):
    RESULT = "result"
    STEP = "step"
    TIMELINE = "timeline"
    STRENGTH = "strength"
    BEFORE = "before"


TRANSIENT = (Layer.STEP, Layer.TIMELINE, Layer.STRENGTH, Layer.BEFORE)


@dataclass(frozen=True, eq=False)
class Frame:
    """Pixels over the picture: h×w×3 or h×w×4 uint8 drawn into ``target`` (image px; empty: the
    whole picture). Compared by identity: the canvas uploads a frame once."""

    layer: Layer
    rgb: np.ndarray = field(repr=False)
    target: QRect


class CanvasOverlay(QObject):
    """The overlay state. Signals ``changed()`` (what ``shown()`` returns, or the split, may have
    changed) and ``withdrawn(Layer)`` (a transient frame went because another took its place or
    the result changed — not when its own writer cleared it)."""

    changed = Signal()
    withdrawn = Signal(object)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._result: Frame | None = None
        self._transient: Frame | None = None
        self._result_hidden = False
        self._split: float | None = None

    # --- reading ------------------------------------------------------------------------

    def shown(self) -> Frame | None:
        """The frame drawn now (None: the picture itself)."""
        if self._transient is not None:
            return self._transient
        return None if self._result_hidden else self._result

    @property
    def split(self) -> float | None:
        """The split compare of the shown result: the fraction of the width it covers (None: all)."""
        shown = self.shown()
        return self._split if shown is not None and shown.layer is Layer.RESULT else None

    def has(self, layer: Layer) -> bool:
        frame = self._result if layer is Layer.RESULT else self._transient
        return frame is not None and frame.layer is layer

    # --- writing ------------------------------------------------------------------------

    def set(self, layer: Layer, rgb: np.ndarray, target: QRect | None = None) -> None:
        """Show ``rgb`` as ``layer``'s frame (the result, or the transient frame: newest wins)."""
        frame = Frame(layer, rgb, QRect(target) if target is not None else QRect())
        if layer is Layer.RESULT:
            self._result, self._result_hidden = frame, False
            self._withdraw_transient()
        else:
            if self._transient is not None and self._transient.layer is not layer:
                self._withdraw_transient()
            self._transient = frame
        self.changed.emit()

    def clear(self, layer: Layer) -> None:
        """Take ``layer``'s frame away (what is underneath shows again)."""
        if layer is Layer.RESULT:
            if self._result is None:
                return
            self._result, self._result_hidden, self._split = None, False, None
            self._withdraw_transient()
        elif self._transient is not None and self._transient.layer is layer:
            self._transient = None
        else:
            return
        self.changed.emit()

    def clear_all(self) -> None:
        """Nothing over the picture (another picture was opened)."""
        had = self._result is not None or self._transient is not None
        self._result, self._result_hidden, self._split = None, False, None
        self._withdraw_transient()
        if had:
            self.changed.emit()

    def set_result_hidden(self, hidden: bool) -> None:
        """Before/after of the result: hide it (the picture shows) or show it again."""
        if self._result is not None and hidden != self._result_hidden:
            self._result_hidden = hidden
            self.changed.emit()

    def set_split(self, fraction: float | None) -> None:
        """Show the result only left of ``fraction`` × the width (None or ≥ 1: all of it)."""
        if self._result is None:
            return
        self._split = None if fraction is None or fraction >= 1.0 else min(max(float(fraction), 0.0), 1.0)
        self.changed.emit()

    def _withdraw_transient(self) -> None:
        frame, self._transient = self._transient, None
        if frame is not None:
            self.withdrawn.emit(frame.layer)
