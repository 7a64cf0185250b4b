"""Downloading models end to end against a loopback hub: progress, cancel, resume with Range,
only safetensors fetched, the result loads offline, errors a person can act on."""

from __future__ import annotations

import threading
import time

import pytest
from hub_server import HubServer, go_offline, point_hub_at

from inference.models import blob_download

from inference.models import downloads
from inference.models.downloads import download_model, select_files
from inference.core.errors import DiskFull, DownloadCancelled, HubUnreachable, RepoGated, RepoNotFound
from inference.models.hub_cache import cached_lora_file, cached_models, download_state, is_downloaded, weights_variant

REPO = "kiln-tests/tiny-sd"
# Served next to the diffusers folders, as real repos do; none of them may be fetched.
EXTRAS = {
    "unet/diffusion_pytorch_model.bin": b"\x80\x04pickle" * 5000,
    "unet/diffusion_pytorch_model.non_ema.safetensors": b"x" * 5000,
    "tiny-pruned.ckpt": b"\x80\x04pickle" * 5000,
    "tiny-pruned.safetensors": b"y" * 50_000,
    "README.md": b"# tiny\n",
}


def _needed(folder) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def hub(monkeypatch, tmp_path, tiny_model_dir):
    with HubServer(chunk_bytes=64 * 1024) as server:
        server.add_folder(REPO, tiny_model_dir, extra=EXTRAS)
        point_hub_at(monkeypatch, server.endpoint, tmp_path / "hf-cache")
        server.cache_dir = tmp_path / "hf-cache"
        yield server


def test_download_reports_progress_fetches_only_what_loads_and_loads_offline(hub, tiny_model_dir, monkeypatch):
    events = []
    started = time.perf_counter()
    snapshot = download_model(REPO, on_progress=events.append)
    seconds = time.perf_counter() - started

    needed = _needed(tiny_model_dir)
    total_bytes = sum(needed.values())
    assert events and all(e.bytes_total == total_bytes for e in events)
    done = [e.bytes_done for e in events]
    assert done == sorted(done) and done[-1] == total_bytes and len(set(done)) > 3
    assert events[-1].files_done == events[-1].files_total == len(needed)
    assert hub.fetched_files() == set(needed)  # no pickle, no non_ema variant, no root single-file copy
    assert snapshot == hub.cache_dir / f"models--{REPO.replace('/', '--')}" / "snapshots" / hub.repos[REPO].commit
    assert is_downloaded(REPO) and download_state(REPO) == "complete"
    assert [m.repo_id for m in cached_models()] == [REPO]
    print(f"loopback download: {total_bytes / seconds / 1e6:.0f} MB/s ({total_bytes / 1e6:.1f} MB in {seconds:.2f} s)")

    # A second call finds everything in the cache and fetches nothing.
    before = len(hub.requests("GET", "/resolve/"))
    download_model(REPO)
    assert len(hub.requests("GET", "/resolve/")) == before

    go_offline(monkeypatch)
    from inference.hardware.devices import choose_device
    from inference.models.loading import load_model

    model = load_model(REPO, choose_device("cpu"))
    assert model.family == "sd1" and not model.inpainting


def test_cancel_midway_keeps_the_partial_and_the_next_call_resumes_with_a_range(hub, tiny_model_dir):
    hub.chunk_delay_s = 0.002  # ~30 MB/s, so the cancel lands inside the 13 MB text encoder file
    big_file = "text_encoder/model.safetensors"
    big_size = (tiny_model_dir / big_file).stat().st_size
    cancel = threading.Event()
    cancelled_at = []

    def on_progress(event):
        if event.current_file == big_file and event.bytes_done > 8_000_000 and not cancel.is_set():
            cancel.set()
            cancelled_at.append(time.perf_counter())

    with pytest.raises(DownloadCancelled, match="resume"):
        download_model(REPO, on_progress=on_progress, cancel=cancel)
    latency_ms = (time.perf_counter() - cancelled_at[0]) * 1000
    print(f"cancel latency: {latency_ms:.1f} ms")
    assert latency_ms < 500

    partials = list(hub.cache_dir.glob("models--*/blobs/*.incomplete"))
    assert len(partials) == 1 and 0 < partials[0].stat().st_size < big_size
    kept_bytes = partials[0].stat().st_size
    assert download_state(REPO) == "partial" and not is_downloaded(REPO)

    hub.chunk_delay_s = 0.0
    events = []
    download_model(REPO, on_progress=events.append)
    ranged = [r for r in hub.requests("GET", big_file) if r.range]
    assert [r.range for r in ranged] == [f"bytes={kept_bytes}-"]
    assert ranged[0].status == 206 and ranged[0].body_bytes == big_size - kept_bytes < big_size
    assert events[0].bytes_done >= kept_bytes  # progress starts where the first attempt stopped
    assert is_downloaded(REPO) and not list(hub.cache_dir.glob("models--*/blobs/*.incomplete"))


def test_a_dropped_connection_reconnects_with_a_range_and_finishes(hub, tiny_model_dir, monkeypatch):
    monkeypatch.setattr(blob_download, "STREAM_RETRY_WAIT_S", 0.01)
    hub.drop_once["unet/diffusion_pytorch_model.safetensors"] = 3_000_000
    download_model(REPO)
    gets = hub.requests("GET", "unet/diffusion_pytorch_model.safetensors")
    assert [r.range for r in gets] == [None, f"bytes={gets[0].body_bytes}-"]
    assert is_downloaded(REPO)


def test_a_missing_repo_says_what_to_check(hub):
    with pytest.raises(RepoNotFound, match="no model 'nobody/nothing'.*Check the name"):
        download_model("nobody/nothing")
    assert download_state("nobody/nothing") == "absent"


