"""Single-file SD checkpoints: export layout, detection from tensors, offline loading."""

from __future__ import annotations

import json
import math
import shutil
import time

import numpy as np
import pytest
import torch

from inference.models.checkpoint_export import (
    OPEN_CLIP_PREFIX,
    SDXL_TEXT_2_PREFIX,
    original_layout_state_dict,
    save_original_layout,
)
from inference.core.errors import ModelError
from inference.models.model_configs import meta_models
from inference.models.single_file import inspect_checkpoint, load_single_file
from inference.models.tiny_families import build_tiny_family_pipeline

GEN = dict(prompt="a red barn", height=128, width=128, num_inference_steps=4, output_type="np")
VARIANTS = [(family, inpainting) for family in ("sd1", "sd2", "sdxl") for inpainting in (False, True)]
PIPELINES = {
    ("sd1", False): "StableDiffusionPipeline",
    ("sd1", True): "StableDiffusionInpaintPipeline",
    ("sd2", False): "StableDiffusionPipeline",
    ("sd2", True): "StableDiffusionInpaintPipeline",
    ("sdxl", False): "StableDiffusionXLPipeline",
    ("sdxl", True): "StableDiffusionXLInpaintPipeline",
}


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # On this 2-core machine two intra-op threads next to other busy processes run 20-50x
    # slower; one thread is fast and still bit-identical between the two pipelines compared.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _images(pipe, **extra) -> np.ndarray:
    return pipe(generator=torch.Generator("cpu").manual_seed(1), **GEN, **extra).images


