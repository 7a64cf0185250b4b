"""The Models dialog's Restoration tab: learned restoration models (upscalers, face restorers, fill).

Lists the recommended files by purpose (``inference.restoration_models.catalog``) with their licence,
size and status, downloads one into the Hugging Face cache (progress, Cancel, errors a person can act
on), adds a local ``.safetensors``/``.pth`` (Add file…), and opens every file it lists to say what it
is — "ESRGAN ×4 — an upscaler" — or why it was refused. A file that opens is remembered
(``Settings.add_restoration_model``) and can be chosen for the use of its kind (Use for Upscale /
Faces / Fill → ``Settings.choose_restoration_model``). "Allow non-commercial models" is stored in the
settings and applied to the restoration jobs' model cache and to the files opened here.

Threads: opening files and downloading are plain functions on two ``BackgroundRunner`` s (so a
download never holds up opening a file); answers arrive as their ``done``/``failed`` signals in the
GUI thread. Download progress comes from the download thread through ``_progress``, a signal of this
GUI-thread widget received by one of its methods, so it is queued into the GUI thread. Cancel sets a
``threading.Event`` directly. ``shutdown()`` (the dialog calls it when it closes) cancels and stops both.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QMessageBox, QProgressBar, QPushButton,
    QSizePolicy, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget,
)

from gui.session.background import BackgroundRunner
from gui.session.settings import Settings
from inference.models.downloads import format_bytes
from inference.models.file_download import cached_file, download_file, partial_bytes
from inference.models.hub_cache import cache_location
from inference.restoration_models import jobs as restoration_jobs
from inference.restoration_models.catalog import PURPOSES, RESTORATION_CATALOG, RestorationEntry
from inference.restoration_models.inspection import Inspection, inspect_files, noncommercial_extras_installed
from inference.restoration_models.model_file import KIND_NAMES, NONCOMMERCIAL

COLUMNS = ("Model", "Size", "Licence", "Status", "Used for")  # what a model is for: its tooltip, and below
STATUS, USED_FOR = 3, 4
USES = {"upscale": "Upscale", "face": "Faces", "fill": "Fill", "detect": "Find faces"}  # kinds to choose for
PROGRESS_STEPS = 1000
FILE_FILTER = "Restoration models (*.safetensors *.pth *.pt *.ckpt *.bin);;Face detectors (*.onnx)"
NONCOMMERCIAL_NOTE = ("Personal, non-commercial use only: " + "; ".join(
    f"{arch} — {licence.removesuffix(' (non-commercial)')}" for arch, licence in NONCOMMERCIAL.items()
    if arch in ("CodeFormer", "DDColor", "MAT")) + ".")


@dataclass(frozen=True)
class _Row:
    entry: RestorationEntry | None  # a recommended model, or None for a file added by hand
    path: str  # where the file is on this computer ("" while not downloaded)


class RestorationSection(QWidget):
    """Signals (GUI thread): ``checked(path)`` when a file has been opened (or refused);
    ``download_ended(name, outcome)`` with outcome "done", "cancelled" or "failed";
    ``model_chosen(kind, path)`` after a Use for … button."""

    checked = Signal(str)
    download_ended = Signal(str, str)
    model_chosen = Signal(str, str)
    _progress = Signal(object)  # DownloadProgress, emitted in the download thread

    def __init__(self, settings: Settings, parent: QWidget | None = None,
                 catalog: tuple[RestorationEntry, ...] = RESTORATION_CATALOG):
        super().__init__(parent)
        self.settings = settings
        self.catalog = catalog
        self._results: dict[str, Inspection | None] = {}  # path → what it is (None: being opened)
        self._pending: list[str] = []  # paths to open once the opener is free
        self._session_files: list[str] = []  # added here (refused ones are shown, not remembered)
        self._downloading: RestorationEntry | None = None
        self._cancel = threading.Event()
        self._opener = BackgroundRunner("restoration-open", self)
        self._opener.done.connect(self._on_checked)
        self._opener.failed.connect(self._on_check_failed)
        self._downloader = BackgroundRunner("restoration-download", self)
        self._downloader.done.connect(self._on_downloaded)
        self._downloader.failed.connect(self._on_download_failed)
        self._progress.connect(self._on_progress)
        self._build()
        self._apply_allowed()
        self._check([p for p in self._known_paths() if Path(p).is_file()])

    # --- building -----------------------------------------------------------------------

    def _build(self) -> None:
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.hint = ("Select a model to see what it is for. Downloads go to the Hugging Face cache, "
                     f"{cache_location()}.")
        self.details = QLabel(self.hint, wordWrap=True)
        self.details.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # wrap, never widen
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, PROGRESS_STEPS)
        self.allow_box = QCheckBox("Allow non-commercial models (CodeFormer, DDColor…)")
        self.allow_box.setChecked(self.settings.allow_noncommercial())
        self.allow_box.setToolTip(NONCOMMERCIAL_NOTE)
        self.allow_box.toggled.connect(self.set_allow_noncommercial)
        self.allow_note = QLabel(NONCOMMERCIAL_NOTE, wordWrap=True)
        self.allow_note.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.download_button = QPushButton("Download")
        self.cancel_button = QPushButton("Cancel download")
        self.add_file_button = QPushButton("Add file…")
        self.use_buttons = {kind: QPushButton(f"Use for {use}") for kind, use in USES.items()}
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.add_file_button.clicked.connect(self.add_file)
        for kind, button in self.use_buttons.items():
            button.clicked.connect(lambda _checked=False, k=kind: self.use_selected(k))
        buttons = QHBoxLayout()
        for widget in (self.download_button, self.cancel_button, None, self.add_file_button, None,
                       *self.use_buttons.values()):
            if widget is None:
                buttons.addStretch(1)
            else:
                buttons.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.progress_bar)
        allow_row = QHBoxLayout()
        allow_row.addWidget(self.allow_box)
        allow_row.addWidget(self.allow_note, 1)
        layout.addLayout(allow_row)
        layout.addLayout(buttons)

    # --- the list -----------------------------------------------------------------------

    def refresh(self) -> None:
        """Rebuild the list from the catalog, the cache, the settings and what opening found."""
        selected = self.selected_row()
        self.tree.clear()
        allowed = self.settings.allow_noncommercial()
        cached = set()
        for kind, heading in PURPOSES:
            entries = [e for e in self.catalog if e.kind == kind]
            group = self._group(heading) if entries else None
            for entry in entries:
                path = self._cached_path(entry)
                cached.add(path)
                status = self._status(path) if path else self._entry_status(entry, allowed)
                item = self._item(group, _Row(entry, path), entry.name, f"{entry.size_mb} MB", entry.licence, status)
                item.setToolTip(0, f"{entry.description}\n{entry.repo_id}: {entry.filename}")
        files = [p for p in self._known_paths() if p and p not in cached]
        if files:
            group = self._group("Files on this computer")
            for path in files:
                result = self._results.get(path)
                exists = Path(path).is_file()
                item = self._item(group, _Row(None, path), Path(path).name,
                                  format_bytes(Path(path).stat().st_size) if exists else "",
                                  result.licence if result is not None else "", self._status(path))
                item.setToolTip(0, path)
        self.tree.expandAll()
        self.select(selected.entry or selected.path if selected else None)
        self._update_buttons()

    def _status(self, path: str) -> str:
        if not Path(path).is_file():
            return "Missing"
        result = self._results.get(path)
        return "Opening…" if result is None else result.describe()

    def _entry_status(self, entry: RestorationEntry, allowed: bool) -> str:
        if entry is self._downloading:
            return "Downloading…"
        if not entry.offered(allowed):
            return "Off: non-commercial"
        return "Partly downloaded" if partial_bytes(entry.repo_id, entry.sha256) else "Not downloaded"

    def _cached_path(self, entry: RestorationEntry) -> str:
        path = cached_file(entry.repo_id, entry.filename)
        return str(path) if path is not None else ""

    def _known_paths(self) -> list[str]:
        """Remembered files, files added in this session and downloaded recommendations, once each."""
        paths = self.settings.restoration_models() + self._session_files
        paths += [p for p in (self._cached_path(e) for e in self.catalog) if p]
        return list(dict.fromkeys(paths))

    def _group(self, heading: str) -> QTreeWidgetItem:
        group = QTreeWidgetItem(self.tree, [heading])
        group.setFlags(Qt.ItemFlag.ItemIsEnabled)  # a heading, not a choice
        group.setFirstColumnSpanned(True)
        font = group.font(0)
        font.setBold(True)
        group.setFont(0, font)
        return group

    def _item(self, group: QTreeWidgetItem, row: _Row, *texts: str) -> QTreeWidgetItem:
        uses = ", ".join(use for kind, use in USES.items() if row.path and self.settings.restoration_choice(kind) == row.path)
        item = QTreeWidgetItem(group, [*texts, uses])
        item.setData(0, Qt.ItemDataRole.UserRole, row)
        result = self._results.get(row.path)
        if result is not None and not result.ok:
            item.setToolTip(STATUS, result.refusal)
        return item

    def _items(self):
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            for i in range(group.childCount()):
                yield group.child(i)

    def selected_row(self) -> _Row | None:
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def _item_of(self, key) -> QTreeWidgetItem | None:
        """The row of a catalog entry or of a file path."""
        rows = ((item, item.data(0, Qt.ItemDataRole.UserRole)) for item in self._items())
        return next((item for item, row in rows if key is not None and (row.entry is key or row.path == key)), None)

    def select(self, key) -> bool:
        """Select the row of a catalog entry or of a file path; False when there is none."""
        item = self._item_of(key)
        if item is not None:
            self.tree.setCurrentItem(item)
        return item is not None

    def status_of(self, key) -> str:
        """The Status column of a catalog entry's or a file's row ("" when it is not listed)."""
        item = self._item_of(key)
        return item.text(STATUS) if item is not None else ""

    def used_for(self, key) -> str:
        item = self._item_of(key)
        return item.text(USED_FOR) if item is not None else ""

    def _update_buttons(self) -> None:
        row = self.selected_row()
        busy = self._downloading is not None
        entry = row.entry if row is not None else None
        allowed = self.settings.allow_noncommercial()
        self.download_button.setEnabled(not busy and entry is not None and not row.path and entry.offered(allowed))
        self.download_button.setToolTip("Non-commercial: allow non-commercial models below to download it."
                                        if entry is not None and not entry.offered(allowed) else "")
        self.cancel_button.setEnabled(busy)
        self.progress_bar.setVisible(busy)
        result = self._results.get(row.path) if row is not None and row.path else None
        for kind, button in self.use_buttons.items():
            button.setEnabled(result is not None and result.ok and result.kind == kind)
            button.setToolTip(f"{USES[kind]} needs {KIND_NAMES[kind]}; this is {KIND_NAMES[result.kind]}."
                              if result is not None and result.ok and result.kind != kind else "")
        if not busy:
            self.details.setText(self._details(row, result) if row is not None else self.hint)

    def _details(self, row: _Row, result: Inspection | None) -> str:
        about = f"{row.entry.description} ({row.entry.repo_id} on the Hugging Face hub.) " if row.entry else ""
        if result is not None and not result.ok:
            return about + result.refusal
        if result is not None:
            return f"{about}{Path(row.path).name}: {result.describe()} ({result.licence}), {row.path}"
        return about + (f"Opening {Path(row.path).name} to see what it is…" if row.path else "")

    # --- actions ------------------------------------------------------------------------

    def add_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a restoration model", "", FILE_FILTER)
        if path:
            self.add_local(path)

    def add_local(self, path: str) -> None:
        """List ``path`` and open it off the GUI thread; it is remembered once it opens."""
        path = str(Path(path))
        if path not in self._session_files:
            self._session_files.append(path)
        self._check([path])
        self.select(path)

    def use_selected(self, kind: str) -> None:
        """Choose the selected model for ``kind`` ("upscale", "face" or "fill")."""
        row = self.selected_row()
        if row is None or not self.use_buttons[kind].isEnabled():
            return
        self.settings.choose_restoration_model(kind, row.path)
        self.refresh()
        self.details.setText(f"{Path(row.path).name} will be used for {USES[kind]}.")
        self.model_chosen.emit(kind, row.path)

    def set_allow_noncommercial(self, allowed: bool) -> None:
        """Store the choice, apply it to the restoration jobs, and open every listed file again."""
        self.settings.set_allow_noncommercial(allowed)
        if self.allow_box.isChecked() != allowed:
            self.allow_box.setChecked(allowed)
        self._apply_allowed()
        self._check([p for p in self._known_paths() if Path(p).is_file()])

    def _apply_allowed(self) -> bool:
        """The setting as the restoration jobs apply it: on only where the non-commercial
        architectures are installed (without them, model_file would refuse every file)."""
        allowed = self.settings.allow_noncommercial()
        effective = allowed and noncommercial_extras_installed()
        restoration_jobs._CACHE.allow_noncommercial = effective
        missing = " They need spandrel_extra_arches, which is not installed (pip install spandrel_extra_arches)."
        self.allow_note.setText(NONCOMMERCIAL_NOTE + (missing if allowed and not effective else ""))
        return effective

    # --- opening files (the opener's thread) ----------------------------------------------

    def _check(self, paths: list[str]) -> None:
        for path in paths:
            self._results[path] = None
            if path not in self._pending:
                self._pending.append(path)
        self._submit_checks()
        self.refresh()

    def _submit_checks(self) -> None:
        if self._opener.busy or not self._pending:
            return
        paths, self._pending = self._pending, []
        allowed = restoration_jobs._CACHE.allow_noncommercial
        self._opener.submit(lambda: inspect_files(paths, allowed), tuple(paths))

    def _on_checked(self, _token, results: list[Inspection]) -> None:
        remembered = self.settings.restoration_models()
        for result in results:
            if result.path in self._pending:
                continue  # opened again since (the non-commercial choice changed): wait for that answer
            self._results[result.path] = result
            if result.ok and result.path not in remembered:
                self.settings.add_restoration_model(result.path)
        self._submit_checks()
        self.refresh()
        for result in results:
            self.checked.emit(result.path)

    def _on_check_failed(self, token, message: str) -> None:
        self._on_checked(token, [Inspection(path, refusal=message) for path in token])

    # --- downloading (the downloader's thread) --------------------------------------------

    def start_download(self) -> None:
        """Download the selected recommended model (no-op while one runs)."""
        row = self.selected_row()
        if row is None or row.entry is None or not self.download_button.isEnabled():
            return
        entry, cancel, progress = row.entry, threading.Event(), self._progress

        def emit_progress(event) -> None:
            try:
                progress.emit(event)
            except RuntimeError:  # the dialog is gone (closing)
                pass

        self._cancel, self._downloading = cancel, entry
        self.progress_bar.setValue(0)
        self.details.setText(f"Connecting to download {entry.name} ({entry.repo_id})…")
        self._downloader.submit(lambda: download_file(entry.repo_id, entry.filename, expected_sha256=entry.sha256,
                                                      on_progress=emit_progress, cancel=cancel), entry)
        self.refresh()

    def cancel_download(self) -> None:
        """Stop the running download within one network read; the partial file is kept."""
        if self._downloading is not None:
            self._cancel.set()
            self.details.setText("Cancelling…")

    def _on_progress(self, event) -> None:
        if self._downloading is None:
            return
        self.progress_bar.setValue(round(event.fraction * PROGRESS_STEPS))
        self.details.setText(f"{self._downloading.name}: {event.summary()}")
        for item in self._items():
            if item.data(0, Qt.ItemDataRole.UserRole).entry is self._downloading:
                item.setText(STATUS, f"Downloading {event.fraction:.0%}")

    def _on_downloaded(self, entry: RestorationEntry, path) -> None:
        self._downloading = None
        self._check([str(path)])
        self.select(entry)
        self.details.setText(f"{entry.name} is downloaded; Kiln is opening it to see what it is…")
        self.download_ended.emit(entry.name, "done")

    def _on_download_failed(self, entry: RestorationEntry, message: str) -> None:
        self._downloading = None
        cancelled = self._cancel.is_set()
        self.refresh()
        self.details.setText(f"Download of {entry.name} cancelled; Download again continues where it stopped."
                             if cancelled else message)
        if not cancelled:
            QMessageBox.warning(self, "Download failed", message)
        self.download_ended.emit(entry.name, "cancelled" if cancelled else "failed")

    def shutdown(self, timeout_s: float = 30.0) -> None:
        """Cancel a running download and stop both threads (idempotent)."""
        self._cancel.set()
        self._downloader.stop(timeout_s)
        self._opener.stop(timeout_s)
