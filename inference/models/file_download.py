"""One file of a hub repository into the Hugging Face cache (a restoration model's weights), with
the progress, cancel, resume and errors of ``inference.models.downloads``. No Qt.

``download_model`` fetches what a diffusers pipeline needs; a restoration model is one file in a
repo that may hold many others, so ``download_file`` fetches exactly that one. It reuses the
whole-repo download's parts: ``_Meter`` (``DownloadProgress`` events), the disk check, the resumable
sha256-checked stream (``blob_download.fetch_blob``) and the translation of the library's errors.
The file lands where huggingface_hub puts it (``<cache>/models--owner--name/snapshots/<commit>/…``),
so other tools find it and ``cached_file`` finds it offline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from huggingface_hub import HfApi, hf_hub_download, hf_hub_url
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils import build_hf_headers

from inference.core.errors import DownloadError, RepoNotFound
from inference.models.blob_download import check_cancel, fetch_blob
from inference.models.downloads import (
    DownloadProgress,
    PlannedFile,
    _as_download_error,
    _bytes_on_disk,
    _check_free_space,
    _link,
    _Meter,
)
from inference.models.hub_cache import cache_location, snapshot_path


def download_file(
    repo_id: str,
    filename: str,
    *,
    expected_sha256: str | None = None,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    cancel: threading.Event | None = None,
    revision: str = "main",
    cache_dir: str | Path | None = None,
    endpoint: str | None = None,
    token: str | bool | None = None,
) -> Path:
    """Fetch ``filename`` (a path inside ``repo_id``) into the Hugging Face cache; return its path.

    Runs in the calling thread. ``expected_sha256``: refuse, before fetching anything, a file whose
    content on the hub is not that one. Cancel, resume and errors as ``download_model``: setting
    ``cancel`` raises ``DownloadCancelled`` within one network read and keeps the partial file;
    ``HubUnreachable``, ``RepoNotFound``, ``RepoGated``, ``DiskFull`` and ``DownloadError`` carry
    a message a person can act on. A file already in the cache is not fetched again.
    """
    cancel = cancel or threading.Event()
    cache = cache_location(cache_dir)
    try:
        return _download(repo_id, filename, expected_sha256, on_progress, cancel, revision, cache, endpoint, token)
    except DownloadError:
        raise
    except Exception as exc:  # the library's and the OS's errors, in words a person can act on
        error = _as_download_error(exc, repo_id, revision, cache, endpoint)
        if error is None:
            raise
        raise error from exc


def cached_file(repo_id: str, filename: str, revision: str = "main", cache_dir: str | Path | None = None) -> Path | None:
    """``filename`` of ``repo_id`` complete in the cache at ``revision``, or None. No network."""
    folder = snapshot_path(repo_id, revision, cache_dir)
    path = folder / filename if folder is not None else None
    return path if path is not None and path.is_file() else None  # is_file: a dangling link is not there


def partial_bytes(repo_id: str, sha256: str | None, cache_dir: str | Path | None = None) -> int:
    """How much of the file with that sha256 an interrupted download left (0: none, or not known)."""
    if not sha256:
        return 0
    storage = cache_location(cache_dir) / repo_folder_name(repo_id=repo_id, repo_type="model")
    partial = storage / "blobs" / f"{sha256}.incomplete"
    return partial.stat().st_size if partial.is_file() else 0


def _download(repo_id, filename, expected_sha256, on_progress, cancel, revision, cache: Path, endpoint, token) -> Path:
    # 1. The file's size and sha256 at one commit
    info = HfApi(endpoint=endpoint, token=token, library_name="kiln").model_info(
        repo_id, revision=revision, files_metadata=True
    )
    commit = info.sha
    sibling = next((s for s in info.siblings or [] if s.rfilename == filename), None)
    if sibling is None:
        raise RepoNotFound(f"'{repo_id}' has no file {filename} (it may have been moved or renamed); "
                           "add the file with Add file… if you have it.")
    sha256 = sibling.lfs.sha256 if sibling.lfs else None
    if expected_sha256 and sha256 != expected_sha256:
        raise DownloadError(f"{filename} in '{repo_id}' is not the file Kiln recommends (its content on the hub "
                            "changed), so it was not downloaded. Download the model from its authors and add it "
                            "with Add file….")
    planned = PlannedFile(filename, sibling.size or 0, sha256)
    storage = cache / repo_folder_name(repo_id=repo_id, repo_type="model")
    target = storage / "snapshots" / commit / filename

    # 2. Check the disk; progress starts at what is already there
    on_disk = _bytes_on_disk(storage, commit, planned)
    _check_free_space(storage, planned.size_bytes - on_disk, cache, repo_id)
    meter = _Meter(repo_id, planned.size_bytes, 1, on_progress)
    meter.current_file = filename
    meter.adjust(on_disk)

    # 3. Fetch (resuming a partial file), then let the library link it into the snapshot
    check_cancel(cancel, repo_id)
    fetch = {"repo_id": repo_id, "revision": revision, "cache_dir": str(cache), "endpoint": endpoint, "token": token}
    if not target.is_file():
        if sha256 is not None:
            url = hf_hub_url(repo_id, filename, revision=commit, endpoint=endpoint)
            headers = build_hf_headers(token=token, library_name="kiln")
            fetch_blob(url, headers, storage / "blobs" / sha256, planned, meter, cancel, repo_id)
        _link(hf_hub_download(filename=filename, **fetch), commit, repo_id)
        if sha256 is None:
            meter.received(planned.size_bytes)  # a small non-LFS file, fetched in one go by the library
    meter.file_done()
    return target
