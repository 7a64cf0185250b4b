"""Content sniffing of model files: pickles refused unopened, damaged files explained."""

from __future__ import annotations

import os
import pickle
import random
import shutil

import pytest
import torch

from inference.models.checkpoint_format import check_checkpoint_file, header_shapes
from inference.core.errors import ModelError, UnsafeCheckpoint


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
    from inference.models.single_file import inspect_checkpoint, load_single_file

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


def test_deeply_nested_header_is_damaged_not_a_recursion_error(tmp_path):
    depth = 100_000  # far past Python's recursion limit
    nested = b'{"__metadata__": ' + b"[" * depth + b"]" * depth + b"}"
    path = _raw_safetensors(tmp_path / "deep.safetensors", None, 0, header_bytes=nested)
    message = _message(path)
    assert "damaged" in message and "nested too deeply" in message


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


# --- damaged and foreign files: one clear line each -----------------------------------------------


def _message(path, error=ModelError) -> str:
    """The one-line message ``check_checkpoint_file(path)`` refuses ``path`` with."""
    with pytest.raises(error) as caught:
        check_checkpoint_file(path)
    if error is ModelError:
        assert not isinstance(caught.value, UnsafeCheckpoint), str(caught.value)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(path.name), message
    return message


def _raw_safetensors(path, header, data_bytes: int, header_bytes: bytes | None = None):
    """A file with ``header`` (or ``header_bytes`` verbatim) and ``data_bytes`` zero bytes of data."""
    import json

    raw = json.dumps(header).encode() if header_bytes is None else header_bytes
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(data_bytes))
    return path


def _foreign_bytes(kind: str) -> bytes:
    import gzip
    import io
    import zipfile

    from PIL import Image

    if kind in ("PNG", "JPEG", "GIF"):
        buffer = io.BytesIO()
        Image.new("RGB", (8, 8), "red").save(buffer, format=kind)
        return buffer.getvalue()
    if kind == "zip":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("model/model.safetensors", b"not really")
        return buffer.getvalue()
    return {
        "web page": b"\n  <!DOCTYPE html><html><head><title>Sign in</title></head></html>",
        "GGUF": b"GGUF\x03\x00\x00\x00" + bytes(64),
        "gzip": gzip.compress(b"some model"),
    }[kind]


@pytest.mark.parametrize("kind", ["PNG", "JPEG", "GIF", "zip", "web page", "GGUF", "gzip"])
def test_foreign_file_renamed_safetensors_is_named(kind, tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(_foreign_bytes(kind))
    message = _message(path)
    assert kind in message and "not a model file" in message


def test_zip_that_is_not_a_torch_checkpoint_is_refused_by_name_only(tmp_path):
    # A plain zip is not called a pickle, unless its name says it is one.
    path = tmp_path / "model.ckpt"
    path.write_bytes(_foreign_bytes("zip"))
    assert ".ckpt checkpoint" in _assert_refused(path)


def test_header_claiming_more_data_than_exists_is_truncated(tmp_path):
    entry = {"w": {"dtype": "F32", "shape": [100], "data_offsets": [0, 400]}}
    message = _message(_raw_safetensors(tmp_path / "short.safetensors", entry, data_bytes=16))
    assert "truncated" in message and "download it again" in message

    # The 8-byte length field itself points past the end of the file.
    path = tmp_path / "short-header.safetensors"
    path.write_bytes((10_000).to_bytes(8, "little") + b'{"w": {}}')
    assert "truncated" in _message(path) and "header says 10008" in _message(path)


def test_header_that_is_not_a_json_object(tmp_path):
    path = _raw_safetensors(tmp_path / "list.safetensors", None, 0, header_bytes=b"[1, 2, 3]")
    assert "not in the safetensors format" in _message(path)
    path = _raw_safetensors(tmp_path / "broken.safetensors", None, 0, header_bytes=b'{"w": {"dtype": ')
    assert "header is not valid JSON" in _message(path)
    path = _raw_safetensors(tmp_path / "entry.safetensors", {"w": [0, 4]}, 4)
    assert "entry for tensor 'w' is malformed" in _message(path)
    path = _raw_safetensors(tmp_path / "meta.safetensors", {"__metadata__": ["format", "pt"]}, 0)
    assert "metadata is not a JSON object" in _message(path)


@pytest.mark.parametrize(
    "offsets, data_bytes, phrase",
    [
        ([[0, 8], [4, 12]], 12, "tensors 'a' and 'b' overlap"),
        ([[0, 8], [12, 20]], 20, "bytes 8 to 12 of its tensor data belong to no tensor"),
        ([[0, 8], [8, 16]], 24, "8 bytes after its last tensor"),
    ],
    ids=["overlap", "gap", "trailing"],
)
def test_tensor_data_must_tile_the_file(offsets, data_bytes, phrase, tmp_path):
    # safetensors refuses these too, but only later, deep inside a loader.
    header = {name: {"dtype": "F32", "shape": [2], "data_offsets": span} for name, span in zip("ab", offsets)}
    message = _message(_raw_safetensors(tmp_path / "odd.safetensors", header, data_bytes))
    assert "damaged" in message and phrase in message


def test_valid_hand_written_file_passes_and_loads(tmp_path):
    # Control for the cases above: the same layout, tiled exactly, is accepted by both readers.
    from safetensors.torch import load_file

    header = {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
              "b": {"dtype": "F16", "shape": [2, 2], "data_offsets": [8, 16]}}
    path = _raw_safetensors(tmp_path / "ok.safetensors", header, 16)
    assert header_shapes(check_checkpoint_file(path)) == {"a": (2,), "b": (2, 2)}
    assert load_file(str(path))["b"].shape == (2, 2)
