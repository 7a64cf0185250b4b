"""The canvas side of ``gui.session.overlay.CanvasOverlay``: draws what the overlay shows.

A frame is uploaded once (frames compare by identity); moving the split compare only moves the
clip, and a frame that goes leaves the picture, or the result underneath, without a re-upload of
anything but what is shown next.
"""

from __future__ import annotations

from gui.session.overlay import CanvasOverlay, Frame


class OverlayView:
    """Keeps ``canvas``'s preview layer equal to ``overlay.shown()`` and ``overlay.split``."""

    def __init__(self, canvas, overlay: CanvasOverlay) -> None:
        self._canvas, self._overlay = canvas, overlay
        self._drawn: Frame | None = None
        overlay.changed.connect(self.render)

    def render(self) -> None:
        canvas, shown = self._canvas, self._overlay.shown()
        if shown is None:
            if self._drawn is not None or canvas.preview_visible:
                canvas.clear_preview()
            self._drawn = None
            return
        if shown is not self._drawn:
            canvas.set_split(None)
            canvas.show_preview(shown.rgb, shown.target)
            self._drawn = shown
        canvas.set_split(self._overlay.split)

    def forget(self) -> None:
        """The canvas cleared its previews itself (another picture): draw from scratch next."""
        self._drawn = None
