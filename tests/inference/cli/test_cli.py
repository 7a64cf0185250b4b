"""The command line as a user runs it: real processes, one-line errors, files written."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from inference.files.metadata import parse_parameters

ROOT = Path(__file__).resolve().parents[3]


def kiln(*args, timeout=300):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT,
    )


@pytest.fixture(scope="module")
def photo_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "photo.png"
    yy, xx = np.mgrid[0:64, 0:64]
    Image.fromarray(np.stack([xx * 4, yy * 4, xx + yy], -1).astype(np.uint8)).save(path)
    return path


def test_generate_txt2img_writes_png_with_parameters_and_steps(tiny_model_dir, tmp_path):
    out, steps_dir = tmp_path / "out.png", tmp_path / "steps"
    done = kiln("generate", "--model", tiny_model_dir, "--prompt", "a lighthouse", "--negative", "blurry",
                "--width", 64, "--height", 48, "--steps", 3, "--seed", 5, "--scheduler", "euler_a",
                "--out", out, "--save-steps", steps_dir)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    image = Image.open(out)
    assert image.size == (64, 48)
    params = parse_parameters(image.text["parameters"])
    assert params == {"prompt": "a lighthouse", "negative_prompt": "blurry", "steps": 3, "guidance": 7.5,
                      "seed": 5, "scheduler": "euler_a", "width_px": 64, "height_px": 48, "model": tiny_model_dir.name}
    saved = sorted(p.name for p in steps_dir.iterdir())
    assert saved == [f"step_{i:03d}.png" for i in range(1, len(saved) + 1)] and len(saved) >= 3
    assert Image.open(steps_dir / saved[0]).size == (64, 48)


def test_generate_inpaint_keeps_pixels_outside_the_mask(tiny_model_dir, photo_file, tmp_path):
    mask = np.zeros((64, 64), np.uint8)
    mask[20:40, 20:40] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "fixed.png"
    done = kiln("generate", "--model", tiny_model_dir, "--prompt", "x", "--image", photo_file,
                "--mask", tmp_path / "mask.png", "--steps", 2, "--seed", 1, "--out", out)
    assert done.returncode == 0, done.stderr
    result, original = np.array(Image.open(out)), np.array(Image.open(photo_file))
    assert result.shape == original.shape
    assert np.array_equal(result[:8], original[:8]) and np.array_equal(result[:, -8:], original[:, -8:])
    assert not np.array_equal(result[25:35, 25:35], original[25:35, 25:35])


@pytest.mark.parametrize(
    "case, expected",
    [
        ("missing-image", "does not exist"),
        ("mask-size", "the mask is 32×32 but the image is 64×64"),
        ("unknown-model", "not found"),
        ("pickle", "can run"),
        ("bad-size", "multiples of 8, got 100×64"),
        ("overwrite", "never writes over an original"),
        ("mask-without-image", "--mask needs --image"),
        ("broken-image", "not an image Kiln can read"),
        ("fp16-on-cpu", "fp16 on the CPU is very slow"),
        ("offload-on-cpu", "on the CPU they are already in system memory"),
        ("pickled-lora", "LoRA refused: lora.safetensors is a Python pickle"),
        ("lora-weight", "the LoRA weight must be between -2 and 2, got 3"),
        ("over-long-image-name", "cannot be read: File name too long"),
        ("image-under-a-file", "cannot be read: Not a directory"),
        ("deeply-nested-model", "deep.safetensors is damaged: its safetensors header is nested too deeply"),
        ("deeply-nested-lora", "LoRA refused: deep.safetensors is damaged: its safetensors header is nested too deeply"),
        ("model-index-a-list", "model_index.json holds an array, not an object of settings"),
    ],
)
def test_user_errors_are_one_line_and_exit_nonzero(case, expected, tiny_model_dir, photo_file, tmp_path):
    marker = tmp_path / "pwned"
    small_mask = tmp_path / "small.png"
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(small_mask)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    evil = tmp_path / "model.safetensors"
    evil.write_bytes(pickle.dumps(_Payload(str(marker))))
    out = tmp_path / "o.png"
    base = ["generate", "--model", tiny_model_dir, "--prompt", "x", "--steps", 1, "--out", out]
    args = {
        "missing-image": base + ["--image", tmp_path / "nope.png"],
        "mask-size": base + ["--image", photo_file, "--mask", small_mask],
        "unknown-model": ["generate", "--model", tmp_path / "no-model", "--prompt", "x", "--out", out],
        "pickle": ["generate", "--model", evil, "--prompt", "x", "--out", out],
        "bad-size": base + ["--width", 100, "--height", 64],
        "overwrite": ["generate", "--model", tiny_model_dir, "--prompt", "x", "--image", photo_file, "--out", photo_file],
        "mask-without-image": base + ["--mask", small_mask],
        "broken-image": base + ["--image", broken],
        "fp16-on-cpu": base + ["--precision", "fp16"],
        "offload-on-cpu": base + ["--memory", "offload"],
        "pickled-lora": base + ["--lora", _pickled_lora(tmp_path, marker)],
        "lora-weight": base + ["--lora", f"{photo_file}:3"],
        "over-long-image-name": base + ["--image", tmp_path / ("x" * 300 + ".png")],
        "image-under-a-file": base + ["--image", photo_file / "x.png"],
        "deeply-nested-model": ["generate", "--model", _deep_safetensors(tmp_path), "--prompt", "x", "--out", out],
        "deeply-nested-lora": base + ["--lora", _deep_safetensors(tmp_path)],
        "model-index-a-list": ["generate", "--model", _list_model(tmp_path), "--prompt", "x", "--out", out],
    }[case]
    before = photo_file.read_bytes()
    done = kiln(*args)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("kiln: error:")]
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists() and not marker.exists()
    assert photo_file.read_bytes() == before


def _deep_safetensors(folder):
    """A safetensors file whose JSON header nests 100 000 arrays deep (a valid length prefix)."""
    header = b'{"__metadata__": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path = folder / "deep.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    return path


def _list_model(folder):
    model = folder / "list-model"
    model.mkdir(exist_ok=True)
    (model / "model_index.json").write_text("[1, 2]")
    return model


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _pickled_lora(folder, marker):
    path = folder / "lora.safetensors"
    path.write_bytes(pickle.dumps(_Payload(str(marker))))
    return path


def test_generate_with_a_lora_precision_and_memory_mode(tiny_model_dir, tmp_path):
    from tiny_lora import save_unet_lora

    from inference.models.tiny_model import build_tiny_pipeline

    lora = save_unet_lora(build_tiny_pipeline().unet, tmp_path)
    out = tmp_path / "styled.png"
    done = kiln("generate", "--model", tiny_model_dir, "--prompt", "a barn", "--width", 64, "--height", 64,
                "--steps", 2, "--seed", 3, "--lora", f"{lora}:0.7", "--precision", "fp32", "--memory", "slicing",
                "--out", out)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "fp32" in done.stderr
    assert Image.open(out).size == (64, 64)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("style.safetensors", ("style.safetensors", 1.0)),
        ("style.safetensors:0.8", ("style.safetensors", 0.8)),
        ("loras/a:b.safetensors", ("loras/a:b.safetensors", 1.0)),
        ("C:\\loras\\x.safetensors", ("C:\\loras\\x.safetensors", 1.0)),
        ("C:\\loras\\x.safetensors:-1", ("C:\\loras\\x.safetensors", -1.0)),
    ],
)
def test_lora_argument_is_path_and_optional_weight(text, expected):
    from inference.cli.generate import parse_lora_arg

    assert parse_lora_arg(text) == expected


def test_make_test_model_single_file_and_help(tmp_path):
    done = kiln("make-test-model", tmp_path / "tiny", "--inpainting", "--single-file")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "tiny.safetensors").stat().st_size > 1_000_000
    usage = kiln("generate", "--help")
    assert usage.returncode == 0 and "--save-steps" in usage.stdout and "--strength" in usage.stdout


def test_generate_flag_choices_match_the_engines_names():
    import main
    from inference.hardware.devices import PRECISIONS
    from inference.hardware.memory import MEMORY_MODE_NAMES

    generate = next(a for a in main.build_parser()._actions if a.dest == "command").choices["generate"]
    choices = {a.dest: a.choices for a in generate._actions if a.choices}
    assert tuple(choices["precision"]) == PRECISIONS and tuple(choices["memory"]) == MEMORY_MODE_NAMES


def test_ctrl_c_during_generate_stops_cleanly_with_the_right_step(tiny_model_dir, tmp_path):
    """Ctrl+C after the first step: exit 130, the step reached in the message, no abort, no output."""
    import re
    import signal
    import time

    out, steps_dir = tmp_path / "never.png", tmp_path / "steps"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "generate", "--model", str(tiny_model_dir), "--prompt", "x",
         "--width", "128", "--height", "128", "--steps", "60", "--seed", "2", "--out", str(out),
         "--save-steps", str(steps_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 240
        while not (steps_dir / "step_001.png").exists():
            assert process.poll() is None and time.monotonic() < deadline, process.communicate()
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)
        _stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert "terminate called" not in stderr and "Traceback" not in stderr, stderr
    assert not out.exists()
    reached = re.findall(r"cancelled after step (\d+)", stderr)
    saved = len(list(steps_dir.iterdir()))
    assert reached == [str(saved)] and 1 <= saved < 60, stderr


def test_step_previews_never_replace_an_input(tiny_model_dir, photo_file, tmp_path):
    """--image D/step_001.png --save-steps D: the input stays; the first preview takes another name."""
    folder = tmp_path / "D"
    folder.mkdir()
    given = folder / "step_001.png"
    given.write_bytes(photo_file.read_bytes())
    out = tmp_path / "out.png"
    done = kiln("generate", "--model", tiny_model_dir, "--prompt", "x", "--image", given, "--steps", 4, "--seed", 1,
                "--save-steps", folder, "--out", out)
    assert done.returncode == 0, done.stderr
    assert given.read_bytes() == photo_file.read_bytes()
    names = sorted(p.name for p in folder.iterdir())
    assert "step_001-2.png" in names and "step_002.png" in names
    assert Image.open(folder / "step_001-2.png").size == Image.open(given).size


ENGINE_JOB = """
import sys
from threading import Event
from inference.core.api import GenerationRequest, JobFinished, Mode
from inference.engine.engine import Engine, run_job
request = GenerationRequest(job_id=1, mode=Mode.TXT2IMG, prompt="x", model_ref=sys.argv[1], width_px=64,
                            height_px=64, steps=2, seed=1)
