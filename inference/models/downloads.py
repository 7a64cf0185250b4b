"""Download diffusers models from the Hugging Face hub into its standard cache: only the files a
pipeline needs, with progress, prompt cancellation and resume. No Qt.

The cache is huggingface_hub's own (``HF_HOME`` / ``HF_HUB_CACHE``), so models fetched by other
tools are found and models fetched here are found by them. A download fetches ``model_index.json``,
the config and tokenizer files of the pipeline's components and their ``.safetensors`` weights (the
fp16 variant where the repo has one). Pickles (.bin/.ckpt/.pt) and the single-file checkpoints
that repos keep next to the diffusers folders are never fetched.

Why Kiln streams the weight files itself instead of calling ``snapshot_download``: in
huggingface_hub 2.4 an interrupted download deletes its temporary file (named
``<etag>.<random>.incomplete``, unique per attempt), so nothing resumes across attempts, and the
body is read in 10 MiB chunks, so a cancel would wait for up to 10 MiB to arrive. Kiln writes each
weight file to ``blobs/<etag>.incomplete`` (the name the library's cache scanner reports as a
partial download), resumes it with an HTTP Range request, checks its sha256, renames it to its
blob name, and then lets ``hf_hub_download`` link it into the snapshot (the library finds the blob
and only writes the ref and the symlink; the streaming is in ``inference.models.blob_download``). Small
files go through ``hf_hub_download`` directly.
Requests use the library's HTTP session, headers (token, user agent) and error types.
"""

from __future__ import annotations

import errno
import json
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx2
from huggingface_hub import HfApi, constants, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils import build_hf_headers

from inference.models.blob_download import check_cancel, fetch_blob
from inference.core.errors import DiskFull, DownloadError, HubUnreachable, RepoGated, RepoNotFound
from inference.models.hub_cache import cache_location, weight_variant

PROGRESS_INTERVAL_S = 0.1  # at most ten progress events a second (plus one per finished file)
SPEED_WINDOW_S = 5.0  # speed is averaged over this much recent time

_SMALL_FILE_SUFFIXES = (".json", ".txt", ".model")  # configs, tokenizer vocab/merges, sentencepiece


# --- progress -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadProgress:
    """One progress report. bytes_done counts files already in the cache and resumed partial
    files too, so a resumed download starts where it stopped; speed_bytes_per_s counts only bytes
    received in this call, over the last few seconds (0 until known); eta_s is None until a speed
    is known."""

    repo_id: str
    bytes_done: int
    bytes_total: int
    speed_bytes_per_s: float
    eta_s: float | None
    current_file: str
    files_done: int
    files_total: int

    @property
    def fraction(self) -> float:
        return self.bytes_done / self.bytes_total if self.bytes_total else 0.0

    def summary(self) -> str:
        """E.g. "1.2 GB of 4.3 GB · 35 MB/s · 1 min 40 s left"."""
        text = f"{format_bytes(self.bytes_done)} of {format_bytes(self.bytes_total)}"
        if self.bytes_done >= self.bytes_total:
            return text
        if self.speed_bytes_per_s <= 0 or self.eta_s is None:
            return text + " · starting…"
        return f"{text} · {format_bytes(self.speed_bytes_per_s)}/s · {format_duration(self.eta_s)} left"


def format_bytes(n_bytes: float) -> str:
    """Decimal units, as the hub shows sizes: "950 kB", "35 MB", "1.2 GB"."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n_bytes >= scale:
            value = n_bytes / scale
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(n_bytes)} B"


def format_duration(seconds: float) -> str:
    """"45 s", "1 min 40 s", "2 h 5 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


