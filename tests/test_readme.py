"""The README's two commands stay true: CI runs the test command exactly as the README shows it."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_command_as_written():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    test_section = readme.split("## Test it", 1)[1].split("##", 1)[0]
    command = test_section.split("```", 2)[1].strip()
    assert command in ci.splitlines()
    assert "pip install --quiet torch==2.13.0" in ci


def test_readme_documents_every_cli_command_and_flag():
    import main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    parser = main.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command_parser in sub.choices.items():
        assert f"main.py {name}" in readme
        for action in command_parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in readme, f"{name} {flag} is not in the README"