final = run_job(Engine(), request, lambda event: None, Event())
assert isinstance(final, JobFinished), final
print("done")
"""


def test_a_first_generation_prints_no_library_chatter(tiny_model_dir, tiny_single_file, tmp_path):
    """The editor's way (the engine in a fresh process) and ``generate``: no torchvision notices and
    no library progress bars on the terminal; generate's lines are all its own."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    for model in (tiny_model_dir, tiny_single_file):
        done = subprocess.run([sys.executable, "-c", ENGINE_JOB, str(model)], capture_output=True, text=True,
                              env=env, cwd=ROOT, timeout=300)
        assert done.returncode == 0 and done.stdout.strip() == "done", done.stderr
        assert done.stderr.strip() == "", done.stderr
    done = kiln("generate", "--model", tiny_model_dir, "--prompt", "x", "--width", 64, "--height", 64, "--steps", 2,
                "--out", tmp_path / "o.png")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.replace("\r", "\n").splitlines() if line.strip()]
    assert lines and all(line.startswith("kiln") for line in lines), done.stderr


def test_the_quieting_keeps_errors_and_real_warnings():
    import logging

    from inference.models.quiet import quiet_import_notices

    quiet_import_notices()
    notices = logging.getLogger("transformers.utils.import_utils")
    assert notices.isEnabledFor(logging.ERROR) and not notices.isEnabledFor(logging.WARNING)
    modeling = logging.getLogger("diffusers.models.modeling_utils")

    def record(message):
        return logging.LogRecord(modeling.name, logging.WARNING, __file__, 1, message, None, None)

    empty = "There are modules in AutoencoderKL that should be kept in float32: []. Casting directly…"
    named = "There are modules in AutoencoderKL that should be kept in float32: ['norm']. Casting directly…"
    assert not modeling.filter(record(empty)) and modeling.filter(record(named))
    assert modeling.filter(record("Some weights of the model checkpoint were not used"))
