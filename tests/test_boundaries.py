"""Architecture rules that keep Kiln headless where it must be and quick to start."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_import_linter_contract_keeps_inference_free_of_qt():
    runner = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c(['--config', 'pyproject.toml']))"
    done = subprocess.run([sys.executable, "-c", runner], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "KEPT" in done.stdout and "BROKEN" not in done.stdout


def test_running_the_engine_never_imports_qt():
    modules = _modules_after("import inference.engine.engine, inference.cli.generate, inference.models.single_file, inference.models.tiny_model")
    assert not any(m.startswith(("PySide6", "shiboken6")) for m in modules)


def test_request_types_and_image_io_load_without_torch():
    modules = _modules_after("import inference.core.api, inference.files.image_io, inference.files.metadata, inference.engine.schedulers")
    assert "torch" not in modules and "diffusers" not in modules


def test_gui_imports_without_torch():
    modules = _modules_after("import gui.app")
    assert "torch" not in modules and "diffusers" not in modules