class _Meter:
    """Counts bytes for one download and turns them into throttled ``DownloadProgress`` events."""

    def __init__(self, repo_id: str, total_bytes: int, files_total: int, on_progress):
        self.repo_id, self.total_bytes, self.files_total = repo_id, total_bytes, files_total
        self.on_progress = on_progress
        self.done_bytes = 0
        self.files_done = 0
        self.current_file = ""
        self._received_bytes = 0  # this call only: the speed must not count resumed bytes
        self._samples: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])
        self._last_emit_s = 0.0

    def adjust(self, n_bytes: int) -> None:
        """Bytes found on disk (or, negative, found unusable): progress, but not speed."""
        self.done_bytes += n_bytes
        self.emit(force=True)

    def received(self, n_bytes: int) -> None:
        self.done_bytes += n_bytes
        self._received_bytes += n_bytes
        self.emit()

    def file_done(self) -> None:
        self.files_done += 1
        self.emit(force=True)

    def emit(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.on_progress is None or (not force and now - self._last_emit_s < PROGRESS_INTERVAL_S):
            return
        self._last_emit_s = now
        self._samples.append((now, self._received_bytes))
        while len(self._samples) > 2 and now - self._samples[1][0] > SPEED_WINDOW_S:
            self._samples.popleft()
        t0, b0 = self._samples[0]
        speed = (self._received_bytes - b0) / (now - t0) if now - t0 > 0.2 else 0.0
        remaining = max(0, self.total_bytes - self.done_bytes)
        eta = remaining / speed if speed > 0 else None
        self.on_progress(
            DownloadProgress(
                self.repo_id, self.done_bytes, self.total_bytes, speed, eta,
                self.current_file, self.files_done, self.files_total,
            )
        )


# --- which files ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedFile:
    """One file to fetch. sha256 is set for LFS files (their hub ETag), None for small files."""

    path: str
    size_bytes: int
    sha256: str | None


def select_files(repo_files: list[str], model_index: dict | None) -> list[str]:
    """The files of a repo that Kiln needs, from its file list (paths relative to the repo root).

    With a ``model_index.json``: that file, plus, inside each component folder it names, small
    config/tokenizer files and the ``.safetensors`` weights, per folder the fp16 variant when the
    folder has one, else the plain weights (never other variants such as ``ema``/``non_ema``).
    Without one (a LoRA or a single-file checkpoint repo): the top-level ``.safetensors`` files and
    small files. Pickle weights are never selected.
    """
    if model_index is None:
        return [p for p in repo_files if "/" not in p and p.endswith((".safetensors", *_SMALL_FILE_SUFFIXES))]
    components = {
        name for name, value in model_index.items()
        if not name.startswith("_") and isinstance(value, list) and len(value) == 2 and None not in value
    }
    chosen = ["model_index.json"] if "model_index.json" in repo_files else []
    weights_by_folder: dict[str, list[str]] = {}
    for path in repo_files:
        folder, _, name = path.partition("/")
        if folder not in components or not name:
            continue
        if name.endswith(".safetensors"):
            weights_by_folder.setdefault(folder, []).append(path)
        elif name.endswith(_SMALL_FILE_SUFFIXES) and ".bin.index" not in name:
            chosen.append(path)
    for paths in weights_by_folder.values():
        fp16 = [p for p in paths if weight_variant(p.rpartition("/")[2]) == "fp16"]
        chosen += fp16 or [p for p in paths if weight_variant(p.rpartition("/")[2]) is None]
    return chosen


# --- downloading ----------------------------------------------------------------------------


def download_model(
    repo_id: str,
    *,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    cancel: threading.Event | None = None,
    revision: str = "main",
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
) -> Path:
    """Fetch what Kiln needs of ``repo_id`` into the Hugging Face cache; return the snapshot folder.

    Runs in the calling thread (give it a worker thread). ``on_progress`` is called from that
    thread. Setting ``cancel`` stops within one network read (tens of milliseconds) and raises
    ``DownloadCancelled``; the partial file stays so the next call resumes with a Range request.
    Files already complete are not fetched again. Raises ``DownloadError`` subclasses with a
    message a person can act on: ``HubUnreachable``, ``RepoNotFound``, ``RepoGated``,
    ``DiskFull``.
    """
    cancel = cancel or threading.Event()
    cache = cache_location(cache_dir)
    try:
        return _download(repo_id, on_progress, cancel, revision, cache, endpoint, token)
    except DownloadError:
        raise
    except Exception as exc:  # translate the library's and the OS's errors at the boundary
        error = _as_download_error(exc, repo_id, revision, cache, endpoint)
        if error is None:
            raise
        raise error from exc


def _download(repo_id, on_progress, cancel, revision, cache: Path, endpoint, token) -> Path:
    # 1. List the repo's files at one commit (sizes and sha256 included)
    info = HfApi(endpoint=endpoint, token=token, library_name="kiln").model_info(
        repo_id, revision=revision, files_metadata=True
    )
    commit = info.sha
    siblings = {s.rfilename: s for s in info.siblings or []}
    storage = cache / repo_folder_name(repo_id=repo_id, repo_type="model")
    fetch = {"repo_id": repo_id, "revision": revision, "cache_dir": str(cache), "endpoint": endpoint, "token": token}

    # 2. Read model_index.json (tiny) to learn the components, then choose the files
    model_index = None
    if "model_index.json" in siblings:
        check_cancel(cancel, repo_id)
        index_path = _link(hf_hub_download(filename="model_index.json", **fetch), commit, repo_id)
        model_index = json.loads(Path(index_path).read_text(encoding="utf-8"))
    paths = select_files(list(siblings), model_index)
    if not any(p.endswith(".safetensors") for p in paths):
        raise DownloadError(
            f"'{repo_id}' has no .safetensors weights Kiln can use (only pickles or no weights at all); "
            "look for a safetensors version of this model."
        )
    files = [
        PlannedFile(p, siblings[p].size or 0, siblings[p].lfs.sha256 if siblings[p].lfs else None) for p in paths
    ]
    files.sort(key=lambda f: (f.sha256 is not None, f.path))  # configs first, then the weights

    # 3. Check the disk; progress starts at what is already there (finished files, partials)
    on_disk = {f.path: _bytes_on_disk(storage, commit, f) for f in files}
    needed_bytes = sum(f.size_bytes - on_disk[f.path] for f in files)
    _check_free_space(storage, needed_bytes, cache, repo_id)
    meter = _Meter(repo_id, sum(f.size_bytes for f in files), len(files), on_progress)
    meter.adjust(sum(on_disk.values()))

    # 4. Fetch file by file
    headers = build_hf_headers(token=token, library_name="kiln")
    for planned in files:
        check_cancel(cancel, repo_id)
        meter.current_file = planned.path
        if (storage / "snapshots" / commit / planned.path).is_file():
            pass
        elif planned.sha256 is None:
            _link(hf_hub_download(filename=planned.path, **fetch), commit, repo_id)
            meter.received(planned.size_bytes)
        else:
            url = hf_hub_url(repo_id, planned.path, revision=commit, endpoint=endpoint)
            fetch_blob(url, headers, storage / "blobs" / planned.sha256, planned, meter, cancel, repo_id)
            _link(hf_hub_download(filename=planned.path, **fetch), commit, repo_id)
        meter.file_done()
    return storage / "snapshots" / commit


def _link(pointer: str, commit: str, repo_id: str) -> str:
    """Check that the library linked the file into the snapshot we planned from."""
    if commit not in Path(pointer).parts:
        raise DownloadError(f"'{repo_id}' changed on the hub while it was downloading; download it again.")
    return pointer


def _bytes_on_disk(storage: Path, commit: str, planned: PlannedFile) -> int:
    """How much of ``planned`` is already in the cache: all of it, a usable partial, or nothing.

    A partial longer than the file cannot be a prefix of it and is deleted here.
    """
    if (storage / "snapshots" / commit / planned.path).is_file():
        return planned.size_bytes
    if planned.sha256 is None:
        return 0
    blob = storage / "blobs" / planned.sha256
    if blob.is_file():
        return planned.size_bytes
    partial = blob.with_name(blob.name + ".incomplete")
    if not partial.is_file():
        return 0
    if partial.stat().st_size > planned.size_bytes:
        partial.unlink()
        return 0
    return partial.stat().st_size


def _check_free_space(storage: Path, needed_bytes: int, cache: Path, repo_id: str) -> None:
    probe = storage
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent  # the repo folder may not exist yet: ask about the disk it will be on
    free_bytes = shutil.disk_usage(probe).free
    if needed_bytes > free_bytes:
        raise DiskFull(_disk_full_message(repo_id, cache, needed_bytes, free_bytes))


def _disk_full_message(repo_id: str, cache: Path, needed_bytes: int | None, free_bytes: int) -> str:
    need = f"needs {format_bytes(needed_bytes)} more, but " if needed_bytes else "did not fit: "
    return (
        f"'{repo_id}' {need}only {format_bytes(free_bytes)} is free on the disk holding {cache}. "
        "Free some space, or set HF_HUB_CACHE to a folder on a bigger disk, then download again."
    )


def _as_download_error(exc: Exception, repo_id: str, revision: str, cache: Path, endpoint) -> DownloadError | None:
    """The library's and the OS's errors, in words a person can act on (None: a bug, re-raise)."""
    host = endpoint or constants.ENDPOINT
    if isinstance(exc, OfflineModeIsEnabled):
        return HubUnreachable(f"Downloads are switched off (HF_HUB_OFFLINE is set); unset it to download '{repo_id}'.")
    if isinstance(exc, GatedRepoError):
        return RepoGated(
            f"'{repo_id}' is gated: accept its license at {host}/{repo_id} while logged in, then log in here "
            "with 'hf auth login' (or set HF_TOKEN) and download again."
        )
    if isinstance(exc, RevisionNotFoundError):
        return RepoNotFound(f"'{repo_id}' has no revision '{revision}' on the hub.")
    if isinstance(exc, RepositoryNotFoundError):
        return RepoNotFound(
            f"There is no model '{repo_id}' on the hub, or it is private. Check the name ('owner/name'); "
            "for a private model, log in with 'hf auth login'."
        )
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else None
        if status is not None and status >= 500:
            return HubUnreachable(f"The hub is having trouble (HTTP {status}); try again in a few minutes.")
        return DownloadError(f"The hub refused the download of '{repo_id}' (HTTP {status}).")
    if isinstance(exc, (httpx2.TransportError, LocalEntryNotFoundError)):
        return HubUnreachable(
            f"Could not reach {host}: check your internet connection (and proxy), then download again; "
            "finished files are kept and a partial one resumes."
        )
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DiskFull(_disk_full_message(repo_id, cache, None, shutil.disk_usage(cache).free))
    return None
