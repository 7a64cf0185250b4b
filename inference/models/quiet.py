"""Library chatter kept off the terminal, so what Kiln prints (and real errors) stand out.

Two kinds of noise come from the libraries under the engine, in the editor and on the command
line alike: transformers' notices, logged while diffusers imports it, that torchvision is
missing and a Pillow image processor is used instead (Kiln uses no image processor), and the
tqdm bars diffusers and transformers draw while a model loads ("Loading pipeline
components…", "Loading weights"). Errors are never silenced: the notices' logger keeps its
ERROR level, and every other library warning still shows in the editor.
"""

from __future__ import annotations

import logging
import os

# transformers' logger for optional-backend notices (the torchvision fallback is one).
_BACKEND_NOTICES_LOGGER = "transformers.utils.import_utils"
# diffusers warns on every ``model.to(dtype)`` that modules "should be kept in float32", even
# when it lists none (``[]``): single-file loading casts that way.
_MODELING_LOGGER = "diffusers.models.modeling_utils"


def _not_an_empty_fp32_list(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not (message.startswith("There are modules in") and "should be kept in float32: []." in message)


def quiet_import_notices() -> None:
    """Show only errors from transformers' optional-backend notices, and drop diffusers'
    float32 warning when it names no module. Needs no import: the standard logging module
    hands the libraries these same loggers when they are imported later."""
    logging.getLogger(_BACKEND_NOTICES_LOGGER).setLevel(logging.ERROR)
    modeling = logging.getLogger(_MODELING_LOGGER)
    if _not_an_empty_fp32_list not in modeling.filters:
        modeling.addFilter(_not_an_empty_fp32_list)


def quiet_loading_bars() -> None:
    """Turn off the progress bars diffusers and transformers draw while loading or saving a
    model (Kiln shows its own progress). Process-wide; imports both libraries."""
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()


def quiet_libraries() -> None:
    """The command line's setting: library warnings too are left out (only errors), and the hub's
    download bars, so the terminal shows Kiln's own lines."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    quiet_import_notices()
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()
    quiet_loading_bars()