def test_a_gated_repo_says_to_accept_the_license_and_log_in(hub, tiny_model_dir):
    hub.add_folder("corp/gated", tiny_model_dir)
    hub.repos["corp/gated"].gated = True
    with pytest.raises(RepoGated, match="accept its license.*log in"):
        download_model("corp/gated")


def test_no_network_and_offline_mode_are_explained(hub, monkeypatch):
    with pytest.raises(HubUnreachable, match="Could not reach"):
        download_model(REPO, endpoint="http://127.0.0.1:9")  # discard port: nothing listens
    go_offline(monkeypatch)
    with pytest.raises(HubUnreachable, match="HF_HUB_OFFLINE"):
        download_model(REPO)


def test_a_full_disk_is_reported_before_fetching_the_weights(hub, monkeypatch):
    class Usage:
        free = 1_000_000

    monkeypatch.setattr(downloads.shutil, "disk_usage", lambda _path: Usage)
    with pytest.raises(DiskFull, match="needs .* more, but only 1.0 MB is free.*HF_HUB_CACHE"):
        download_model(REPO)
    assert not any(".safetensors" in r.path for r in hub.requests("GET", "/resolve/"))


def test_the_fp16_variant_is_fetched_when_the_repo_has_one(hub, tiny_model_dir, monkeypatch):
    plain = {p: (tiny_model_dir / p).read_bytes() for p in _needed(tiny_model_dir) if p.endswith(".safetensors")}
    fp16 = {p.replace(".safetensors", ".fp16.safetensors"): data for p, data in plain.items()}
    hub.add_folder("kiln-tests/tiny-fp16", tiny_model_dir, extra=fp16)
    snapshot = download_model("kiln-tests/tiny-fp16")
    weights = {p for p in hub.fetched_files() if p.endswith(".safetensors")}
    assert weights == set(fp16)
    assert weights_variant(snapshot) == "fp16" and is_downloaded("kiln-tests/tiny-fp16")

    go_offline(monkeypatch)
    from inference.hardware.devices import choose_device
    from inference.models.loading import load_model

    model = load_model("kiln-tests/tiny-fp16", choose_device("cpu"))  # Kiln's own loader finds the variant
    assert model.base.unet.config.in_channels == 4


def test_models_other_tools_downloaded_are_listed(hub):
    from huggingface_hub import snapshot_download

    snapshot_download(REPO, allow_patterns=["model_index.json", "*/*.json", "*/*.txt", "*/diffusion_pytorch_model.safetensors", "*/model.safetensors"])
    assert is_downloaded(REPO)
    assert [m.repo_id for m in cached_models()] == [REPO]


def test_file_selection_follows_the_pipeline_and_prefers_fp16():
    model_index = {
        "_class_name": "StableDiffusionPipeline",
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "PNDMScheduler"],
        "safety_checker": [None, None],
    }
    repo = [
        "model_index.json", "README.md", "v1-5-pruned.safetensors", "v1-5-pruned.ckpt",
        "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors",
        "unet/diffusion_pytorch_model.non_ema.safetensors", "unet/diffusion_pytorch_model.bin",
        "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "vae/diffusion_pytorch_model.bin",
        "text_encoder/config.json", "text_encoder/model.fp16-00001-of-00002.safetensors",
        "text_encoder/model.fp16-00002-of-00002.safetensors", "text_encoder/model.safetensors.index.fp16.json",
        "text_encoder/pytorch_model.bin", "text_encoder/pytorch_model.bin.index.json",
        "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/tokenizer_config.json",
        "scheduler/scheduler_config.json",
        "safety_checker/config.json", "safety_checker/model.safetensors",
        "onnx/unet/model.onnx",
    ]
    assert sorted(select_files(repo, model_index)) == sorted([
        "model_index.json",
        "unet/config.json", "unet/diffusion_pytorch_model.fp16.safetensors",
        "vae/config.json", "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/config.json", "text_encoder/model.fp16-00001-of-00002.safetensors",
        "text_encoder/model.fp16-00002-of-00002.safetensors", "text_encoder/model.safetensors.index.fp16.json",
        "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/tokenizer_config.json",
        "scheduler/scheduler_config.json",
    ])  # fmt: skip
    lora = ["README.md", "pytorch_lora_weights.safetensors", "image.png", "old/pytorch_lora_weights.bin"]
    assert select_files(lora, None) == ["pytorch_lora_weights.safetensors"]


def test_a_lora_repo_downloads_its_safetensors_file(hub):
    weights = b"lora" * 10_000
    hub.add_repo("kiln-tests/lcm-lora", {"pytorch_lora_weights.safetensors": weights, "README.md": b"#", "x.bin": b"p"})
    assert cached_lora_file("kiln-tests/lcm-lora") is None
    download_model("kiln-tests/lcm-lora")
    assert cached_lora_file("kiln-tests/lcm-lora").read_bytes() == weights
    assert is_downloaded("kiln-tests/lcm-lora") and cached_models() == []  # a LoRA is not a model to load


def test_progress_text_reads_like_a_person_wrote_it():
    event = downloads.DownloadProgress("a/b", 1_200_000_000, 4_300_000_000, 35e6, 100.4, "unet/x", 3, 9)
    assert event.summary() == "1.2 GB of 4.3 GB · 35 MB/s · 1 min 40 s left"
    assert downloads.DownloadProgress("a/b", 0, 10, 0.0, None, "", 0, 1).summary() == "0 B of 10 B · starting…"
    assert downloads.format_duration(7500) == "2 h 5 min"
