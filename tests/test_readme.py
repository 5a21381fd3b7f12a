"""The README's two commands are the ones CI and users run."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_starts_with_the_main_job_and_the_test_command():
    commands = _commands()
    assert "neuralnet train" in commands[0] and "pip install ." in commands[0]
    assert "pytest" in commands[1] and '".[test]"' in commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = _commands()[1]
    assert test_command in (ROOT / ".ci" / "run").read_text()
