"""Opening restoration model files: kind and scale from the weights, and nothing unsafe runs."""

from __future__ import annotations

import pickle

import pytest
import torch

from inference.core.errors import ModelError, UnsafeCheckpoint
from inference.restoration_models.model_file import load_restoration_model, require_kind


def test_kind_and_scale_come_from_the_weights(tiny_upscaler, compact_upscaler, face_model, fill_model):
    up = load_restoration_model(tiny_upscaler)
    assert (up.kind, up.scale, up.architecture) == ("upscale", 4, "ESRGAN")
    compact = load_restoration_model(compact_upscaler)
    assert (compact.kind, compact.scale) == ("upscale", 2)
    face = load_restoration_model(face_model)
    assert (face.kind, face.scale, face.architecture) == ("face", 1, "GFPGAN")
    fill = load_restoration_model(fill_model)
    assert (fill.kind, fill.architecture) == ("fill", "LaMa")
    assert "×4" in up.describe() and "upscaler" in up.describe()


def test_plain_weights_pth_opens(tiny_upscaler, tmp_path):
    from safetensors.torch import load_file

    path = tmp_path / "weights.pth"
    torch.save({"params_ema": load_file(str(tiny_upscaler))}, path)  # Real-ESRGAN's own layout
    model = load_restoration_model(path)
    assert (model.kind, model.scale) == ("upscale", 4)


class _Payload:
    def __reduce__(self):
        import os

        return (os.system, (f"touch {_Payload.marker}",))


def test_a_pth_with_a_code_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload-ran"
    _Payload.marker = marker
    path = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(2), "surprise": _Payload()}, path)
    with pytest.raises(UnsafeCheckpoint, match="refuses"):
        load_restoration_model(path)
    assert not marker.exists()
    raw = tmp_path / "raw.pth"
    raw.write_bytes(pickle.dumps(_Payload(), protocol=2))
    with pytest.raises(UnsafeCheckpoint):
        load_restoration_model(raw)
    assert not marker.exists()


def test_a_pickle_renamed_safetensors_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    torch.save({"weight": torch.zeros(2)}, path)
    with pytest.raises(UnsafeCheckpoint):
        load_restoration_model(path)


def test_truncated_and_unknown_files_are_named(tiny_upscaler, tmp_path):
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(tiny_upscaler.read_bytes()[: tiny_upscaler.stat().st_size // 2])
    with pytest.raises(ModelError, match="cut.safetensors"):
        load_restoration_model(cut)
    from safetensors.torch import save_file

    unknown = tmp_path / "unknown.safetensors"
    save_file({"encoder.weight": torch.zeros(4, 4)}, str(unknown))
    with pytest.raises(ModelError, match="not a restoration model Kiln recognises"):
        load_restoration_model(unknown)
    with pytest.raises(ModelError, match="no model file"):
        load_restoration_model(tmp_path / "missing.safetensors")


def test_a_model_of_the_wrong_kind_is_refused_by_name(face_model):
    face = load_restoration_model(face_model)
    with pytest.raises(ModelError, match="face restorer .*not an upscaler"):
        require_kind(face, "upscale", "Upscale")
