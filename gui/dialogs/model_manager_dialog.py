"""The Models dialog: recommended models by purpose, models already in the Hugging Face cache and
files on this computer; Download (in a worker thread, with progress and Cancel) and Use. Its
Restoration tab (upscalers, face restorers, fill) is ``gui.dialogs.restoration_section``.

Opening it from the main window::

    dialog = ModelManagerDialog(settings, parent=window)
    dialog.model_chosen.connect(panel.model_combo.setEditText)  # emitted in the GUI thread
    dialog.exec()

``model_chosen(ref)`` carries a hub repo id, a diffusers folder or a .safetensors path, the same
references ``inference.models.loading.load_model`` takes; the dialog has already remembered it with
``Settings.remember_model``. Closing the dialog cancels a running download (its partial file
stays, and the next Download resumes it) and stops the download thread.

Threads: ``_DownloadWorker`` lives in the dialog's download thread and runs
``inference.models.downloads.download_model``; its signals reach the dialog through bound methods of the
dialog (a GUI-thread object), so they are queued into the GUI thread. Cancel sets a
``threading.Event`` directly: the worker's event loop is busy inside the download.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QRect, QSize, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.dialogs.restoration_section import RestorationSection
from gui.session.settings import Settings
from inference.models.catalog import PURPOSES, entries_for, find_entry
from inference.models.downloads import download_model, format_bytes
from inference.models.hub_cache import cache_location, cached_models, download_state
from inference.core.errors import DownloadCancelled, KilnError
from inference.models.model_ref import model_display_name, resolve_model_ref

COLUMNS = ("Model", "What it's for", "Size", "License", "Status")
STATUS_TEXT = {"complete": "Downloaded", "partial": "Partly downloaded", "absent": "Not downloaded"}
PROGRESS_STEPS = 1000  # the progress bar's range: per-mille


@dataclass(frozen=True)
class _Row:
    """What a list row stands for. source: "hub" (catalog or cache) or "local"; kind: "model"/"lora"."""

    ref: str
    source: str
    kind: str = "model"


class _DownloadWorker(QObject):
    """Lives in the download thread; runs one download at a time."""

    progress = Signal(object)  # inference.models.downloads.DownloadProgress
    ended = Signal(str, str, str)  # repo id, outcome ("done", "cancelled", "failed"), message

    @Slot(str, object)
    def run(self, repo_id: str, cancel: threading.Event) -> None:
        try:
            download_model(repo_id, on_progress=self.progress.emit, cancel=cancel)
        except DownloadCancelled as exc:
            self.ended.emit(repo_id, "cancelled", str(exc))
        except KilnError as exc:
            self.ended.emit(repo_id, "failed", str(exc))
        except Exception as exc:  # noqa: BLE001 (a bug: report it with its type, keep the thread alive)
            self.ended.emit(repo_id, "failed", f"Unexpected error ({type(exc).__name__}): {exc}")
        else:
            self.ended.emit(repo_id, "done", "")


class ModelManagerDialog(QDialog):
    """Signals (GUI thread): ``model_chosen(ref)`` when the user picks a model;
    ``download_ended(repo_id, outcome)`` with outcome "done", "cancelled" or "failed"."""

    model_chosen = Signal(str)
    download_ended = Signal(str, str)
    _start_download = Signal(str, object)

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.settings = settings
        self._thread: QThread | None = None  # started on the first download
        self._worker: _DownloadWorker | None = None
        self._cancel = threading.Event()
        self._downloading: str | None = None
        self._build()
        self.refresh()

    # --- building -----------------------------------------------------------------------

    def _build(self) -> None:
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(COLUMNS)
        self.tree.setRootIsDecorated(False)
        self.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        # "What it's for" is a sentence: it wraps onto more lines instead of being cut off.
        self.tree.setWordWrap(True)
        self.tree.setUniformRowHeights(False)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.tree.header().sectionResized.connect(self._fit_rows)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.itemDoubleClicked.connect(self._on_double_click)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, PROGRESS_STEPS)
        self.progress_label = QLabel("", wordWrap=True)
        # A long message (an offline error names the hub and the cache) wraps to the dialog's
        # width instead of widening it past the screen and cutting off its buttons.
        self.progress_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cache_label = QLabel(
            f"Hub models are kept in the Hugging Face cache: {cache_location()}\n"
            "(shared with other tools; set HF_HOME or HF_HUB_CACHE to keep them elsewhere)"
        )
        self.cache_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.download_button = QPushButton("Download")
        self.cancel_button = QPushButton("Cancel download")
        self.use_button = QPushButton("Use this model")
        self.use_button.setDefault(True)
        self.add_folder_button = QPushButton("Add folder…")
        self.add_file_button = QPushButton("Add .safetensors file…")
        close_button = QPushButton("Close")
        self.download_button.clicked.connect(self.start_download)
        self.cancel_button.clicked.connect(self.cancel_download)
        self.use_button.clicked.connect(self.use_selected)
        self.add_folder_button.clicked.connect(self.add_folder)
        self.add_file_button.clicked.connect(self.add_file)
        close_button.clicked.connect(self.reject)

        buttons = QHBoxLayout()
        for button in (self.download_button, self.cancel_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        for button in (self.add_folder_button, self.add_file_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.use_button)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.cache_label)
        layout.addLayout(buttons)
        self.restoration = RestorationSection(self.settings)  # its own tab: upscalers, faces, fill
        self.tabs = QTabWidget()
        self.tabs.addTab(page, "Diffusion models")
        self.tabs.addTab(self.restoration, "Restoration")
        outer = QVBoxLayout(self)
        outer.addWidget(self.tabs, 1)
        outer.addWidget(close_button, 0, Qt.AlignmentFlag.AlignRight)  # closes the dialog from either tab
        self.resize(900, 560)  # the tab bar and the shared Close take what the list had at 480

    # --- the list -----------------------------------------------------------------------

    def refresh(self) -> None:
        """Rebuild the list from the catalog, the cache and the settings (no network)."""
        selected = self.selected_row()
        self.tree.clear()
        for key, heading in PURPOSES:
            group = self._group(heading)
            for entry in entries_for(key):
                status = self._hub_status(entry.repo_id)
                item = self._item(group, _Row(entry.repo_id, "hub", entry.kind), entry.name, entry.description,
                                  format_bytes(entry.download_size_bytes), entry.license_name, status)
                item.setToolTip(0, entry.repo_id)
                item.setToolTip(1, entry.description)  # the column is often too narrow for all of it
        extra = [m for m in cached_models() if find_entry(m.repo_id) is None]
        if extra:
            group = self._group("Already in your Hugging Face cache")
            for model in extra:
                self._item(group, _Row(model.repo_id, "hub"), model.repo_id, "Downloaded earlier",
                           format_bytes(model.size_on_disk_bytes), "see its model page", "Downloaded")
        local = self.settings.local_models()
        if local:
            group = self._group("On this computer")
            for path in local:
                is_file = path.endswith(".safetensors")
                exists = Path(path).exists()
                self._item(group, _Row(path, "local"), model_display_name(path),
                           ".safetensors checkpoint" if is_file else "Diffusers folder",
                           format_bytes(_size_on_disk(Path(path))) if exists else "", "",
                           "Ready" if exists else "Missing").setToolTip(0, path)
        self.tree.expandAll()
        self._fit_rows()
        if selected is not None:
            self.select_ref(selected.ref)
        self._update_buttons()

    def _hub_status(self, repo_id: str) -> str:
        if repo_id == self._downloading:
            return "Downloading…"
        return STATUS_TEXT[download_state(repo_id)]

    def _group(self, heading: str) -> QTreeWidgetItem:
        group = QTreeWidgetItem(self.tree, [heading])
        group.setFlags(Qt.ItemFlag.ItemIsEnabled)  # a heading, not a choice
        group.setFirstColumnSpanned(True)
        font = group.font(0)
        font.setBold(True)
        group.setFont(0, font)
        return group

    def _fit_rows(self, *_args) -> None:
        """Rows as tall as their wrapped "What it's for" (the view does not measure wrapped
        text by itself)."""
        width = self.tree.header().sectionSize(1) - 8  # the cell's text margins
        metrics = self.tree.fontMetrics()
        for item in self._items():
            text_rect = metrics.boundingRect(QRect(0, 0, max(width, 40), 10_000), Qt.TextFlag.TextWordWrap, item.text(1))
            item.setSizeHint(1, QSize(width, text_rect.height() + 4))

    def _item(self, group: QTreeWidgetItem, row: _Row, *texts: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(group, list(texts))
        item.setData(0, Qt.ItemDataRole.UserRole, row)
        return item

    def _items(self):
        for g in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(g)
            for i in range(group.childCount()):
                yield group.child(i)

    def selected_row(self) -> _Row | None:
        items = self.tree.selectedItems()
        return items[0].data(0, Qt.ItemDataRole.UserRole) if items else None

    def select_ref(self, ref: str) -> bool:
        """Select the first row for ``ref``; False when the list has none."""
        for item in self._items():
            if item.data(0, Qt.ItemDataRole.UserRole).ref == ref:
                self.tree.setCurrentItem(item)
                return True
        return False

    def status_of(self, ref: str) -> str:
        """The Status column's text for ``ref`` ("" when it is not listed)."""
        for item in self._items():
            if item.data(0, Qt.ItemDataRole.UserRole).ref == ref:
                return item.text(4)
        return ""

    def _update_buttons(self) -> None:
        row = self.selected_row()
        busy = self._downloading is not None
        state = download_state(row.ref) if row is not None and row.source == "hub" else None
        self.download_button.setEnabled(not busy and state in ("absent", "partial"))
        self.download_button.setText("Resume download" if state == "partial" else "Download")
        self.cancel_button.setEnabled(busy)
        usable = row is not None and row.kind == "model" and (
            state == "complete" or (row.source == "local" and Path(row.ref).exists())
        )
        self.use_button.setEnabled(usable)
        self.use_button.setToolTip(
            "A LoRA is added on top of an SD 1.5 model; it is not a model of its own."
            if row is not None and row.kind == "lora" else ""
        )
        self.progress_bar.setVisible(busy)

    # --- actions ------------------------------------------------------------------------

    def start_download(self) -> None:
        """Download the selected hub model in the download thread (no-op while one runs)."""
        row = self.selected_row()
        if row is None or row.source != "hub" or self._downloading is not None:
            return
        self._ensure_thread()
        self._cancel = threading.Event()
        self._downloading = row.ref
        self.progress_bar.setValue(0)
        self.progress_label.setText(f"Connecting to download {row.ref}…")
        self._start_download.emit(row.ref, self._cancel)
        self.refresh()

    def cancel_download(self) -> None:
        """Stop the running download within one network read; the partial file is kept."""
        if self._downloading is not None:
            self._cancel.set()
            self.progress_label.setText("Cancelling…")

    def use_selected(self) -> None:
        row = self.selected_row()
        if row is None or not self.use_button.isEnabled():
            return
        self.settings.remember_model(row.ref)
        self.model_chosen.emit(row.ref)
        self.accept()

    def add_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Choose a diffusers model folder")
        if path:
            self.add_local(path)

    def add_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a checkpoint", "", "Checkpoints (*.safetensors)")
        if path:
            self.add_local(path)

    def add_local(self, path: str) -> bool:
        """Check ``path`` is a model Kiln can open (a pickle is refused unopened), list and select it."""
        try:
            ref = resolve_model_ref(path)
        except KilnError as exc:
            QMessageBox.warning(self, "Not a model Kiln can open", str(exc))
            return False
        if ref.kind == "hub":  # a name that is neither a file nor a folder
            QMessageBox.warning(self, "Not a model Kiln can open", f"'{path}' is not a file or folder.")
            return False
        self.settings.add_local_model(ref.value)
        self.refresh()
        self.select_ref(ref.value)
        if self._downloading is None:  # an old error or note is about something else
            self.progress_label.setText(f"Added {model_display_name(ref.value)}: press Use this model to generate with it.")
        return True

    def _on_double_click(self, item: QTreeWidgetItem, _column: int) -> None:
        if item.data(0, Qt.ItemDataRole.UserRole) is not None:
            self.use_selected()

    # --- the download thread ------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        self._thread = QThread()
        self._thread.setObjectName("kiln-download")
        self._worker = _DownloadWorker()
        self._worker.moveToThread(self._thread)
        self._start_download.connect(self._worker.run)
        # Bound methods of this GUI-thread dialog: queued into the GUI thread (a lambda would not be).
        self._worker.progress.connect(self._on_progress)
        self._worker.ended.connect(self._on_ended)
        self._thread.start()

    @Slot(object)
    def _on_progress(self, event) -> None:
        if event.repo_id != self._downloading:
            return  # a late event of a download that has ended
        self.progress_bar.setValue(round(event.fraction * PROGRESS_STEPS))
        self.progress_label.setText(event.summary())
        for item in self._items():
            if item.data(0, Qt.ItemDataRole.UserRole).ref == event.repo_id:
                item.setText(4, f"Downloading {event.fraction:.0%}")

    @Slot(str, str, str)
    def _on_ended(self, repo_id: str, outcome: str, message: str) -> None:
        self._downloading = None
        name = getattr(find_entry(repo_id), "name", repo_id)
        if outcome == "done":
            self.progress_label.setText(f"{name} is downloaded.")
        elif outcome == "cancelled":
            self.progress_label.setText(f"Download of {name} cancelled; Resume download continues where it stopped.")
        else:
            self.progress_label.setText(message)
            QMessageBox.warning(self, "Download failed", message)
        self.refresh()
        self.download_ended.emit(repo_id, outcome)

    def shutdown(self, timeout_ms: int = 30000) -> None:
        """Cancel a running download and stop the thread (idempotent; done() calls it)."""
        self._cancel.set()
        self.restoration.shutdown()
        if self._thread is not None:
            self._thread.quit()  # direct: a queued quit would never arrive while we wait
            self._thread.wait(timeout_ms)
            self._thread = None

    def done(self, result: int) -> None:  # Qt override: every way of closing ends here
        self.shutdown()
        super().done(result)


def _size_on_disk(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
