"""Kiln's diffusion side: requests, events, model loading and the engine.

This package never imports Qt and stays light at import time: ``inference.core.api`` and
``inference.core.errors`` need only numpy, so the GUI can build requests before torch is loaded.
Modules that need torch/diffusers (``engine``, ``models``, ``tiny_model``…) import them at
their own top and are imported lazily by the GUI worker and the CLI.
"""

from inference.models.quiet import quiet_import_notices
from inference.restoration_models import torchvision_compat

torchvision_compat.install()  # before anything imports torchvision (spandrel, transformers, peft)
quiet_import_notices()  # before any module here imports diffusers, which logs them while importing transformers