def _inpaint_inputs(size_px: int = 128) -> dict:
    from PIL import Image

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (size_px, size_px, 3), dtype=np.uint8)
    mask = np.zeros((size_px, size_px), dtype=np.uint8)
    mask[size_px // 4 : 3 * size_px // 4, size_px // 4 : 3 * size_px // 4] = 255
    return dict(image=Image.fromarray(image), mask_image=Image.fromarray(mask))


def _assert_round_trip(models: dict, family: str, compare_values: bool) -> dict:
    """Export to the original layout, convert back with diffusers' converters, compare every tensor."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_clip_checkpoint,
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        convert_open_clip_checkpoint,
    )

    unet, vae, text_encoder = models["unet"], models["vae"], models["text_encoder"]
    state = original_layout_state_dict(unet, vae, text_encoder, models.get("text_encoder_2"), family)
    if family == "sd2":
        text = convert_open_clip_checkpoint(text_encoder, state, prefix=OPEN_CLIP_PREFIX)
    else:
        text = convert_ldm_clip_checkpoint(state)
    back = {
        "unet": convert_ldm_unet_checkpoint(state, unet.config),
        "vae": convert_ldm_vae_checkpoint(state, vae.config),
        # transformers >= 5.6 CLIPTextModel has no text_model level
        "text_encoder": {k.removeprefix("text_model."): v for k, v in text.items()},
    }
    if family == "sdxl":
        back["text_encoder_2"] = convert_open_clip_checkpoint(models["text_encoder_2"], state, SDXL_TEXT_2_PREFIX)
    for name, converted in back.items():
        reference = models[name].state_dict()
        assert set(converted) == set(reference), name
        for key, tensor in reference.items():
            assert converted[key].shape == tensor.shape, key
            if compare_values:
                assert torch.equal(converted[key], tensor), key
    return state


# --- export ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("family, inpainting", VARIANTS)
def test_tiny_export_round_trips_through_diffusers_converters(family, inpainting):
    pipe = build_tiny_family_pipeline(family, inpainting=inpainting)
    state = _assert_round_trip(pipe.components, family, compare_values=True)
    assert state["model.diffusion_model.input_blocks.0.0.weight"].shape[1] == (9 if inpainting else 4)
    assert state["first_stage_model.encoder.mid.attn_1.q.weight"].ndim == 4  # 1×1 conv, as in LDM


# Tensors of real checkpoints of each family, with their shapes.
LANDMARKS = {
    "sd1": {
        "model.diffusion_model.output_blocks.11.0.skip_connection.weight": (320, 640, 1, 1),
        "model.diffusion_model.output_blocks.2.1.conv.weight": (1280, 1280, 3, 3),
        "model.diffusion_model.output_blocks.5.2.conv.weight": (1280, 1280, 3, 3),
        "model.diffusion_model.input_blocks.3.0.op.weight": (320, 320, 3, 3),
        "first_stage_model.decoder.up.0.block.0.nin_shortcut.weight": (128, 256, 1, 1),
        "first_stage_model.encoder.mid.attn_1.proj_out.weight": (512, 512, 1, 1),
        "cond_stage_model.transformer.text_model.final_layer_norm.weight": (768,),
    },
    "sd2": {
        "model.diffusion_model.input_blocks.1.1.proj_in.weight": (320, 320),  # linear, not 1×1 conv
        "model.diffusion_model.input_blocks.2.1.transformer_blocks.0.attn2.to_k.weight": (320, 1024),
        "cond_stage_model.model.token_embedding.weight": (49408, 1024),
        "cond_stage_model.model.positional_embedding": (77, 1024),
        "cond_stage_model.model.transformer.resblocks.22.attn.in_proj_weight": (3072, 1024),
        "cond_stage_model.model.transformer.resblocks.22.attn.out_proj.bias": (1024,),
        "cond_stage_model.model.transformer.resblocks.22.mlp.c_fc.weight": (4096, 1024),
        "cond_stage_model.model.ln_final.weight": (1024,),
    },
    "sdxl": {
        "model.diffusion_model.label_emb.0.0.weight": (1280, 2816),
        "model.diffusion_model.label_emb.0.2.weight": (1280, 1280),
        "model.diffusion_model.input_blocks.3.0.op.weight": (320, 320, 3, 3),
        "model.diffusion_model.input_blocks.7.1.transformer_blocks.9.attn2.to_k.weight": (1280, 2048),
        "model.diffusion_model.middle_block.1.transformer_blocks.9.ff.net.2.weight": (1280, 5120),
        "model.diffusion_model.output_blocks.2.2.conv.weight": (1280, 1280, 3, 3),
        "model.diffusion_model.output_blocks.5.2.conv.weight": (640, 640, 3, 3),
        "conditioner.embedders.0.transformer.text_model.encoder.layers.11.mlp.fc2.weight": (768, 3072),
        "conditioner.embedders.1.model.positional_embedding": (77, 1280),
        "conditioner.embedders.1.model.text_projection": (1280, 1280),
        "conditioner.embedders.1.model.transformer.resblocks.31.attn.in_proj_weight": (3840, 1280),
    },
}


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_full_size_export_matches_diffusers_layout(family):
    state = _assert_round_trip(meta_models(family, inpainting=False), family, compare_values=False)
    for key, shape in LANDMARKS[family].items():
        assert tuple(state[key].shape) == shape, key


# --- detection and loading ------------------------------------------------------------------------


def test_tiny_single_file_is_bit_identical_to_folder(tiny_single_file, tiny_model_dir):
    from diffusers import StableDiffusionPipeline

    pipe, info = load_single_file(tiny_single_file, torch.float32)
    assert (info.family, info.inpainting, info.dtype) == ("sd1", False, "F32")
    assert type(pipe) is StableDiffusionPipeline and pipe.safety_checker is None
    folder = StableDiffusionPipeline.from_pretrained(tiny_model_dir, use_safetensors=True)
    for p in (pipe, folder):
        p.set_progress_bar_config(disable=True)
    assert np.array_equal(_images(pipe), _images(folder))


def test_tiny_inpaint_single_file_is_detected_and_bit_identical(
    tiny_inpaint_single_file, tiny_inpaint_dir, tmp_path
):
    from diffusers import StableDiffusionInpaintPipeline

    # A name that says nothing (or the wrong thing) about inpainting, and a pickle-like suffix.
    misleading = tmp_path / "sd15-base-txt2img.ckpt"
    shutil.copyfile(tiny_inpaint_single_file, misleading)
    info = inspect_checkpoint(misleading)
    assert (info.family, info.inpainting, info.unet_in_channels) == ("sd1", True, 9)

    pipe, info = load_single_file(misleading, torch.float32)
    assert type(pipe) is StableDiffusionInpaintPipeline and info.inpainting
    folder = StableDiffusionInpaintPipeline.from_pretrained(tiny_inpaint_dir, use_safetensors=True)
    for p in (pipe, folder):
        p.set_progress_bar_config(disable=True)
    assert np.array_equal(_images(pipe, **_inpaint_inputs()), _images(folder, **_inpaint_inputs()))


@pytest.mark.parametrize("family, inpainting", [v for v in VARIANTS if v[0] != "sd1"])
def test_tiny_sd2_and_sdxl_single_files_load_offline_and_match_the_folder(family, inpainting, tmp_path):
    # conftest sets HF_HUB_OFFLINE=1: configs come from Kiln's bundled folders or nowhere.
    from diffusers import DiffusionPipeline

    built = build_tiny_family_pipeline(family, inpainting=inpainting)
    path = save_original_layout(built, tmp_path / "model.safetensors", family)
    built.save_pretrained(tmp_path / "folder", safe_serialization=True)

    pipe, info = load_single_file(path, torch.float32)
    assert (info.family, info.inpainting) == (family, inpainting)
    assert type(pipe).__name__ == PIPELINES[family, inpainting]
    if family == "sd2":
        assert pipe.scheduler.config.prediction_type == ("epsilon" if inpainting else "v_prediction")
        assert pipe.tokenizer.pad_token == "!"
    else:
        assert (pipe.tokenizer.pad_token, pipe.tokenizer_2.pad_token) == ("<|endoftext|>", "!")
        assert pipe.vae.config.scaling_factor == 0.13025
    folder = DiffusionPipeline.from_pretrained(tmp_path / "folder", use_safetensors=True)
    extra = _inpaint_inputs() if inpainting else {}
    for p in (pipe, folder):
        p.set_progress_bar_config(disable=True)
    assert np.array_equal(_images(pipe, **extra), _images(folder, **extra))


def _fake_checkpoint(path, names):
    from safetensors.torch import save_file

    tensors = {name: torch.zeros(shape) for name, shape in names.items()}
    save_file(tensors, str(path))
    return path


def test_family_detection_from_tensor_names(tmp_path):
    conv_in = {"model.diffusion_model.input_blocks.0.0.weight": (8, 4, 3, 3)}
    open_clip = {"cond_stage_model.model.token_embedding.weight": (4, 2)}
    sd2 = _fake_checkpoint(tmp_path / "a.safetensors", {**conv_in, **open_clip})
    xl = _fake_checkpoint(tmp_path / "b.safetensors", {
        "model.diffusion_model.input_blocks.0.0.weight": (8, 9, 3, 3),
        "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias": (4,),
    })
    assert (inspect_checkpoint(sd2).family, inspect_checkpoint(sd2).inpainting) == ("sd2", False)
    assert (inspect_checkpoint(xl).family, inspect_checkpoint(xl).inpainting) == ("sdxl", True)

    lora = _fake_checkpoint(tmp_path / "lora.safetensors", {"lora_unet_down_blocks_0.alpha": (1,)})
    with pytest.raises(ModelError, match="no UNet weights"):
        inspect_checkpoint(lora)
    unet_only = _fake_checkpoint(tmp_path / "c.safetensors", conv_in)
    with pytest.raises(ModelError, match="no text encoder"):
        inspect_checkpoint(unet_only)


def test_sdxl_refiner_is_refused_with_advice(tmp_path):
    refiner = _fake_checkpoint(tmp_path / "refiner.safetensors", {
        "model.diffusion_model.input_blocks.0.0.weight": (8, 4, 3, 3),
        "conditioner.embedders.0.model.text_projection": (4, 4),
    })
    with pytest.raises(ModelError, match="SDXL refiner.*base model"):
        inspect_checkpoint(refiner)


@pytest.mark.parametrize("family, dropped", [("sd2", "first_stage_model."), ("sdxl", "conditioner.embedders.1.")])
def test_incomplete_sd2_and_sdxl_checkpoints_name_the_missing_tensor(family, dropped, tmp_path):
    # Before the bundled configs these asked the hub; now a file missing a part says which.
    from safetensors.torch import save_file

    pipe = build_tiny_family_pipeline(family)
    text_encoder_2 = pipe.components.get("text_encoder_2")
    state = original_layout_state_dict(pipe.unet, pipe.vae, pipe.text_encoder, text_encoder_2, family)
    path = tmp_path / "part.safetensors"
    save_file({k: v for k, v in state.items() if not k.startswith(dropped)}, str(path))
    name = {"sd2": "Stable Diffusion 2.x", "sdxl": "SDXL"}[family]
    with pytest.raises(ModelError, match=f"This {name} checkpoint is incomplete.*no tensor '{dropped}"):
        load_single_file(path)


def test_incomplete_sd1_checkpoint_is_explained(tmp_path):
    path = _fake_checkpoint(tmp_path / "half.safetensors", {
        "model.diffusion_model.input_blocks.0.0.weight": (8, 4, 3, 3),
        "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": (10, 4),
    })
    with pytest.raises(ModelError, match="Stable Diffusion 1.x checkpoint"):
        load_single_file(path)


def test_sd1_checkpoint_without_vae_names_the_missing_tensor(tiny_single_file, tmp_path):
    from safetensors.torch import load_file, save_file

    state = {k: v for k, v in load_file(str(tiny_single_file)).items() if not k.startswith("first_stage_model.")}
    path = tmp_path / "no-vae.safetensors"
    save_file(state, str(path))
    with pytest.raises(ModelError, match="incomplete.*first_stage_model"):
        load_single_file(path)


def test_fp16_checkpoint_with_real_world_extras_loads(tiny_single_file, tmp_path):
    # Files from model sites also carry the noise-schedule buffers, EMA counters and CLIP's
    # position_ids; diffusers must skip or accept them, and a half-precision file must load.
    from safetensors.torch import load_file, save_file

    state = load_file(str(tiny_single_file))
    state["cond_stage_model.transformer.text_model.embeddings.position_ids"] = torch.arange(77)[None]
    state["alphas_cumprod"] = torch.linspace(1, 0, 1000)
    state["model_ema.num_updates"] = torch.tensor(1, dtype=torch.int32)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    path = tmp_path / "real-world.safetensors"
    save_file(half, str(path))

    pipe, info = load_single_file(path, torch.float32)
    assert info.dtype == "F16" and pipe.unet.dtype == torch.float32
    key = "model.diffusion_model.out.2.weight"
    assert torch.equal(pipe.unet.conv_out.weight, half[key].float())


# --- full size -------------------------------------------------------------------------------------


def _write_random_checkpoint(path, shapes: dict[str, tuple[int, ...]]) -> None:
    """An original-layout fp16 ``.safetensors`` of ``shapes`` holding small random values.

    Values are cut from one pool of normal draws (× 0.02, like an initialisation) at shifting
    offsets and streamed to the file: drawing a billion separate values, or ``save_file`` (which
    holds the tensors and their serialised bytes, 2 × 2 GB), take longer than the test itself.
    """
    pool = (torch.randn(1 << 26, generator=torch.Generator().manual_seed(0)) * 0.02).half()
    header, begin = {"__metadata__": {"format": "pt"}}, 0
    for name, shape in shapes.items():
        end = begin + 2 * math.prod(shape)
        header[name] = {"dtype": "F16", "shape": list(shape), "data_offsets": [begin, end]}
        begin = end
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)  # safetensors pads its header to 8 bytes
    with open(path, "wb") as file:
        file.write(len(raw).to_bytes(8, "little") + raw)
        offset = 0
        for shape in shapes.values():
            count = math.prod(shape)
            values = pool.repeat(1 + count // pool.numel()) if count > pool.numel() else pool
            start = offset % (values.numel() - count + 1)
            file.write(values[start : start + count].numpy().data)
            offset += 7919 + count  # a prime step, so neighbouring tensors do not start alike


def test_full_size_sd15_single_file_loads_offline_and_runs_a_step(tmp_path):
    # A real-size SD1.5 checkpoint (random fp16 weights, ~2.1 GB) through the bundled configs,
    # as a model from a model site would go: load in fp32, one 64×64 step on the CPU.
    started_s = time.perf_counter()
    models = meta_models("sd1", inpainting=False)
    state = original_layout_state_dict(models["unet"], models["vae"], models["text_encoder"])
    shapes = {name: tuple(tensor.shape) for name, tensor in state.items()}
    path = tmp_path / "sd15-random.safetensors"
    _write_random_checkpoint(path, shapes)
    written_s = time.perf_counter()

    pipe, info = load_single_file(path, torch.float32)
    loaded_s = time.perf_counter()
    assert (info.family, info.inpainting, info.dtype, info.tensor_count) == ("sd1", False, "F16", len(shapes))
    assert sum(p.numel() for p in pipe.unet.parameters()) == 859_520_964
    assert pipe.unet.dtype == torch.float32 and pipe.text_encoder.dtype == torch.float32
    pipe.set_progress_bar_config(disable=True)
    image = pipe(
        "a red barn", height=64, width=64, num_inference_steps=1, guidance_scale=1.0, output_type="np",
        generator=torch.Generator("cpu").manual_seed(0),
    ).images
    assert image.shape == (1, 64, 64, 3) and np.isfinite(image).all()
    done_s = time.perf_counter()
    print(
        f"\nfull-size SD1.5: write {written_s - started_s:.1f} s, load {loaded_s - written_s:.1f} s, "
        f"one step {done_s - loaded_s:.1f} s, file {path.stat().st_size / 1e9:.2f} GB"
    )
