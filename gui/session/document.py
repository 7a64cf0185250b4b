"""The open picture: its pixels, its paint layer, its inpainting mask and the undo stack that
records their edits.

Every edit goes through ``Document`` and is one ``QUndoCommand``; each command stores only the
bounding box of what it changed (before and after patches), so a small stroke on a large photo
costs kilobytes, not the photo's size. Extending the canvas is the exception: it changes every
layer's size, so its command stores the layers whole. Widgets bind to the signals and hold no
state that matters. The commands live in ``gui.session.commands``, the stroke methods in
``gui.session.document_strokes`` (the mechanics in ``gui.session.strokes``), the paint layer's pixel rules in ``gui.session.paint_layer``.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, QRect, QSignalBlocker, QSize, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from gui.session.bounds import changed_bounds as _changed_bounds, read_only as _read_only, true_bounds as _true_bounds
from gui.session.commands import InvertMaskCommand, PatchCommand, ResizeCommand
from gui.session.paint_layer import FILL_TOLERANCE, alpha_bounds, composite_paint, flood_region, opacity_level, paint_over
from gui.session.document_strokes import StrokeEditing
from gui.session.strokes import rect_slices as _slices
from gui.session.undo_replay import StackMemory, announce, replay_edits, stack_commands
from gui.session.undo_store import PatchStore
from inference.core.api import MAX_IMAGE_SIDE_PX, MAX_SIDE_PX
from inference.files.deep_image import SourcePixels


class Document(QObject, StrokeEditing):
    """The open picture and its layers; owner of ``undo_stack`` (a ``QUndoStack``).

    Layers (owned by the document, changed only through its methods), all the same H×W:
      image: H×W×3 uint8 RGB.
      paint: H×W×4 uint8 straight RGBA drawn over the image (``gui.session.paint_layer``); shown and
             used for generation only while ``paint_visible``.
      mask:  H×W uint8, 0 = keep, 255 = regenerate, values between are partial (soft brush).
    The ``image``, ``paint`` and ``mask`` properties return read-only *live views*: they show
    later edits, must not be mutated (numpy raises if you try) and should be copied for a snapshot.

    Signals (rects in image px; an empty QRect means "everything"):
      replaced(): a new picture was loaded or created; sizes may have changed, undo was cleared.
      resized(): every layer changed size (extend canvas, or its undo); undo history is kept.
      image_changed(QRect), paint_changed(QRect), mask_changed(QRect): those pixels changed,
        by an edit, undo or redo.
      paint_visibility_changed(bool).

    ``dirty`` means edits since load/new/``mark_saved``; it follows the undo stack's clean
    state, so undoing back to the saved state makes the document clean again.
    Use from the GUI thread only.
    """

    replaced = Signal()
    resized = Signal()
    image_changed = Signal(QRect)
    paint_changed = Signal(QRect)
    mask_changed = Signal(QRect)
    paint_visibility_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.undo_stack = QUndoStack(self)
        # Undo memory stays bounded: past the budget the oldest patches move to disk.
        self.undo_store = PatchStore()
        self._undo_memory = StackMemory(self.undo_store)  # walks the stack only near the budget
        self.undo_stack.indexChanged.connect(self._bound_undo_memory)
        self._image = np.full((512, 512, 3), 255, np.uint8)
        self._mask = np.zeros((512, 512), np.uint8)
        self._paint = np.zeros((512, 512, 4), np.uint8)
        self._paint_visible = True
        self._source: SourcePixels | None = None
        self.path: str | None = None  # the photo as opened (never written without the user's say)
        self.project_path: str | None = None  # the .kiln file this picture is saved in
        self.is_blank = True
        # The picture the undo history starts from (as loaded or created), kept for projects,
        # autosave and the changed-pixels map: (image, mask or None, paint or None, is_blank, key).
        self._base: tuple = (self._image.copy(), None, None, True, "b0")
        self._base_count = 0
        # The active stroke (a gui.session.strokes MaskStroke or PaintStroke) and its bounds so far.
        self._stroke = None  # gui.session.strokes' MaskStroke or PaintStroke while a stroke is in progress
        self._stroke_rect = QRect()

    # -- state --------------------------------------------------------------------------------

    @property
    def image(self) -> np.ndarray:
        """H×W×3 uint8 RGB, read-only live view."""
        return _read_only(self._image)

    @property
    def mask(self) -> np.ndarray:
        """H×W uint8 (0 keep, 255 regenerate), read-only live view."""
        return _read_only(self._mask)

    @property
    def paint(self) -> np.ndarray:
        """H×W×4 uint8 straight RGBA, read-only live view (whether shown or not)."""
        return _read_only(self._paint)

    @property
    def source(self) -> SourcePixels | None:
        """The opened file's gray channel and 16-bit values (``inference.files.deep_image``) for
        exports to keep, or None (an 8-bit colour file, a blank canvas, a project)."""
        return self._source

    @property
    def width_px(self) -> int:
        return self._image.shape[1]

    @property
    def height_px(self) -> int:
        return self._image.shape[0]

    @property
    def size(self) -> QSize:
        return QSize(self.width_px, self.height_px)

    @property
    def rect(self) -> QRect:
        """The whole picture in image px: (0, 0, W, H)."""
        return QRect(0, 0, self.width_px, self.height_px)

    @property
    def dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def mark_saved(self, path: str | None = None) -> None:
        """The image was written to ``path`` (or to ``self.path``): the document becomes clean."""
        if path is not None:
            self.path = str(path)
            self.is_blank = False
        self.undo_stack.setClean()

    def has_mask(self) -> bool:
        """Whether any mask pixel is above 0."""
        return bool(self._mask.any())

    def mask_bounds(self) -> QRect:
        """Bounding box (image px) of the mask pixels above 0; an empty QRect when there are none."""
        return _true_bounds(self._mask != 0)

    @property
    def paint_visible(self) -> bool:
        return self._paint_visible

    def set_paint_visible(self, visible: bool) -> None:
        """Show or hide the paint layer (a view setting, not an undo step). A hidden layer is
        kept but left out of ``composite`` and so out of generation."""
        if bool(visible) != self._paint_visible:
            self._paint_visible = bool(visible)
            self.paint_visibility_changed.emit(self._paint_visible)

    def has_paint(self) -> bool:
        """Whether any paint pixel has alpha above 0 (shown or not). Scans the layer (~18 ms at
        24 megapixels), so call it per edit, not per pointer move."""
        # RGBA read as little-endian 32-bit words puts alpha in the top byte: one contiguous
        # max() is ~3× quicker than reducing the strided alpha channel.
        return int(self._paint.view("<u4").max(initial=0)) >= 1 << 24

    def composite(self) -> np.ndarray:
        """The picture as shown: the image with the visible paint layer laid over it
        (``gui.session.paint_layer.composite_paint``); a new H×W×3 uint8 array the caller owns."""
        return composite_paint(self._image, self._paint) if self._paint_visible else self._image.copy()

    # -- replacing the picture ----------------------------------------------------------------

    def load(self, array: np.ndarray, path: str | None = None, source: SourcePixels | None = None) -> None:
        """Make ``array`` (H×W×3 uint8 RGB; copied, the caller keeps its own) the picture, and
        ``source`` (``inference.files.image_io.load_picture_with_notes``: a 16-bit or gray file's own
        values, kept as given, never edited) what exports merge it back into.

        The mask and paint are cleared and the undo stack emptied; emits ``replaced``. Raises
        ValueError for any other shape or dtype (read files with ``inference.files.image_io.load_rgb``).
        """
        array = np.asarray(array)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
            raise ValueError(f"the image must be H×W×3 uint8 RGB, got shape {array.shape} {array.dtype}.")
        self._replace(np.array(array, copy=True, order="C"), path=None if path is None else str(path),
                      is_blank=False, source=source)

    def new_blank(self, width_px: int, height_px: int, color: tuple[int, int, int] = (255, 255, 255)) -> None:
        """A new blank picture of one ``color`` (RGB 0..255) for text-to-image; ``is_blank`` is
        True and ``path`` None until saved. Emits ``replaced``. Raises ValueError for sizes
        outside 8..MAX_SIDE_PX (what a generation accepts)."""
        if not (8 <= width_px <= MAX_SIDE_PX and 8 <= height_px <= MAX_SIDE_PX):
            raise ValueError(f"width and height must be between 8 and {MAX_SIDE_PX} px, got {width_px}×{height_px}.")
        image = np.empty((height_px, width_px, 3), np.uint8)
        image[:] = np.asarray(color, np.uint8)
        self._replace(image, path=None, is_blank=True)

    def _replace(self, image: np.ndarray, path: str | None, is_blank: bool, mask: np.ndarray | None = None,
                 paint: np.ndarray | None = None, source: SourcePixels | None = None) -> None:
        self._stroke = None  # a stroke in progress belongs to the old picture
        self.undo_stack.clear()
        self._base_count += 1
        self._base = tuple(_read_only(a.copy()) if a is not None else None for a in (image, mask, paint)) + (
            is_blank, f"b{self._base_count}")
        self._image = image
        self._mask = np.zeros(image.shape[:2], np.uint8) if mask is None else mask.copy()
        self._paint = np.zeros((*image.shape[:2], 4), np.uint8) if paint is None else paint.copy()
        self._paint_visible = True
        self._source = source
        self.path = path
        self.project_path = None
        self.is_blank = is_blank
        self.undo_stack.setClean()
        self.replaced.emit()

    @property
    def base(self) -> tuple:
        """The picture the undo history starts from, as loaded or created: (image, mask or None,
        paint or None, is_blank, key); read-only arrays, None for an empty layer; ``key`` changes
        with every new picture."""
        return self._base

    def restore(self, base: tuple, edits: list, undo_index: int, clean_index: int = -1,
                paint_visible: bool = True, path: str | None = None) -> None:
        """Make the picture ``base`` ((image, mask or None, paint or None, is_blank), as
        ``base`` returns) with ``edits`` (``inference.files.project_file.Edit``) on the undo stack,
        done up to ``undo_index``; the stack is clean at ``clean_index`` (-1: nowhere). Emits
        ``replaced`` once, at the end. Raises ValueError when the edits do not fit the picture
        (a damaged project); the document is then a blank canvas."""
        image, mask, paint, is_blank = base[:4]
        try:
            with QSignalBlocker(self), QSignalBlocker(self.undo_stack):
                self._replace(np.array(image, np.uint8, copy=True, order="C"), path, is_blank, mask, paint)
                replay_edits(self, edits, self._undo_memory)  # linear in the steps
                self.undo_stack.setIndex(undo_index)
                if 0 <= clean_index <= self.undo_stack.count():
                    self.undo_stack.setIndex(clean_index)
                    self.undo_stack.setClean()
                    self.undo_stack.setIndex(undo_index)
                else:
                    self.undo_stack.resetClean()
                self._paint_visible = bool(paint_visible)
        except (ValueError, IndexError, TypeError) as exc:
            self.new_blank(512, 512)
            raise ValueError(f"the undo history does not fit the picture ({exc})") from exc
        announce(self.undo_stack)
        self.replaced.emit()
        self.paint_visibility_changed.emit(self._paint_visible)

    def resize_layers(self, image: np.ndarray, mask: np.ndarray, paint: np.ndarray, text: str) -> None:
        """Replace all three layers with arrays of a new size (copied), as one undoable command
        that restores the old size on undo; emits ``resized``. A stroke in progress is ended
        first. Raises ValueError unless image is H×W×3, mask H×W and paint H×W×4 uint8 of one
        H×W within 8..MAX_IMAGE_SIDE_PX."""
        image, mask, paint = (np.asarray(a) for a in (image, mask, paint))
        height, width = image.shape[:2]
        shapes_ok = (image.shape == (height, width, 3) and mask.shape == (height, width)
                     and paint.shape == (height, width, 4) and image.dtype == mask.dtype == paint.dtype == np.uint8)
        if not shapes_ok or not (8 <= width <= MAX_IMAGE_SIDE_PX and 8 <= height <= MAX_IMAGE_SIDE_PX):
            raise ValueError(
                f"the new layers must be H×W×3, H×W and H×W×4 uint8 with sides of 8 to {MAX_IMAGE_SIDE_PX} px, "
                f"got {image.shape}, {mask.shape} and {paint.shape}."
            )
        if self.stroke_active:
            self.end_stroke()
        # The current arrays go to the command as they are: the document gets copies from now on.
        after = tuple(np.array(a, copy=True, order="C") for a in (image, mask, paint))
        self.undo_stack.push(ResizeCommand(self, (self._image, self._mask, self._paint), after, text))

    # -- image edits --------------------------------------------------------------------------

    def apply_image(self, new_image: np.ndarray, text: str = "Apply result") -> bool:
        """Replace the image pixels with ``new_image`` (H×W×3 uint8, the document's size; copied)
        as one undoable command that stores only the bounding box of the changed pixels.

        Returns False (and records nothing) when no pixel changes. Raises ValueError on a
        shape or dtype mismatch.
        """
        new_image = np.asarray(new_image)
        if new_image.dtype != np.uint8 or new_image.shape != self._image.shape:
            raise ValueError(
                f"the new image must be {self.width_px}×{self.height_px}×3 uint8 like the document, "
                f"got shape {new_image.shape} {new_image.dtype}."
            )
        return self._push_patch("image", self._image, new_image, text)

    # -- paint edits (strokes are below) ------------------------------------------------------

    def fill_paint(self, x_px: float, y_px: float, color: tuple[int, int, int], opacity: float = 1.0,
                   tolerance: int = FILL_TOLERANCE) -> bool:
        """Flood fill: lay ``color`` (RGB 0..255) at ``opacity`` (0..1) onto the paint layer over
        the contiguous region of the picture *as shown* around (x_px, y_px) (image px) whose
        colours lie within ``tolerance`` per channel of the clicked one
        (``gui.session.paint_layer.flood_region``). One undo step; shows the paint layer. Returns False
        (nothing recorded) outside the picture or when nothing changes."""
        region = flood_region(self.composite(), int(np.floor(x_px)), int(np.floor(y_px)), tolerance)
        bounds = _true_bounds(region)
        if bounds.isEmpty():
            return False
        self.set_paint_visible(True)
        rows, cols = _slices(bounds)
        before = self._paint[rows, cols].copy()
        alpha = np.where(region[rows, cols], np.uint8(opacity_level(opacity)), np.uint8(0))
        after = paint_over(before, color, alpha)
        if np.array_equal(before, after):
            return False
        self.undo_stack.push(PatchCommand(self, "paint", bounds, before, after, "Fill"))
        return True

    def clear_paint(self, text: str = "Clear paint") -> bool:
        """Make the whole paint layer transparent as one undoable command; False (nothing
        recorded) if it holds no paint."""
        box = alpha_bounds(self._paint)
        if box is None:
            return False
        bounds = QRect(*box)
        rows, cols = _slices(bounds)
        before = self._paint[rows, cols].copy()
        self.undo_stack.push(PatchCommand(self, "paint", bounds, before, np.zeros_like(before), text))
        return True

    def merge_paint(self) -> bool:
        """Lay the visible paint into the image and clear the paint layer, as one undo step.
        False (nothing recorded) when no paint is shown."""
        if not self._paint_visible or not self.has_paint():
            return False
        self.undo_stack.beginMacro("Merge paint")
        self.apply_image(self.composite(), "Merge paint")
        self.clear_paint()
        self.undo_stack.endMacro()
        return True

    # -- mask edits ---------------------------------------------------------------------------

    def set_mask(self, new_mask: np.ndarray, text: str = "Set mask") -> bool:
        """Replace the mask with ``new_mask`` (H×W uint8; copied) as one undoable command.
        Returns False when nothing changes. Raises ValueError on a shape or dtype mismatch."""
        new_mask = np.asarray(new_mask)
        if new_mask.dtype != np.uint8 or new_mask.shape != self._mask.shape:
            raise ValueError(
                f"the mask must be {self.width_px}×{self.height_px} uint8 like the image, "
                f"got shape {new_mask.shape} {new_mask.dtype}."
            )
        return self._push_patch("mask", self._mask, new_mask, text)

    def push_mask_patch(self, box: tuple[int, int, int, int], before: np.ndarray, after: np.ndarray,
                        text: str) -> None:
        """Record a mask change worked out off the GUI thread as one undoable command. box: (x, y,
        w, h) in image px; before/after: h×w uint8 patches the command owns. The caller ensures the
        mask still holds ``before`` there (it counts mask edits), so no 24 MP compare runs here."""
        self.undo_stack.push(PatchCommand(self, "mask", QRect(*box), before, after, text))

    def clear_mask(self) -> bool:
        """Set the whole mask to 0 as one undoable command; False (nothing recorded) if already empty."""
        bounds = self.mask_bounds()
        if bounds.isEmpty():
            return False
        rows, cols = _slices(bounds)
        before = self._mask[rows, cols].copy()
        self.undo_stack.push(PatchCommand(self, "mask", bounds, before, np.zeros_like(before), "Clear mask"))
        return True

    def invert_mask(self) -> None:
        """Mask value v becomes 255 - v everywhere, as one undoable command."""
        self.undo_stack.push(InvertMaskCommand(self))

    # -- used by the commands -----------------------------------------------------------------

    def _layer(self, name: str) -> np.ndarray:
        return {"image": self._image, "mask": self._mask, "paint": self._paint}[name]

    def _changed_signal(self, layer: str):
        return {"image": self.image_changed, "mask": self.mask_changed, "paint": self.paint_changed}[layer]

    def _push_patch(self, layer: str, current: np.ndarray, new: np.ndarray, text: str) -> bool:
        bounds = _changed_bounds(current, new)
        if bounds.isEmpty():
            return False
        rows, cols = _slices(bounds)
        before = current[rows, cols].copy()
        after = np.array(new[rows, cols], copy=True, order="C")
        self.undo_stack.push(PatchCommand(self, layer, bounds, before, after, text))
        return True

    def _undo_commands(self) -> list[QUndoCommand]:
        """Every command on the stack, oldest first, a macro's children in their order."""
        return stack_commands(self.undo_stack)

    def _bound_undo_memory(self) -> None:
        self._undo_memory.update(self.undo_stack)

    def undo_memory_bytes(self) -> int:
        """Bytes of undo patches held in memory (those moved to disk not counted)."""
        return sum(getattr(c, "nbytes", 0) for c in self._undo_commands())

    def _write_patch(self, layer: str, rect: QRect, patch: np.ndarray) -> None:
        rows, cols = _slices(rect)
        self._layer(layer)[rows, cols] = patch
        self._changed_signal(layer).emit(QRect(rect))

    def _set_layers(self, image: np.ndarray, mask: np.ndarray, paint: np.ndarray) -> None:
        self._stroke = None
        self._image, self._mask, self._paint = image, mask, paint
        self.resized.emit()

    def _invert_mask_in_place(self) -> None:
        np.subtract(255, self._mask, out=self._mask)
        self.mask_changed.emit(self.rect)
