"""Architecture rules that keep Kiln headless where it must be and quick to start."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


LINT = "import sys; from importlinter.cli import lint_imports_command as c; sys.exit(c(['--config', 'pyproject.toml', '--no-cache']))"


def _lint(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", LINT], capture_output=True, text=True, cwd=root, timeout=300)


def test_import_linter_contracts_are_kept():
    """inference never imports Qt or gui; each package's layers import only downwards; the
    session imports no widgets (pyproject.toml, [tool.importlinter])."""
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("KEPT") == 5 and "BROKEN" not in done.stdout


def test_the_contracts_catch_a_module_that_breaks_them(tmp_path):
    """A copy of the code with three deliberate breaks: a widget in the session, the core
    reaching up to the command line, and a panel reaching up to the window."""
    for name in ("gui", "inference"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "architecture_contracts.py", tmp_path / "tests")
    (tmp_path / "gui" / "session" / "leak.py").write_text("from PySide6.QtWidgets import QWidget\n")
    (tmp_path / "inference" / "core" / "reach.py").write_text("import inference.cli.generate\n")
    (tmp_path / "gui" / "panels" / "reach.py").write_text("from gui.main_window import MainWindow\n")
    done = _lint(tmp_path)
    assert done.returncode != 0
    report = done.stdout
    assert report.count("BROKEN") == 3 and report.count("KEPT") == 2, report
    assert "gui.session.leak imports what it may not" in report
    assert "inference.core.reach -> inference.cli.generate" in report
    assert "gui.panels.reach -> gui.main_window" in report


def test_running_the_engine_never_imports_qt():
    modules = _modules_after("import inference.engine.engine, inference.cli.generate, inference.models.single_file, inference.models.tiny_model")
    assert not any(m.startswith(("PySide6", "shiboken6")) for m in modules)


def test_request_types_and_image_io_load_without_torch():
    modules = _modules_after("import inference.core.api, inference.files.image_io, inference.files.metadata, inference.engine.schedulers")
    assert "torch" not in modules and "diffusers" not in modules


def test_gui_imports_without_torch():
    modules = _modules_after("import gui.app")
    assert "torch" not in modules and "diffusers" not in modules


def test_the_architecture_map_names_every_sub_package():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    packages = sorted(p.parent.relative_to(ROOT) for p in ROOT.glob("*/*/__init__.py")
                      if p.parts[-3] in ("gui", "inference"))
    assert len(packages) >= 11
    missing = [str(p) for p in packages if f"`{p.name}/`" not in text]
    assert not missing, f"ARCHITECTURE.md does not name {missing}"
    assert "ARCHITECTURE.md" in (ROOT / "README.md").read_text()
