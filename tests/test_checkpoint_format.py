"""Content sniffing of model files: pickles refused unopened, damaged files explained."""

from __future__ import annotations

import os
import pickle
import random
import shutil

import pytest
import torch

from inference.checkpoint_format import check_checkpoint_file, header_shapes
from inference.errors import ModelError, UnsafeCheckpoint


class Payload:
    """Unpickling this creates the folder ``marker``: stands in for arbitrary code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def _assert_refused(path):
    with pytest.raises(UnsafeCheckpoint) as caught:
        check_checkpoint_file(path)
    message = str(caught.value)
    assert "arbitrary code" in message and ".safetensors" in message
    return message


def test_valid_file_header_is_returned(tiny_single_file):
    header = check_checkpoint_file(tiny_single_file)
    assert header["__metadata__"] == {"format": "pt"}
    shapes = header_shapes(header)
    assert shapes["model.diffusion_model.input_blocks.0.0.weight"] == (32, 4, 3, 3)
    assert all(key.startswith(("model.", "first_stage_model.", "cond_stage_model.")) for key in shapes)


def test_the_payload_is_live(tmp_path):
    # Control: proves the payload used below really runs code when unpickled.
    pickle.loads(pickle.dumps(Payload(tmp_path / "ran")))
    assert (tmp_path / "ran").is_dir()


def test_torch_checkpoint_is_refused_under_any_name(tmp_path):
    from inference.single_file import inspect_checkpoint, load_single_file

    marker = tmp_path / "marker"
    ckpt = tmp_path / "model.ckpt"
    torch.save({"state_dict": {"weight": torch.zeros(2), "evil": Payload(marker)}}, ckpt)
    renamed = tmp_path / "model.safetensors"
    shutil.copyfile(ckpt, renamed)

    for path in (ckpt, renamed):
        assert "PyTorch pickle" in _assert_refused(path)
        with pytest.raises(UnsafeCheckpoint):
            inspect_checkpoint(path)
        with pytest.raises(UnsafeCheckpoint):
            load_single_file(path)
    assert not marker.exists()


def test_plain_pickle_renamed_safetensors_is_refused(tmp_path):
    marker = tmp_path / "marker"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"weight": Payload(marker)}, protocol=4))
    assert "Python pickle" in _assert_refused(path)
    # Legacy (non-zip) torch.save starts with protocol 2.
    path.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    _assert_refused(path)
    assert not marker.exists()


def test_pickle_extension_without_known_magic_is_refused(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"(dp0\nS'weight'\np1\nI1\ns.")  # protocol-0 pickle: no PROTO opcode
    assert ".bin checkpoint" in _assert_refused(path)


def test_truncated_file_says_so(tiny_single_file, tmp_path):
    data = tiny_single_file.read_bytes()
    for cut in (len(data) // 2, 1000):  # inside the tensor data, inside the header
        path = tmp_path / f"cut-{cut}.safetensors"
        path.write_bytes(data[:cut])
        with pytest.raises(ModelError) as caught:
            check_checkpoint_file(path)
        message = str(caught.value)
        assert "truncated" in message and f"it is {cut} bytes" in message and "download it again" in message
        assert not isinstance(caught.value, UnsafeCheckpoint)


def test_header_inconsistent_with_shape_is_damaged(tmp_path):
    import json

    header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
    path = tmp_path / "bad.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(16))
    with pytest.raises(ModelError, match="damaged"):
        check_checkpoint_file(path)


def test_unknown_dtype_is_refused(tmp_path):
    import json

    header = json.dumps({"w": {"dtype": "Q4_K", "shape": [4], "data_offsets": [0, 2]}}).encode()
    path = tmp_path / "odd.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(2))
    with pytest.raises(ModelError, match="Q4_K"):
        check_checkpoint_file(path)


def test_empty_random_missing_and_folder(tmp_path):
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="empty"):
        check_checkpoint_file(empty)

    noise = tmp_path / "noise.safetensors"
    noise.write_bytes(random.Random(0).randbytes(4096))
    with pytest.raises(ModelError, match="not a model file Kiln can read") as caught:
        check_checkpoint_file(noise)
    assert not isinstance(caught.value, UnsafeCheckpoint)

    with pytest.raises(ModelError, match="no file at"):
        check_checkpoint_file(tmp_path / "missing.safetensors")
    with pytest.raises(ModelError, match="is a folder"):
        check_checkpoint_file(tmp_path)
