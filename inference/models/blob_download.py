"""One weight file from the hub into the Hugging Face cache: streamed into
``blobs/<sha256>.incomplete``, resumed with an HTTP Range request after a cancel or a dropped
connection, sha256-checked, then renamed to its blob name. Requests use huggingface_hub's HTTP
session, headers and error types (see ``inference.models.downloads`` for why Kiln streams these itself).
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import httpx2
from filelock import FileLock
from filelock import Timeout as FileLockTimeout
from huggingface_hub import constants
from huggingface_hub.utils import hf_raise_for_status, http_stream_backoff

from inference.core.errors import DownloadCancelled, DownloadError

MAX_STREAM_RETRIES = 5  # reconnects (with Range) after a dropped connection that had made progress
STREAM_RETRY_WAIT_S = 1.0
READ_BLOCK_BYTES = 8 * 1024 * 1024
LOCK_POLL_S = 0.25  # how often a download waiting for another one's file lock checks its cancel event


def fetch_blob(url, headers, blob: Path, planned, meter, cancel, repo_id) -> None:
    """Make ``blob`` hold ``planned``'s bytes, resuming ``<blob>.incomplete``; sha256-checked.

    A lock file keeps two Kilns (or two dialogs) from appending to the same partial file.
    """
    storage = blob.parent.parent  # next to the library's own <cache>/.locks/<repo>/<etag>.lock, another name
    lock = FileLock(str(storage.parent / ".locks" / storage.name / f"{blob.name}.kiln.lock"))
    Path(lock.lock_file).parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            lock.acquire(timeout=LOCK_POLL_S)
            break
        except FileLockTimeout:
            check_cancel(cancel, repo_id)
    try:
        if not blob.is_file():  # another download may have finished it while we waited
            _PartialBlob(blob, planned, meter, cancel, repo_id).complete(url, headers)
    finally:
        lock.release()


class _PartialBlob:
    """``<blob>.incomplete``: its length and running sha256 always match the bytes written."""

    def __init__(self, blob: Path, planned, meter, cancel: threading.Event, repo_id: str):
        self.blob, self.planned, self.meter, self.cancel, self.repo_id = blob, planned, meter, cancel, repo_id
        self.path = blob.with_name(blob.name + ".incomplete")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.digest = hashlib.sha256()
        self.done_bytes = 0
        if self.path.is_file():
            with self.path.open("rb") as f:
                while block := f.read(READ_BLOCK_BYTES):
                    self.digest.update(block)
                    self.done_bytes += len(block)

    def complete(self, url: str, headers: dict) -> None:
        """Fetch the rest, check size and sha256, rename to the blob. A dropped connection that had
        made progress reconnects from where it stopped (up to MAX_STREAM_RETRIES times)."""
        retries = 0
        while self.done_bytes < self.planned.size_bytes:
            before_bytes = self.done_bytes
            try:
                self._stream(url, headers)
            except (httpx2.NetworkError, httpx2.TimeoutException, httpx2.RemoteProtocolError):
                retries += 1
                if self.done_bytes == before_bytes or retries > MAX_STREAM_RETRIES:
                    raise
                if self.cancel.wait(STREAM_RETRY_WAIT_S):
                    check_cancel(self.cancel, self.repo_id)
                continue
            if self.done_bytes == before_bytes:
                raise DownloadError(f"the hub sent no data for {self.planned.path} of '{self.repo_id}'; try again later.")
        if self.done_bytes != self.planned.size_bytes or self.digest.hexdigest() != self.planned.sha256:
            self.path.unlink(missing_ok=True)  # a damaged prefix must not be resumed again
            raise DownloadError(
                f"{self.planned.path} of '{self.repo_id}' arrived damaged (its checksum does not match); download again."
            )
        os.replace(self.path, self.blob)

    def _stream(self, url: str, headers: dict) -> None:
        """One GET from ``done_bytes`` on, appended to the partial file."""
        request_headers = {**headers, "Accept-Encoding": "identity"}  # sizes and ranges are of the raw bytes
        if self.done_bytes:
            request_headers["Range"] = f"bytes={self.done_bytes}-"
        # retry_on_exceptions=() because a read error inside the body must reach us, not restart the GET
        with http_stream_backoff(
            "GET", url, headers=request_headers, timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT,
            retry_on_exceptions=(), retry_on_status_codes=(429, 500, 502, 503, 504), max_retries=3, max_wait_time=4,
        ) as response:
            if response.status_code >= 400:
                response.read()  # so the error can quote the hub's message
                hf_raise_for_status(response)
            mode = "ab"
            if self.done_bytes and response.status_code != 206:  # the server ignored the Range: start over
                self.meter.adjust(-self.done_bytes)
                self.done_bytes, self.digest, mode = 0, hashlib.sha256(), "wb"
            with self.path.open(mode) as f:
                for chunk in response.iter_bytes():
                    f.write(chunk)
                    self.digest.update(chunk)
                    self.done_bytes += len(chunk)
                    self.meter.received(len(chunk))
                    check_cancel(self.cancel, self.repo_id)


def check_cancel(cancel: threading.Event, repo_id: str) -> None:
    if cancel.is_set():
        raise DownloadCancelled(f"Download of '{repo_id}' cancelled. Download it again to resume where it stopped.")
