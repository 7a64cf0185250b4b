"""Shared fixtures: tiny real-architecture models built once per test session, offline."""

from __future__ import annotations

import os

# No test may reach a model hub; set before huggingface_hub / diffusers are imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny SD1.5-architecture diffusers folder (random weights)."""
    from inference.tiny_model import make_test_model

    return make_test_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_inpaint_dir(tmp_path_factory):
    """The 9-channel inpainting variant as a diffusers folder."""
    from inference.tiny_model import make_test_model

    return make_test_model(tmp_path_factory.mktemp("models") / "tiny-inpaint", inpainting=True)


@pytest.fixture(scope="session")
def tiny_single_file(tmp_path_factory):
    """The tiny model as one original-layout .safetensors (same weights as tiny_model_dir)."""
    from inference.tiny_model import make_test_model

    return make_test_model(tmp_path_factory.mktemp("models") / "tiny.safetensors", single_file=True)


@pytest.fixture(scope="session")
def tiny_inpaint_single_file(tmp_path_factory):
    from inference.tiny_model import make_test_model

    path = tmp_path_factory.mktemp("models") / "tiny-inpaint.safetensors"
    return make_test_model(path, inpainting=True, single_file=True)
